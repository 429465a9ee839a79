// Fuzzes the cron schedule parser (engine/cron.hpp: "every <n>s|m|h" or a
// 5-field cron expression), used for the engine's jobs and the
// sessionExpirySchedule and uptimeCheckSchedule settings.
//
// Invariants: only std::invalid_argument is thrown; a parsed schedule keeps
// its text; from a few fixed times, an interval's next tick is within a day
// and previous() finds it and nothing between; a cron expression's next() is
// a scheduled minute within four years (or -1), and previous() agrees: it
// finds that minute and none before it (none at all when next() found none).

#include "engine/cron.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using hearth::engine::cron_schedule;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<cron_schedule> s;
  try {
    s = cron_schedule::parse(text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  FUZZ_CHECK(s->text() == text);
  const bool interval = text.substr(0, 6) == "every ";
  // 1970-01-01, 2026-03-29 01:30:17 (a Sunday), 2028-02-29 23:59:59 (leap day).
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{1774747817}, std::int64_t{1835481599}}) {
    auto next = s->next(t);
    if (interval) {  // ticks every n seconds, n dividing a day
      FUZZ_CHECK(next > t && next - t <= 86'400);
      FUZZ_CHECK(s->previous(next) == next && s->previous(next - 1) <= t);
      FUZZ_CHECK(s->next(next) > next);
      continue;
    }
    // A cron expression: next() looks at the minutes from `first` up to
    // four years ahead; previous() must agree on them.
    const std::int64_t first = (t / 60 + 1) * 60, last = first + 4 * 366 * 86'400 - 60;
    if (next < 0) {
      FUZZ_CHECK(next == -1);
      FUZZ_CHECK(s->previous(last, last - first) == -1);
      continue;
    }
    FUZZ_CHECK(next >= first && next <= last && next % 60 == 0);
    FUZZ_CHECK(s->previous(next, 0) == next);
    FUZZ_CHECK(next == first || s->previous(next - 1, next - 1 - first) == -1);
    auto after = s->next(next);
    FUZZ_CHECK(after == -1 || after > next);
  }
  return 0;
}
