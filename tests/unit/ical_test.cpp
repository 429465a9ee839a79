// apps/calendar/ical.hpp: the feed writer (escaping, folding, dates) and
// the reader of subscribed calendars (libical), by RFC 5545's rules.

#include "apps/calendar/ical.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace hearth::apps::calendar {
namespace {

// The physical lines of a folded text (without their CRLF); fails on a bare
// LF or CR.
std::vector<std::string> physical_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto crlf = text.find("\r\n", pos);
    EXPECT_NE(crlf, std::string::npos) << "unterminated line at " << pos;
    if (crlf == std::string::npos) break;
    auto l = text.substr(pos, crlf - pos);
    EXPECT_EQ(l.find_first_of("\r\n"), std::string::npos) << "bare CR or LF in " << l;
    out.push_back(l);
    pos = crlf + 2;
  }
  return out;
}

// RFC 5545 §3.1 unfolding.
std::string unfold(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\r\n ") == 0) {
      i += 2;
      continue;
    }
    out += text[i];
  }
  return out;
}

TEST(ical, escapes_text_values) {
  EXPECT_EQ(escape_text("plain text"), "plain text");
  EXPECT_EQ(escape_text("a\\b;c,d"), "a\\\\b\\;c\\,d");
  EXPECT_EQ(escape_text("one\ntwo\r\nthree\rfour"), "one\\ntwo\\nthree\\nfour");
  EXPECT_EQ(escape_text(std::string("tab\there\x01\x1f\x7f!")), "tab\there!");
  EXPECT_EQ(escape_text("Fête: 🎉"), "Fête: 🎉");
}

TEST(ical, folds_lines_at_75_octets_without_splitting_characters) {
  EXPECT_EQ(fold_line("SUMMARY:short"), "SUMMARY:short\r\n");
  std::string exactly(75, 'x');
  EXPECT_EQ(fold_line(exactly), exactly + "\r\n");
  for (const std::string& unit : {std::string("a"), std::string("é"), std::string("€"),
                                  std::string("🎉"), std::string("aé€🎉")}) {
    std::string line = "DESCRIPTION:";
    for (int i = 0; i < 120; ++i) line += unit;
    auto folded = fold_line(line);
    auto lines = physical_lines(folded);
    ASSERT_GT(lines.size(), 1u);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      EXPECT_LE(lines[i].size(), 75u) << unit;
      if (i > 0) {
        ASSERT_FALSE(lines[i].empty());
        EXPECT_EQ(lines[i][0], ' ');
        // The continuation's first octet is not inside a UTF-8 sequence.
        ASSERT_GT(lines[i].size(), 1u);
        EXPECT_NE(static_cast<unsigned char>(lines[i][1]) & 0xC0, 0x80) << unit;
      }
    }
    EXPECT_EQ(unfold(folded), line + "\r\n") << unit;
  }
}

TEST(ical, formats_dates_and_times) {
  EXPECT_EQ(basic_utc("2026-01-02T03:04:05.123456Z"), "20260102T030405Z");
  EXPECT_EQ(basic_utc("2026-01-02T03:04:05Z"), "20260102T030405Z");
  EXPECT_THROW(basic_utc("2026-01-02 03:04:05"), std::invalid_argument);
  EXPECT_EQ(basic_date("2026-03-01"), "20260301");
  EXPECT_THROW(basic_date("2026-3-1"), std::invalid_argument);
  EXPECT_EQ(add_days("2026-12-31", 1), "2027-01-01");
  EXPECT_EQ(add_days("2028-02-28", 1), "2028-02-29");
  EXPECT_EQ(add_days("2026-03-01", -1), "2026-02-28");
}

TEST(ical, all_day_events_span_whole_days_with_an_exclusive_end) {
  using p = std::pair<std::string, std::string>;
  EXPECT_EQ(all_day_dates("2026-03-01T00:00:00.000000Z", "2026-03-08T00:00:00.000000Z"),
            (p{"2026-03-01", "2026-03-08"}));
  EXPECT_EQ(all_day_dates("2026-03-01T00:00:00.000000Z", "2026-03-01T00:00:00.000000Z"),
            (p{"2026-03-01", "2026-03-02"}));
  EXPECT_EQ(all_day_dates("2026-03-01T00:00:00.000000Z", "2026-03-01T23:59:59.000000Z"),
            (p{"2026-03-01", "2026-03-02"}));
  EXPECT_EQ(all_day_dates("2026-03-01T10:00:00.000000Z", "2026-03-03T00:00:00.000001Z"),
            (p{"2026-03-01", "2026-03-04"}));
}

TEST(ical, writes_a_calendar_of_crlf_lines) {
  ics_event timed{.uid = "a@hearth",
                  .summary = "Dentist; bring card, \\ and more",
                  .description = "line 1\nline 2",
                  .start = "2026-03-01T10:00:00.000000Z",
                  .end = "2026-03-01T11:30:00.000000Z",
                  .stamp = "2026-02-01T08:00:00.123456Z",
                  .created = "2026-02-01T07:00:00.000000Z"};
  ics_event day{.uid = "b@hearth",
                .summary = "Holiday",
                .all_day = true,
                .start = "2026-03-05",
                .end = "2026-03-06",
                .stamp = "2026-02-01T08:00:00.000000Z"};
  auto text = write_calendar("Home, sweet", {timed, day});
  auto lines = physical_lines(text);
  ASSERT_GE(lines.size(), 10u);
  EXPECT_EQ(lines.front(), "BEGIN:VCALENDAR");
  EXPECT_EQ(lines.back(), "END:VCALENDAR");
  auto has = [&](const std::string& l) {
    return std::find(lines.begin(), lines.end(), l) != lines.end();
  };
  EXPECT_TRUE(has("VERSION:2.0"));
  EXPECT_TRUE(has("X-WR-CALNAME:Home\\, sweet"));
  EXPECT_TRUE(has("UID:a@hearth"));
  EXPECT_TRUE(has("DTSTAMP:20260201T080000Z"));
  EXPECT_TRUE(has("DTSTART:20260301T100000Z"));
  EXPECT_TRUE(has("DTEND:20260301T113000Z"));
  EXPECT_TRUE(has("SUMMARY:Dentist\\; bring card\\, \\\\ and more"));
  EXPECT_TRUE(has("DESCRIPTION:line 1\\nline 2"));
  EXPECT_TRUE(has("DTSTART;VALUE=DATE:20260305"));
  EXPECT_TRUE(has("DTEND;VALUE=DATE:20260306"));
  EXPECT_FALSE(has("DESCRIPTION:"));  // none for the empty one
}

TEST(ical, what_it_writes_it_reads_back) {
  std::vector<ics_event> events = {{.uid = "a@hearth",
                                    .summary = "Fête, \"quoted\"; with \\ backslash",
                                    .description = std::string(300, 'd') + "\n🎉 done",
                                    .start = "2026-03-01T10:00:00.000000Z",
                                    .end = "2026-03-01T11:30:00.000000Z",
                                    .stamp = "2026-02-01T08:00:00.000000Z"},
                                   {.uid = "b@hearth",
                                    .summary = "Trip",
                                    .all_day = true,
                                    .start = "2026-03-10",
                                    .end = "2026-03-13",
                                    .stamp = "2026-02-01T08:00:00.000000Z"}};
  auto cal = read_calendar(write_calendar("Home", events), {.now_unix = 1'772'000'000});
  EXPECT_EQ(cal.name, "Home");
  ASSERT_EQ(cal.events.size(), 2u);
  EXPECT_EQ(cal.events[0].key, "a@hearth");
  EXPECT_EQ(cal.events[0].name, events[0].summary);
  EXPECT_EQ(cal.events[0].details, events[0].description);
  EXPECT_EQ(cal.events[0].starts_at, "2026-03-01T10:00:00.000000Z");
  EXPECT_EQ(cal.events[0].ends_at, "2026-03-01T11:30:00.000000Z");
  EXPECT_FALSE(cal.events[0].all_day);
  EXPECT_EQ(cal.events[1].starts_at, "2026-03-10T00:00:00.000000Z");
  EXPECT_EQ(cal.events[1].ends_at, "2026-03-13T00:00:00.000000Z");
  EXPECT_TRUE(cal.events[1].all_day);
}

// 2026-03-01T00:00:00Z.
constexpr std::int64_t kMarch1 = 1'772'323'200;

TEST(ical, reads_zones_durations_dates_and_recurrences) {
  const std::string text =
      "BEGIN:VCALENDAR\r\n"
      "VERSION:2.0\r\n"
      "PRODID:-//test//EN\r\n"
      "X-WR-CALNAME:Family\r\n"
      "BEGIN:VTIMEZONE\r\n"
      "TZID:Europe/Paris\r\n"
      "BEGIN:STANDARD\r\n"
      "DTSTART:19701025T030000\r\n"
      "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
      "TZOFFSETFROM:+0200\r\n"
      "TZOFFSETTO:+0100\r\n"
      "END:STANDARD\r\n"
      "BEGIN:DAYLIGHT\r\n"
      "DTSTART:19700329T020000\r\n"
      "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
      "TZOFFSETFROM:+0100\r\n"
      "TZOFFSETTO:+0200\r\n"
      "END:DAYLIGHT\r\n"
      "END:VTIMEZONE\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:zoned\r\n"
      "DTSTART;TZID=Europe/Paris:20260301T100000\r\n"
      "DTEND;TZID=Europe/Paris:20260301T113000\r\n"
      "SUMMARY:Lunch\\, with Bob\\; maybe\r\n"
      "DESCRIPTION:Bring\\nwine\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:summer\r\n"
      "DTSTART;TZID=Europe/Paris:20260701T100000\r\n"
      "DURATION:PT45M\r\n"
      "SUMMARY:Summer time\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:day\r\n"
      "DTSTART;VALUE=DATE:20260305\r\n"
      "SUMMARY:One day\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:weekly\r\n"
      "DTSTART:20260302T180000Z\r\n"
      "DTEND:20260302T190000Z\r\n"
      "RRULE:FREQ=WEEKLY;COUNT=4\r\n"
      "EXDATE:20260309T180000Z\r\n"
      "SUMMARY:Choir\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:weekly\r\n"
      "RECURRENCE-ID:20260316T180000Z\r\n"
      "DTSTART:20260316T200000Z\r\n"
      "DTEND:20260316T210000Z\r\n"
      "SUMMARY:Choir (late)\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "DTSTART:20260302T180000Z\r\n"
      "SUMMARY:No UID: skipped\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:untitled\r\n"
      "DTSTART:20260304T080000Z\r\n"
      "END:VEVENT\r\n"
      "END:VCALENDAR\r\n";
  auto cal = read_calendar(text, {.now_unix = kMarch1});
  EXPECT_EQ(cal.name, "Family");
  EXPECT_EQ(cal.skipped, 1u);
  std::map<std::string, imported_event> by_key;
  for (const auto& e : cal.events) by_key[e.key] = e;
  ASSERT_EQ(by_key.size(), cal.events.size());
  std::vector<std::string> keys;
  for (const auto& [k, e] : by_key) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"day", "summer", "untitled", "weekly/20260302T180000Z",
                                            "weekly/20260316T180000Z", "weekly/20260323T180000Z",
                                            "zoned"}));
  const auto& zoned = by_key.at("zoned");
  EXPECT_EQ(zoned.name, "Lunch, with Bob; maybe");
  EXPECT_EQ(zoned.details, "Bring\nwine");
  EXPECT_EQ(zoned.starts_at, "2026-03-01T09:00:00.000000Z");  // CET, UTC+1
  EXPECT_EQ(zoned.ends_at, "2026-03-01T10:30:00.000000Z");
  EXPECT_FALSE(zoned.all_day);
  const auto& summer = by_key.at("summer");
  EXPECT_EQ(summer.starts_at, "2026-07-01T08:00:00.000000Z");  // CEST, UTC+2
  EXPECT_EQ(summer.ends_at, "2026-07-01T08:45:00.000000Z");
  const auto& day = by_key.at("day");
  EXPECT_TRUE(day.all_day);
  EXPECT_EQ(day.starts_at, "2026-03-05T00:00:00.000000Z");
  EXPECT_EQ(day.ends_at, "2026-03-06T00:00:00.000000Z");
  EXPECT_EQ(by_key.at("untitled").name, "(no title)");
  EXPECT_EQ(by_key.at("untitled").ends_at, by_key.at("untitled").starts_at);
  EXPECT_EQ(by_key.at("weekly/20260323T180000Z").starts_at, "2026-03-23T18:00:00.000000Z");
  EXPECT_EQ(by_key.at("weekly/20260323T180000Z").ends_at, "2026-03-23T19:00:00.000000Z");
  const auto& late = by_key.at("weekly/20260316T180000Z");
  EXPECT_EQ(late.name, "Choir (late)");
  EXPECT_EQ(late.starts_at, "2026-03-16T20:00:00.000000Z");
}

TEST(ical, expands_endless_rules_within_the_window_only) {
  const std::string text =
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
      "BEGIN:VEVENT\r\nUID:daily\r\nDTSTART;VALUE=DATE:20200101\r\n"
      "RRULE:FREQ=DAILY\r\nSUMMARY:Every day\r\nEND:VEVENT\r\n"
      "END:VCALENDAR\r\n";
  read_limits limits{.now_unix = kMarch1, .past_days = 2, .future_days = 3};
  auto cal = read_calendar(text, limits);
  std::vector<std::string> keys;
  for (const auto& e : cal.events) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"daily/20260227", "daily/20260228", "daily/20260301",
                                            "daily/20260302", "daily/20260303", "daily/20260304"}));
  limits.max_occurrences = 2;
  EXPECT_EQ(read_calendar(text, limits).events.size(), 2u);
}

TEST(ical, refuses_what_is_not_icalendar) {
  EXPECT_THROW(read_calendar("status 500", {}), std::invalid_argument);
  EXPECT_THROW(read_calendar("", {}), std::invalid_argument);
  EXPECT_THROW(read_calendar("<html><body>Not found</body></html>", {}), std::invalid_argument);
}

}  // namespace
}  // namespace hearth::apps::calendar
