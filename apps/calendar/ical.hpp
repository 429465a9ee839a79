#pragma once
// iCalendar (RFC 5545) for apps/calendar: writing a household's feed (our
// own output formatting) and reading a subscribed calendar (parsed by
// libical, never by hand).
//
// Writing: VCALENDAR 2.0 with one VEVENT per event; content lines end in
// CRLF and are folded at 75 octets (§3.1, never inside a UTF-8 sequence);
// TEXT values escape backslash, ';', ',' and newlines (§3.3.11) and drop
// the other control characters, which TEXT may not hold; times are UTC
// (§3.3.5 form 2, "20260102T030405Z"); all-day events are
// DTSTART;VALUE=DATE with an exclusive DTEND;VALUE=DATE (§3.6.1).

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::apps::calendar {

/// One VEVENT of a feed.
struct ics_event {
  std::string uid;          // "<row id>@hearth"
  std::string summary;      // any UTF-8 text
  std::string description;  // "" = no DESCRIPTION
  bool all_day = false;
  /// all_day: dates "YYYY-MM-DD", `end` exclusive (the day after the last);
  /// otherwise hearth UTC times "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (the
  /// fraction is dropped: iCalendar has whole seconds).
  std::string start, end;
  std::string stamp;    // DTSTAMP and LAST-MODIFIED: a hearth UTC time (the row's `updated`)
  std::string created;  // CREATED: a hearth UTC time; "" = none
};

/// RFC 5545 §3.3.11 TEXT: `\` `;` `,` escaped, CRLF / LF / CR as `\n`,
/// other control characters (but TAB) dropped.
std::string escape_text(std::string_view text);

/// One content line (without its line break) folded (§3.1): at most 75
/// octets per physical line, continuation lines starting with one space,
/// each line ending in CRLF; a multi-byte UTF-8 character is never split.
std::string fold_line(std::string_view line);

/// "2026-01-02T03:04:05.123456Z" → "20260102T030405Z". Throws
/// std::invalid_argument when `hearth_time` is not of that form.
std::string basic_utc(std::string_view hearth_time);

/// "2026-01-02" → "20260102". Throws std::invalid_argument otherwise.
std::string basic_date(std::string_view iso_date);

/// The date `days` days after "YYYY-MM-DD" (negative: before).
std::string add_days(std::string_view iso_date, int days);

/// The dates of an all-day CalendarEvent stored as UTC times: the first
/// day is startsAt's UTC date; the exclusive end is endsAt's date when
/// endsAt is exactly midnight, else the day after it, and at least the day
/// after the first (so 2026-03-01T00:00Z..2026-03-08T00:00Z is seven days,
/// and an event with endsAt = startsAt is one day).
std::pair<std::string, std::string> all_day_dates(std::string_view starts_at,
                                                  std::string_view ends_at);

/// The whole VCALENDAR: PRODID -//hearth//calendar feed//EN, METHOD:PUBLISH,
/// X-WR-CALNAME `name`, the events in the given order.
std::string write_calendar(std::string_view name, const std::vector<ics_event>& events);

/// One event read from a subscribed calendar, in the form of a
/// CalendarEvent row.
struct imported_event {
  /// The event's key in its calendar: UID; for an occurrence of a
  /// recurring event or an overridden one, UID + "/" + the occurrence's
  /// start (RECURRENCE-ID) as basic UTC or date.
  std::string key;
  std::string name;                // SUMMARY, cut to 200 bytes; "(no title)" when empty
  std::string details;             // DESCRIPTION, cut to 10 000 bytes
  std::string starts_at, ends_at;  // "YYYY-MM-DDTHH:MM:SS.000000Z"; all-day: midnight UTC
  bool all_day = false;
};

/// What a subscribed calendar holds.
struct parsed_calendar {
  std::string name;  // X-WR-CALNAME, "" when absent
  std::vector<imported_event> events;
  std::size_t skipped = 0;  // VEVENTs without UID or DTSTART, or beyond the limits
};

/// Limits of read_calendar.
struct read_limits {
  /// Recurring events (RRULE) are expanded to their occurrences that start
  /// in [now - past_days, now + future_days]; RDATE is not read.
  std::int64_t now_unix = 0;
  int past_days = 31;
  int future_days = 366;
  std::size_t max_occurrences = 500;  // per recurring event
  std::size_t max_events = 5000;      // per calendar
};

/// Parses `text` with libical. Times with a TZID are converted to UTC with
/// the calendar's VTIMEZONE (or libical's built-in zone of that name);
/// floating times are taken as UTC. A missing DTEND is DTSTART + DURATION,
/// else one day for a date, else DTSTART. Throws std::invalid_argument when
/// `text` is not an iCalendar object.
parsed_calendar read_calendar(std::string_view text, const read_limits& limits);

}  // namespace hearth::apps::calendar
