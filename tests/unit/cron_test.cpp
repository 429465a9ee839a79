// Cron schedules (engine/cron.hpp): intervals that divide 24 h, 5-field
// expressions in UTC, next/previous tick arithmetic, and clear errors; and
// the Pub/Sub retry backoff.

#include "engine/cron.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "engine/delivery.hpp"

namespace hearth::engine {
namespace {

// 2026-11-23T14:07:30Z
constexpr std::int64_t kNow = 1'795'442'850;
constexpr std::int64_t kMinute = 60, kHour = 3600, kDay = 86'400;

TEST(cron_schedule, intervals_tick_on_multiples_since_midnight_utc) {
  auto s = cron_schedule::parse("every 5m");
  EXPECT_EQ(s.previous(kNow), kNow - 150);  // 14:05:00
  EXPECT_EQ(s.next(kNow), kNow + 150);      // 14:10:00
  EXPECT_EQ(s.next(s.next(kNow)), kNow + 450);
  EXPECT_EQ(s.previous(kNow - 150), kNow - 150);  // a tick is its own previous
  auto seconds = cron_schedule::parse("every 2s");
  EXPECT_EQ(seconds.next(kNow), kNow + 2);
  EXPECT_EQ(cron_schedule::parse("every 6h").next(kNow), kNow - kNow % kDay + 18 * kHour);
}

TEST(cron_schedule, intervals_must_divide_a_day) {
  for (const char* bad : {"every 7m", "every 0s", "every 5d", "every m", "every 25h", "every -5m"})
    EXPECT_THROW(cron_schedule::parse(bad), std::invalid_argument) << bad;
}

TEST(cron_schedule, cron_expressions_match_fields_in_utc) {
  auto every_quarter = cron_schedule::parse("*/15 * * * *");
  EXPECT_EQ(every_quarter.next(kNow), kNow - 450 + 15 * kMinute);  // 14:15
  EXPECT_EQ(every_quarter.previous(kNow), kNow - 450);             // 14:00
  auto nightly = cron_schedule::parse("5 0 * * *");
  const auto midnight = kNow - kNow % kDay;
  EXPECT_EQ(nightly.next(kNow), midnight + kDay + 5 * kMinute);
  EXPECT_EQ(nightly.previous(kNow), midnight + 5 * kMinute);
  // 2026-11-23 is a Monday: weekdays 1-5 at 09:30 → Tuesday 09:30.
  auto workdays = cron_schedule::parse("30 9 * * 1-5");
  EXPECT_EQ(workdays.next(kNow), midnight + kDay + 9 * kHour + 30 * kMinute);
  // Sundays (0 or 7) at noon → 2026-11-29.
  EXPECT_EQ(cron_schedule::parse("0 12 * * 7").next(kNow), midnight + 6 * kDay + 12 * kHour);
  // Lists and ranges with steps.
  auto odd = cron_schedule::parse("0 1-23/2,0 * * *");
  EXPECT_EQ(odd.next(kNow), midnight + 15 * kHour);
  // Day of month or day of week when both are restricted (Vixie cron).
  auto either = cron_schedule::parse("0 0 1 * 2");  // the 1st, or any Tuesday
  EXPECT_EQ(either.next(kNow), midnight + kDay);
  // "*/n" in a day field counts as unrestricted: both day fields must match
  // (every other day of the month that is a Tuesday): 2026-12-01 is odd.
  EXPECT_EQ(cron_schedule::parse("0 0 */2 * 2").next(kNow), midnight + 8 * kDay);
  // "a/n" runs to the end of the range: 5/20 = minutes 5, 25, 45.
  EXPECT_EQ(cron_schedule::parse("5/20 * * * *").next(kNow), kNow - 450 + 25 * kMinute);
}

// Found by fuzz/cron.cpp: the search went minute by minute, so a schedule
// that fires once in four years took two million steps per call (parse()
// itself calls next()). It now skips days and hours that cannot match, with
// the same answers.
TEST(cron_schedule, rare_schedules_are_found_years_ahead) {
  const std::int64_t leap_day = 1'835'395'200;  // 2028-02-29T00:00:00Z
  auto leap = cron_schedule::parse("0 0 29 2 *");
  EXPECT_EQ(leap.next(kNow), leap_day);
  EXPECT_EQ(leap.next(leap_day), leap_day + 1461 * kDay);  // 2032-02-29
  EXPECT_EQ(leap.previous(leap_day + kDay + 5, 2 * kDay), leap_day);
  EXPECT_EQ(leap.previous(leap_day - 1, 300 * kDay), -1);
  // Sunday 23:30 seen from Monday 14:07:30: back across the day boundary.
  const auto midnight = kNow - kNow % kDay;
  auto sunday_night = cron_schedule::parse("30 23 * * 0");
  EXPECT_EQ(sunday_night.previous(kNow), midnight - 30 * kMinute);
  EXPECT_EQ(sunday_night.next(kNow), midnight + 6 * kDay + 23 * kHour + 30 * kMinute);
  // Minutes within a matching hour of a matching day.
  auto late = cron_schedule::parse("58 14 23 11 *");
  EXPECT_EQ(late.next(kNow), midnight + 14 * kHour + 58 * kMinute);
  EXPECT_EQ(late.previous(kNow), -1);
}

TEST(cron_schedule, bad_expressions_name_the_problem) {
  for (const char* bad :
       {"* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
        "*/0 * * * *", "*/2147483647 * * * *", "a * * * *", "5-1 * * * *", "0 0 31 2 *"}) {
    try {
      cron_schedule::parse(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_GT(std::string(e.what()).size(), 10u) << bad;
    }
  }
}

TEST(retry_backoff, doubles_from_the_minimum_up_to_the_maximum) {
  subscription_options o;
  o.min_backoff = std::chrono::milliseconds(100);
  o.max_backoff = std::chrono::milliseconds(700);
  EXPECT_EQ(engine::retry_backoff(o, 1).count(), 100);
  EXPECT_EQ(engine::retry_backoff(o, 2).count(), 200);
  EXPECT_EQ(engine::retry_backoff(o, 3).count(), 400);
  EXPECT_EQ(engine::retry_backoff(o, 4).count(), 700);
  EXPECT_EQ(engine::retry_backoff(o, 40).count(), 700);
}

}  // namespace
}  // namespace hearth::engine
