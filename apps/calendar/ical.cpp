#include "apps/calendar/ical.hpp"

#include <fmt/format.h>
#include <libical/ical.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

namespace hearth::apps::calendar {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

bool is_iso_date(std::string_view d) {
  return d.size() == 10 && digits(d, 0, 4) && d[4] == '-' && digits(d, 5, 2) && d[7] == '-' &&
         digits(d, 8, 2);
}

std::chrono::sys_days parse_date(std::string_view d) {
  if (!is_iso_date(d)) throw std::invalid_argument(fmt::format("not a date: {}", d));
  auto num = [&](std::size_t pos, std::size_t n) {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (d[i] - '0');
    return v;
  };
  std::chrono::year_month_day ymd{std::chrono::year{num(0, 4)},
                                  std::chrono::month{static_cast<unsigned>(num(5, 2))},
                                  std::chrono::day{static_cast<unsigned>(num(8, 2))}};
  if (!ymd.ok()) throw std::invalid_argument(fmt::format("not a date: {}", d));
  return std::chrono::sys_days{ymd};
}

std::string format_date(std::chrono::sys_days day) {
  std::chrono::year_month_day ymd{day};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

// "name:value" or "name;params:value" as folded lines.
void line(std::string& out, std::string_view name_and_params, std::string_view value) {
  std::string l(name_and_params);
  l += ':';
  l += value;
  out += fold_line(l);
}

// The longest prefix of `s` of at most `max` bytes that does not end inside
// a UTF-8 sequence.
std::string cut_utf8(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s;
}

std::string utc_text(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// --- reading, with libical -------------------------------------------------

struct component_deleter {
  void operator()(icalcomponent* c) const { icalcomponent_free(c); }
};
using component_ptr = std::unique_ptr<icalcomponent, component_deleter>;

struct iterator_deleter {
  void operator()(icalrecur_iterator* i) const { icalrecur_iterator_free(i); }
};

// Seconds since the epoch of `t`: in its zone, or UTC when floating. A date
// is its midnight UTC (all-day events are stored so).
std::time_t unix_of(const icaltimetype& t) {
  if (t.is_date) {
    icaltimetype midnight = t;
    midnight.is_date = 0;
    midnight.hour = midnight.minute = midnight.second = 0;
    return icaltime_as_timet_with_zone(midnight, icaltimezone_get_utc_timezone());
  }
  return icaltime_as_timet_with_zone(t, t.zone ? t.zone : icaltimezone_get_utc_timezone());
}

// The part of a key naming an occurrence: "20260301" or "20260301T100000Z".
std::string occurrence_key(const icaltimetype& t) {
  if (t.is_date) return fmt::format("{:04}{:02}{:02}", t.year, t.month, t.day);
  return basic_utc(utc_text(unix_of(t)));
}

// A date-time property's value with its TZID resolved against the
// calendar's VTIMEZONEs (or libical's built-in zones).
icaltimetype time_of(icalproperty* p, icalcomponent* event) {
  return p ? icalproperty_get_datetime_with_component(p, event) : icaltime_null_time();
}

struct span {
  icaltimetype start;
  std::time_t seconds = 0;  // timed events
  long days = 0;            // all-day events
};

// DTSTART, and how long the event lasts (DTEND, else DURATION, else a day
// for a date, else nothing).
std::optional<span> span_of(icalcomponent* ev) {
  span s;
  s.start = time_of(icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY), ev);
  if (icaltime_is_null_time(s.start) || !icaltime_is_valid_time(s.start)) return std::nullopt;
  const std::time_t start = unix_of(s.start);
  std::time_t end = start;
  if (auto* p = icalcomponent_get_first_property(ev, ICAL_DTEND_PROPERTY)) {
    auto e = time_of(p, ev);
    if (!icaltime_is_null_time(e)) end = unix_of(e);
  } else if (auto* d = icalcomponent_get_first_property(ev, ICAL_DURATION_PROPERTY)) {
    end = start + icaldurationtype_as_int(icalproperty_get_duration(d));
  } else if (s.start.is_date) {
    end = start + 86'400;
  }
  if (end < start) end = start;
  if (s.start.is_date) {
    s.days = static_cast<long>((end - start + 86'399) / 86'400);
    if (s.days < 1) s.days = 1;
  } else {
    s.seconds = end - start;
  }
  return s;
}

imported_event make_event(icalcomponent* ev, std::string key, const icaltimetype& start,
                          const span& s) {
  imported_event e;
  e.key = std::move(key);
  const char* summary = icalcomponent_get_summary(ev);
  e.name = cut_utf8(summary ? summary : "", 200);
  if (e.name.empty()) e.name = "(no title)";
  const char* description = icalcomponent_get_description(ev);
  e.details = cut_utf8(description ? description : "", 10'000);
  e.all_day = start.is_date != 0;
  const std::time_t begin = unix_of(start);
  e.starts_at = utc_text(begin);
  e.ends_at = utc_text(e.all_day ? begin + s.days * 86'400 : begin + s.seconds);
  return e;
}

void init_libical() {
  static std::once_flag once;
  // Errors are results (null times, null components), never an abort.
  std::call_once(once, [] { icalerror_set_errors_are_fatal(0); });
}

}  // namespace

std::string escape_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case ';':
        out += "\\;";
        break;
      case ',':
        out += "\\,";
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        out += "\\n";
        break;
      case '\n':
        out += "\\n";
        break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7F) break;  // CONTROL is not TEXT
        out += c;
      }
    }
  }
  return out;
}

std::string fold_line(std::string_view l) {
  std::string out;
  out.reserve(l.size() + l.size() / 37 + 2);
  std::size_t pos = 0, limit = 75;  // the first line 75 octets, then " " + 74
  while (l.size() - pos > limit) {
    std::size_t cut = pos + limit;
    while (cut > pos && (static_cast<unsigned char>(l[cut]) & 0xC0) == 0x80) --cut;
    out.append(l.substr(pos, cut - pos));
    out += "\r\n ";
    pos = cut;
    limit = 74;
  }
  out.append(l.substr(pos));
  out += "\r\n";
  return out;
}

std::string basic_utc(std::string_view t) {
  if (t.size() < 20 || !is_iso_date(t.substr(0, 10)) || t[10] != 'T' || !digits(t, 11, 2) ||
      t[13] != ':' || !digits(t, 14, 2) || t[16] != ':' || !digits(t, 17, 2) || t.back() != 'Z')
    throw std::invalid_argument(fmt::format("not a hearth UTC time: {}", t));
  std::string out;
  out.reserve(16);
  out.append(t.substr(0, 4)).append(t.substr(5, 2)).append(t.substr(8, 2));
  out += 'T';
  out.append(t.substr(11, 2)).append(t.substr(14, 2)).append(t.substr(17, 2));
  out += 'Z';
  return out;
}

std::string basic_date(std::string_view d) {
  if (!is_iso_date(d)) throw std::invalid_argument(fmt::format("not a date: {}", d));
  return std::string(d.substr(0, 4)) + std::string(d.substr(5, 2)) + std::string(d.substr(8, 2));
}

std::string add_days(std::string_view iso_date, int days) {
  return format_date(parse_date(iso_date) + std::chrono::days{days});
}

std::pair<std::string, std::string> all_day_dates(std::string_view starts_at,
                                                  std::string_view ends_at) {
  auto first = std::string(starts_at.substr(0, 10));
  auto last = std::string(ends_at.substr(0, 10));
  // Midnight exactly: "HH:MM:SS" zero and any fraction zero.
  bool midnight = ends_at.size() >= 20 && ends_at.substr(11, 8) == "00:00:00" &&
                  ends_at.substr(19).find_first_not_of(".0Z") == std::string_view::npos;
  auto end = midnight ? last : add_days(last, 1);
  if (end <= first) end = add_days(first, 1);
  return {first, end};
}

std::string write_calendar(std::string_view name, const std::vector<ics_event>& events) {
  std::string out;
  out.reserve(256 + events.size() * 320);
  line(out, "BEGIN", "VCALENDAR");
  line(out, "VERSION", "2.0");
  line(out, "PRODID", "-//hearth//calendar feed//EN");
  line(out, "CALSCALE", "GREGORIAN");
  line(out, "METHOD", "PUBLISH");
  if (!name.empty()) line(out, "X-WR-CALNAME", escape_text(name));
  for (const auto& e : events) {
    line(out, "BEGIN", "VEVENT");
    line(out, "UID", escape_text(e.uid));
    line(out, "DTSTAMP", basic_utc(e.stamp));
    if (!e.created.empty()) line(out, "CREATED", basic_utc(e.created));
    line(out, "LAST-MODIFIED", basic_utc(e.stamp));
    if (e.all_day) {
      line(out, "DTSTART;VALUE=DATE", basic_date(e.start));
      line(out, "DTEND;VALUE=DATE", basic_date(e.end));
    } else {
      line(out, "DTSTART", basic_utc(e.start));
      line(out, "DTEND", basic_utc(e.end));
    }
    line(out, "SUMMARY", escape_text(e.summary));
    if (!e.description.empty()) line(out, "DESCRIPTION", escape_text(e.description));
    line(out, "END", "VEVENT");
  }
  line(out, "END", "VCALENDAR");
  return out;
}

parsed_calendar read_calendar(std::string_view text, const read_limits& limits) {
  init_libical();
  const std::string copy(text);  // libical wants a NUL-terminated string
  component_ptr root(icalparser_parse_string(copy.c_str()));
  if (!root) throw std::invalid_argument("not an iCalendar object");
  icalcomponent* cal = root.get();
  if (icalcomponent_isa(cal) != ICAL_VCALENDAR_COMPONENT)
    cal = icalcomponent_get_first_component(root.get(), ICAL_VCALENDAR_COMPONENT);
  if (!cal) throw std::invalid_argument("not an iCalendar object (no VCALENDAR)");

  parsed_calendar out;
  if (auto* p = icalcomponent_get_first_property(cal, ICAL_X_PROPERTY)) {
    for (; p; p = icalcomponent_get_next_property(cal, ICAL_X_PROPERTY)) {
      const char* xname = icalproperty_get_x_name(p);
      const char* value = icalproperty_get_x(p);
      if (xname && value && std::string_view(xname) == "X-WR-CALNAME") {
        out.name = cut_utf8(value, 200);
        break;
      }
    }
  }
  const std::time_t window_start = limits.now_unix - std::int64_t{limits.past_days} * 86'400;
  const std::time_t window_end = limits.now_unix + std::int64_t{limits.future_days} * 86'400;
  auto add = [&](imported_event e) {
    if (out.events.size() >= limits.max_events) {
      ++out.skipped;
      return;
    }
    out.events.push_back(std::move(e));
  };

  // Overridden occurrences (RECURRENCE-ID) first: they replace the
  // occurrence of their master that they name.
  std::set<std::string> overridden;
  std::vector<icalcomponent*> masters;
  for (auto* ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); ev;
       ev = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
    const char* uid = icalcomponent_get_uid(ev);
    auto s = span_of(ev);
    if (!uid || !*uid || !s) {
      ++out.skipped;
      continue;
    }
    auto* rid_prop = icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY);
    if (!rid_prop) {
      masters.push_back(ev);
      continue;
    }
    auto rid = time_of(rid_prop, ev);
    if (icaltime_is_null_time(rid)) {
      ++out.skipped;
      continue;
    }
    auto key = std::string(uid) + "/" + occurrence_key(rid);
    overridden.insert(key);
    add(make_event(ev, key, s->start, *s));
  }

  for (auto* ev : masters) {
    const std::string uid = icalcomponent_get_uid(ev);
    const auto s = *span_of(ev);
    auto* rrule = icalcomponent_get_first_property(ev, ICAL_RRULE_PROPERTY);
    if (!rrule) {
      add(make_event(ev, uid, s.start, s));
      continue;
    }
    std::set<std::string> excluded;
    for (auto* x = icalcomponent_get_first_property(ev, ICAL_EXDATE_PROPERTY); x;
         x = icalcomponent_get_next_property(ev, ICAL_EXDATE_PROPERTY)) {
      auto t = time_of(x, ev);
      if (!icaltime_is_null_time(t)) excluded.insert(occurrence_key(t));
    }
    std::size_t emitted = 0;
    auto occurrence = [&](icaltimetype start) {
      const auto begin = unix_of(start);
      if (begin < window_start || begin > window_end) return;
      auto key = uid + "/" + occurrence_key(start);
      if (excluded.count(key.substr(uid.size() + 1)) || overridden.count(key)) return;
      if (emitted >= limits.max_occurrences) {
        ++out.skipped;
        return;
      }
      ++emitted;
      add(make_event(ev, std::move(key), start, s));
    };
    // DTSTART is the first occurrence (RFC 5545 §3.8.5.3), then the rule's.
    occurrence(s.start);
    const std::time_t first = unix_of(s.start);
    auto recur = icalproperty_get_rrule(rrule);
    std::unique_ptr<icalrecur_iterator, iterator_deleter> it(
        icalrecur_iterator_new(recur, s.start));
    if (!it) continue;
    // Skip to the window when the rule allows it (not with COUNT).
    if (recur.count == 0 && first < window_start) {
      auto from = icaltime_from_timet_with_zone(
          window_start, s.start.is_date,
          s.start.zone ? s.start.zone : icaltimezone_get_utc_timezone());
      icalrecur_iterator_set_start(it.get(), from);
    }
    // Bounded in count as well as in time: a rule may never end.
    for (int n = 0; n < 100'000; ++n) {
      auto next = icalrecur_iterator_next(it.get());
      if (icaltime_is_null_time(next)) break;
      if (!next.zone) next.zone = s.start.zone;
      const auto begin = unix_of(next);
      if (begin > window_end || emitted >= limits.max_occurrences) break;
      if (begin == first) continue;
      occurrence(next);
    }
  }
  return out;
}

}  // namespace hearth::apps::calendar
