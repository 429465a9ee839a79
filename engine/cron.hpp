#pragma once
// Cron schedules in UTC, as Encore declares them: either an interval
// ("every 30s", "every 5m", "every 2h"; it must divide 24 h so every day has
// the same ticks) or a classic 5-field cron expression
// ("minute hour day-of-month month day-of-week", with *, lists a,b, ranges
// a-b and steps */n or a-b/n; day-of-week 0-6 with 0 = Sunday, 7 also
// Sunday; when both day fields are restricted, either may match, as in
// Vixie cron). Times are seconds since the Unix epoch; a tick is identified
// by its scheduled time.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::engine {

class cron_schedule {
 public:
  /// Parses `text`; throws std::invalid_argument naming the problem.
  static cron_schedule parse(std::string_view text);

  /// The first scheduled time strictly after `t`, looking at most four
  /// years (4 x 366 days) ahead; -1 when there is none (a schedule such as
  /// "0 0 1 1 0", 1 January on a Sunday, can skip more than that).
  std::int64_t next(std::int64_t t) const;
  /// The last scheduled time at or before `t`, searching back at most
  /// `horizon` seconds; -1 when there is none within it.
  std::int64_t previous(std::int64_t t, std::int64_t horizon = 86'400) const;

  /// The text it was parsed from.
  const std::string& text() const { return text_; }

 private:
  bool matches_day(std::int64_t day_start) const;  // month and day fields
  std::string text_;
  std::int64_t every_ = 0;  // seconds; 0 = a cron expression
  std::vector<bool> minute_, hour_, mday_, month_, wday_;
  bool mday_any_ = true, wday_any_ = true;
};

}  // namespace hearth::engine
