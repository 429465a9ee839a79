// iCalendar (apps/calendar): a household's secret feed URL, parsed by a
// real iCalendar parser (Debian's python3-icalendar) to check that every
// event round-trips; and subscriptions to external calendars (a local fake
// server serves the .ics), imported read-only and kept in step by the cron
// job.

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/integration/fixture.hpp"
#include "tests/support/fake_http_server.hpp"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;

// Parses an iCalendar text with python3-icalendar and prints, as JSON, the
// parser's errors, the calendar's name and every VEVENT.
constexpr const char* kParser = R"py(
import json, sys
import icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
errors = []
for c in cal.walk():
    errors.extend(str(e) for e in getattr(c, 'errors', []))
events = []
for c in cal.walk('VEVENT'):
    s, e = c.decoded('DTSTART'), c.decoded('DTEND')
    events.append({'uid': str(c['UID']), 'summary': str(c['SUMMARY']),
                   'description': str(c.get('DESCRIPTION', '')),
                   'start': s.isoformat(), 'end': e.isoformat(),
                   'date': not hasattr(s, 'hour'),
                   'stamp': c.decoded('DTSTAMP').isoformat()})
print(json.dumps({'errors': errors, 'name': str(cal.get('X-WR-CALNAME', '')),
                  'events': events}))
)py";

// The feed parsed by python3-icalendar (see kParser); throws with the
// parser's output when it fails.
json::object parse_with_python(const std::string& ics) {
  static std::atomic<int> counter{0};
  auto dir = fs::temp_directory_path() /
             ("hearth-ical-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "parse.py") << kParser;
    std::ofstream(dir / "feed.ics", std::ios::binary) << ics;
  }
  // Debian's interpreter, where apt installs python3-icalendar.
  auto command = fmt::format("/usr/bin/python3 {} {} 2>&1", (dir / "parse.py").native(),
                             (dir / "feed.ics").native());
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    fs::remove_all(dir);
    if (status != 0)
      throw std::runtime_error("python3-icalendar failed (apt-get install python3-icalendar): " +
                               out);
  }
  return json::parse(out).as_object();
}

// The path of an absolute URL ("http://host:port/path" → "/path").
std::string path_of(const std::string& url) {
  auto scheme = url.find("://");
  return url.substr(url.find('/', scheme + 3));
}

class calendar_feed : public hearth_test {
 protected:
  json::object create_event(const std::string& key, const std::string& hh, json::object body) {
    body["authHouseholdID"] = hh;
    auto res = http().request_as(key, "POST", "/api/v1/calendar/events", json::serialize(body));
    require_status(res, 201, "create event");
    return first_value(res);
  }

  http_response create_feed(const std::string& key, const std::string& hh) {
    return http().request_as(key, "POST", "/api/v1/calendar/feeds",
                             json::serialize(json::object{{"authHouseholdID", hh}}));
  }
};

TEST_F(calendar_feed, serves_events_and_dated_tasks_that_a_real_parser_reads_back) {
  auto owner = new_user("feed-owner");
  const auto hh = create_household(owner.key, "Home; the \"big\" one, really");
  const auto other = create_household(owner.key, "Elsewhere");

  // What should round-trip: timed and all-day events with text that needs
  // escaping and folding, and a dated task.
  std::string long_details;
  for (int i = 0; i < 40; ++i) long_details += "Fête 🎉 ligne " + std::to_string(i) + ", ";
  long_details += "\nnew line; end\\";
  struct expected {
    std::string summary, description, start, end;
    bool date;
  };
  std::map<std::string, expected> want;  // by UID
  auto e1 = create_event(owner.key, hh,
                         {{"name", "Dentist; bring card, and a \\ backslash"},
                          {"details", long_details},
                          {"startsAt", "2026-03-01T10:00:00Z"},
                          {"endsAt", "2026-03-01T11:30:00Z"}});
  want[str(e1, "id") + "@hearth"] = {str(e1, "name"), long_details, "2026-03-01T10:00:00+00:00",
                                     "2026-03-01T11:30:00+00:00", false};
  auto e2 = create_event(
      owner.key, hh,
      {{"name", std::string(60, 'x') + " — très long nom d'événement ⏰ " + std::string(60, 'y')},
       {"startsAt", "2026-03-02T23:15:00.123456Z"},
       {"endsAt", "2026-03-03T00:45:00Z"}});
  want[str(e2, "id") + "@hearth"] = {str(e2, "name"), "", "2026-03-02T23:15:00+00:00",
                                     "2026-03-03T00:45:00+00:00", false};
  auto e3 = create_event(owner.key, hh,
                         {{"name", "Holiday"},
                          {"allDay", true},
                          {"startsAt", "2026-03-05T00:00:00Z"},
                          {"endsAt", "2026-03-05T00:00:00Z"}});
  want[str(e3, "id") + "@hearth"] = {"Holiday", "", "2026-03-05", "2026-03-06", true};
  auto e4 = create_event(owner.key, hh,
                         {{"name", "Trip"},
                          {"allDay", true},
                          {"startsAt", "2026-03-10T00:00:00Z"},
                          {"endsAt", "2026-03-13T00:00:00Z"}});
  want[str(e4, "id") + "@hearth"] = {"Trip", "", "2026-03-10", "2026-03-13", true};
  auto task = create_task(owner.key, hh, "Pay rent, finally", "2026-03-20");
  want[str(task, "id") + "@hearth"] = {"Pay rent, finally", "", "2026-03-20", "2026-03-21", true};
  create_task(owner.key, hh, "Someday");  // no due date: not in the feed
  create_event(owner.key, other,
               {{"name", "Not this household's"},
                {"startsAt", "2026-03-01T10:00:00Z"},
                {"endsAt", "2026-03-01T11:00:00Z"}});

  auto made = create_feed(owner.key, hh);
  check_envelope(made, 201, "CalendarFeed");
  const auto url = str(first_value(made), "url");
  EXPECT_EQ(str(first_value(made), "authHouseholdID"), hh);
  EXPECT_EQ(url.rfind(fmt::format("http://127.0.0.1:{}/api/v1/calendar/feeds/", port()), 0), 0u)
      << url;
  EXPECT_EQ(url.substr(url.size() - 4), ".ics");

  // No credential but the URL.
  auto feed = http().request("GET", path_of(url));
  ASSERT_EQ(feed.status, 200u) << feed.body;
  EXPECT_EQ(feed.header("content-type"), "text/calendar; charset=utf-8");
  EXPECT_FALSE(feed.header("etag").empty());

  // CRLF line ends only, and no physical line over 75 octets.
  std::size_t pos = 0, lines = 0;
  while (pos < feed.body.size()) {
    auto end = feed.body.find("\r\n", pos);
    ASSERT_NE(end, std::string::npos) << "line without CRLF at " << pos;
    auto line = feed.body.substr(pos, end - pos);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_LE(line.size(), 75u) << line;
    pos = end + 2;
    ++lines;
  }
  EXPECT_GT(lines, 30u);
  EXPECT_EQ(feed.body.find("Not this household"), std::string::npos);

  auto parsed = parse_with_python(feed.body);
  EXPECT_TRUE(parsed.at("errors").as_array().empty()) << json::serialize(parsed);
  EXPECT_EQ(str(parsed, "name"), "Home; the \"big\" one, really");
  std::set<std::string> seen;
  for (const auto& v : parsed.at("events").as_array()) {
    const auto& ev = v.as_object();
    auto uid = str(ev, "uid");
    ASSERT_TRUE(want.count(uid)) << "unexpected " << uid;
    EXPECT_TRUE(seen.insert(uid).second) << "twice: " << uid;
    const auto& w = want.at(uid);
    EXPECT_EQ(str(ev, "summary"), w.summary) << uid;
    EXPECT_EQ(str(ev, "description"), w.description) << uid;
    EXPECT_EQ(str(ev, "start"), w.start) << uid;
    EXPECT_EQ(str(ev, "end"), w.end) << uid;
    EXPECT_EQ(ev.at("date").as_bool(), w.date) << uid;
    EXPECT_EQ(str(ev, "stamp").substr(19), "+00:00") << uid;  // DTSTAMP in UTC
  }
  EXPECT_EQ(seen.size(), want.size());

  // Conditional GET; a change shows in the next read.
  auto etag = feed.header("etag");
  EXPECT_EQ(http().request("GET", path_of(url), "", {{"If-None-Match", etag}}).status, 304u);
  create_event(owner.key, hh,
               {{"name", "Added later"},
                {"startsAt", "2026-04-01T10:00:00Z"},
                {"endsAt", "2026-04-01T11:00:00Z"}});
  auto again = http().request("GET", path_of(url), "", {{"If-None-Match", etag}});
  ASSERT_EQ(again.status, 200u);
  EXPECT_NE(again.body.find("SUMMARY:Added later"), std::string::npos);
}

TEST_F(calendar_feed, rotating_replaces_the_url_and_only_editors_may) {
  auto owner = new_user("feed-rot-owner");
  auto viewer = new_user("feed-rot-viewer");
  auto stranger = new_user("feed-rot-stranger");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, viewer.email, "view");

  auto first = str(first_value(create_feed(owner.key, hh)), "url");
  ASSERT_EQ(http().request("GET", path_of(first)).status, 200u);
  auto second_res = create_feed(owner.key, hh);
  check_envelope(second_res, 201, "CalendarFeed");
  auto second = str(first_value(second_res), "url");
  EXPECT_NE(first, second);
  auto old = http().request("GET", path_of(first));
  check_envelope(old, 404);
  EXPECT_EQ(message_of(old), "calendar feed not found");
  EXPECT_EQ(http().request("GET", path_of(second)).status, 200u);

  check_envelope(create_feed(viewer.key, hh), 403);
  check_envelope(create_feed(stranger.key, hh), 404);
  check_envelope(http().request("POST", "/api/v1/calendar/feeds",
                                json::serialize(json::object{{"authHouseholdID", hh}})),
                 401);
  auto bad = http().request_as(owner.key, "POST", "/api/v1/calendar/feeds", R"({"household":1})");
  check_envelope(bad, 400);
  check_envelope(http().request("GET", "/api/v1/calendar/feeds/nope.ics"), 404);
  check_envelope(http().request("GET", "/api/v1/calendar/feeds/" + std::string(43, 'A') + ".ics"),
                 404);
  // The token never reaches the logs.
  auto token = path_of(second).substr(std::string("/api/v1/calendar/feeds/").size(), 43);
  EXPECT_EQ(hearth_->log().find(token), std::string::npos);
}

// --- subscriptions ----------------------------------------------------------

std::string ics(const std::vector<std::string>& vevents) {
  std::string out =
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nX-WR-CALNAME:School\r\n"
      "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n"
      "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
      "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
      "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
      "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";
  for (const auto& v : vevents) out += "BEGIN:VEVENT\r\n" + v + "END:VEVENT\r\n";
  return out + "END:VCALENDAR\r\n";
}

// Today's date in UTC as YYYYMMDD, plus `days`.
std::string utc_day(int days) {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() +
                                                std::chrono::hours(24 * days));
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}{:02}{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

class calendar_subscription : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    // The fake calendar server is on loopback, which users' fetches may
    // not reach unless the operator allows it.
    return {{"HEARTH_CALENDAR_REFRESH_SCHEDULE", "every 1s"},
            {"HEARTH_OUTBOUND_ALLOW", "127.0.0.1/32"}};
  }

  // The household's imported events (calendarSubscriptionID set), by name.
  std::map<std::string, json::object> imported(const std::string& key, const std::string& hh) {
    std::map<std::string, json::object> out;
    auto res = http().request_as(key, "GET", "/api/v1/calendar/events?authHouseholdID=" + hh);
    const auto doc = res.json();  // the loop below must not outlive it
    for (const auto& v : doc.as_object().at("dataValue").as_array())
      if (!v.as_object().at("calendarSubscriptionID").is_null())
        out[str(v.as_object(), "name")] = v.as_object();
    return out;
  }
};

TEST_F(calendar_subscription, imports_read_only_events_and_keeps_them_in_step) {
  auto owner = new_user("sub-owner");
  auto viewer = new_user("sub-viewer");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, viewer.email, "view");
  auto stream = open_sse(owner.key);

  fake_http_server site;
  const std::string lunch =
      "UID:lunch@school\r\nDTSTART;TZID=Europe/Paris:20260301T100000\r\n"
      "DTEND;TZID=Europe/Paris:20260301T113000\r\nSUMMARY:Lunch\\, with Bob\r\n"
      "DESCRIPTION:Bring\\nwine\r\n";
  const std::string holiday =
      "UID:holiday@school\r\nDTSTART;VALUE=DATE:20260305\r\nDTEND;VALUE=DATE:20260307\r\n"
      "SUMMARY:Holiday\r\n";
  // Daily, three times from yesterday: within the import window.
  const std::string choir = "UID:choir@school\r\nDTSTART:" + utc_day(-1) +
                            "T180000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
                            "SUMMARY:Choir\r\n";
  site.set_body(ics({lunch, holiday, choir}), "text/calendar");

  // Validation and permissions.
  auto subscribe = [&](const std::string& key, const std::string& url) {
    return http().request_as(key, "POST", "/api/v1/calendar/subscriptions",
                             json::serialize(json::object{{"authHouseholdID", hh}, {"url", url}}));
  };
  auto bad = subscribe(owner.key, "ftp://example.com/cal.ics");
  check_envelope(bad, 400);
  EXPECT_EQ(message_of(bad).rfind("url:", 0), 0u) << bad.body;
  check_envelope(subscribe(viewer.key, site.url("/school.ics")), 403);

  auto made = subscribe(owner.key, site.url("/school.ics"));
  check_envelope(made, 201, "CalendarSubscription");
  const auto sub = first_value(made);
  const auto sub_id = str(sub, "id");
  EXPECT_EQ(str(sub, "url"), site.url("/school.ics"));
  EXPECT_TRUE(sub.at("lastFetched").is_null());
  check_envelope(subscribe(owner.key, site.url("/school.ics")), 409);

  // Imported at once (and then every second): 2 events + 3 occurrences.
  std::map<std::string, json::object> rows;
  ASSERT_TRUE(eventually([&] { return (rows = imported(owner.key, hh)).size() == 3; }, 20s))
      << rows.size();
  std::size_t choirs = 0;
  auto all = http().request_as(owner.key, "GET", "/api/v1/calendar/events?authHouseholdID=" + hh);
  const auto all_doc = all.json();
  for (const auto& v : all_doc.as_object().at("dataValue").as_array())
    if (str(v.as_object(), "name") == "Choir") ++choirs;
  EXPECT_EQ(choirs, 3u);
  const auto& l = rows.at("Lunch, with Bob");
  EXPECT_EQ(str(l, "calendarSubscriptionID"), sub_id);
  EXPECT_EQ(str(l, "startsAt"), "2026-03-01T09:00:00.000000Z");  // Paris, UTC+1
  EXPECT_EQ(str(l, "endsAt"), "2026-03-01T10:30:00.000000Z");
  EXPECT_EQ(str(l, "details"), "Bring\nwine");
  EXPECT_FALSE(l.at("allDay").as_bool());
  const auto& h = rows.at("Holiday");
  EXPECT_TRUE(h.at("allDay").as_bool());
  EXPECT_EQ(str(h, "startsAt"), "2026-03-05T00:00:00.000000Z");
  EXPECT_EQ(str(h, "endsAt"), "2026-03-07T00:00:00.000000Z");

  // Read-only: PUT (even the representation as GET gave it) and DELETE are 409.
  const auto lunch_id = str(l, "id");
  auto put = http().request_as(owner.key, "PUT", "/api/v1/calendar/events/" + lunch_id,
                               json::serialize(json::object{{"name", "Mine now"}}));
  check_envelope(put, 409);
  EXPECT_NE(message_of(put).find("read-only"), std::string::npos) << put.body;
  check_envelope(http().request_as(owner.key, "PUT", "/api/v1/calendar/events/" + lunch_id,
                                   json::serialize(l)),
                 409);
  check_envelope(http().request_as(owner.key, "DELETE", "/api/v1/calendar/events/" + lunch_id),
                 409);
  // A client cannot make an event look imported.
  auto forged =
      http().request_as(owner.key, "POST", "/api/v1/calendar/events",
                        json::serialize(json::object{{"authHouseholdID", hh},
                                                     {"name", "Forged"},
                                                     {"startsAt", "2026-03-01T10:00:00Z"},
                                                     {"endsAt", "2026-03-01T11:00:00Z"},
                                                     {"calendarSubscriptionID", sub_id}}));
  check_envelope(forged, 400);
  EXPECT_EQ(message_of(forged), "calendarSubscriptionID: read-only");

  // The source changes: the holiday goes, lunch moves. The cron job follows.
  const std::string moved =
      "UID:lunch@school\r\nDTSTART;TZID=Europe/Paris:20260301T120000\r\n"
      "DTEND;TZID=Europe/Paris:20260301T130000\r\nSUMMARY:Lunch\\, with Bob\r\n";
  site.set_body(ics({moved, choir}), "text/calendar");
  ASSERT_TRUE(eventually(
      [&] {
        rows = imported(owner.key, hh);
        return !rows.count("Holiday") && rows.count("Lunch, with Bob") &&
               str(rows.at("Lunch, with Bob"), "startsAt") == "2026-03-01T11:00:00.000000Z";
      },
      20s));
  EXPECT_EQ(str(rows.at("Lunch, with Bob"), "id"), lunch_id);  // updated in place
  EXPECT_EQ(str(rows.at("Lunch, with Bob"), "details"), "");

  // The changes reached the stream like any write.
  std::set<std::string> operations;
  while (operations.size() < 3) {
    auto ev = next_change(*stream, 5s);
    if (!ev) break;
    auto data = change_data(*ev);
    EXPECT_EQ(str(data, "table"), "calendar_event");
    operations.insert(str(data, "operation"));
  }
  EXPECT_EQ(operations, (std::set<std::string>{"create", "delete", "update"}));

  // A failing source is recorded; its events stay.
  site.set_status(500);
  site.set_body("");
  json::object listed;
  ASSERT_TRUE(eventually(
      [&] {
        auto res = http().request_as(owner.key, "GET",
                                     "/api/v1/calendar/subscriptions?authHouseholdID=" + hh);
        listed = first_value(res);
        return listed.at("lastError").is_string();
      },
      20s));
  EXPECT_EQ(str(listed, "lastError"), "HTTP 500");
  EXPECT_EQ(str(listed, "name"), "School");  // from X-WR-CALNAME
  EXPECT_TRUE(listed.at("lastFetched").is_string());
  EXPECT_TRUE(imported(owner.key, hh).count("Lunch, with Bob"));

  // Unsubscribing removes its events.
  check_envelope(
      http().request_as(viewer.key, "DELETE", "/api/v1/calendar/subscriptions/" + sub_id), 403);
  check_envelope(http().request_as(owner.key, "DELETE", "/api/v1/calendar/subscriptions/" + sub_id),
                 200);
  EXPECT_TRUE(imported(owner.key, hh).empty());
  EXPECT_TRUE(http()
                  .request_as(owner.key, "GET", "/api/v1/calendar/subscriptions")
                  .json()
                  .as_object()
                  .at("dataValue")
                  .as_array()
                  .empty());
  check_envelope(http().request_as(owner.key, "DELETE", "/api/v1/calendar/subscriptions/" + sub_id),
                 404);
}

// An all-day event is a day of the household's own clock: imported at its
// local midnights, and written back to the feed as that date, in a zone
// behind UTC (New York) and one ahead (Tokyo), where UTC dates differ.
TEST_F(calendar_subscription, all_day_events_are_local_days_of_the_households_time_zone) {
  auto owner = new_user("tz-sub");
  auto zoned = [&](const std::string& name, const std::string& tz) {
    auto res = http().request_as(owner.key, "POST", "/api/v1/auth/households",
                                 json::serialize(json::object{{"name", name}, {"timeZone", tz}}));
    require_status(res, 201, "household in " + tz);
    return str(first_value(res), "id");
  };
  const auto ny = zoned("New York", "America/New_York");
  const auto tokyo = zoned("Tokyo", "Asia/Tokyo");
  fake_http_server site;
  site.set_body(ics({"UID:holiday@school\r\nDTSTART;VALUE=DATE:20260305\r\n"
                     "DTEND;VALUE=DATE:20260307\r\nSUMMARY:Holiday\r\n"}),
                "text/calendar");
  for (const auto& hh : {ny, tokyo})
    require_status(http().request_as(owner.key, "POST", "/api/v1/calendar/subscriptions",
                                     json::serialize(json::object{{"authHouseholdID", hh},
                                                                  {"url", site.url("/s.ics")}})),
                   201, "subscribe");
  std::map<std::string, json::object> in_ny, in_tokyo;
  ASSERT_TRUE(eventually([&] { return (in_ny = imported(owner.key, ny)).size() == 1; }, 20s));
  ASSERT_TRUE(eventually([&] { return (in_tokyo = imported(owner.key, tokyo)).size() == 1; }, 20s));
  // 5 March 00:00 EST is 05:00 UTC; 00:00 JST is 15:00 UTC the day before.
  EXPECT_EQ(str(in_ny.at("Holiday"), "startsAt"), "2026-03-05T05:00:00.000000Z");
  EXPECT_EQ(str(in_ny.at("Holiday"), "endsAt"), "2026-03-07T05:00:00.000000Z");
  EXPECT_EQ(str(in_tokyo.at("Holiday"), "startsAt"), "2026-03-04T15:00:00.000000Z");
  EXPECT_EQ(str(in_tokyo.at("Holiday"), "endsAt"), "2026-03-06T15:00:00.000000Z");

  // Each household's feed gives the day back as a date.
  for (const auto& hh : {ny, tokyo}) {
    auto made = http().request_as(owner.key, "POST", "/api/v1/calendar/feeds",
                                  json::serialize(json::object{{"authHouseholdID", hh}}));
    require_status(made, 201, "feed");
    auto url = str(first_value(made), "url");
    auto feed = http().request("GET", url.substr(url.find('/', url.find("://") + 3)));
    ASSERT_EQ(feed.status, 200u) << feed.body;
    EXPECT_NE(feed.body.find("DTSTART;VALUE=DATE:20260305\r\n"), std::string::npos) << feed.body;
    EXPECT_NE(feed.body.find("DTEND;VALUE=DATE:20260307\r\n"), std::string::npos) << feed.body;
  }
}

}  // namespace
}  // namespace hearth::testing
