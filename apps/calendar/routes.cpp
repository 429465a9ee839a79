// The calendar module (apps/calendar/calendar.hpp): the routes of
// households' iCalendar feeds and of subscriptions to external calendars,
// and the module itself. Imports are in apps/calendar/import.cpp.

#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cctype>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "apps/calendar/calendar.hpp"
#include "apps/calendar/ical.hpp"
#include "apps/calendar/import.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "http/url.hpp"
#include "storage/crypto.hpp"
#include "storage/errors.hpp"
#include "storage/events.hpp"
#include "storage/households.hpp"

namespace hearth::apps::calendar {
namespace detail {
namespace {

namespace json = boost::json;
using storage::domain_error;
using storage::errc;

constexpr const char* kFeed = "CalendarFeed";
constexpr const char* kSubscription = "CalendarSubscription";
constexpr const char* kFeedPath = "/api/v1/calendar/feeds";
constexpr const char* kSubscriptionPath = "/api/v1/calendar/subscriptions";

constexpr const char* kFeedSchema = R"({"type":"object","properties":{
  "authHouseholdID":{"type":"string","format":"uuid"},
  "url":{"type":"string","format":"uri",
    "description":"the secret feed URL, shown once: GET it for text/calendar"},
  "created":{"type":"string","format":"date-time"}}})";
constexpr const char* kSubscriptionSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},
  "authHouseholdID":{"type":"string","format":"uuid"},
  "url":{"type":"string","format":"uri"},
  "name":{"type":"string","maxLength":200},
  "lastFetched":{"type":"string","format":"date-time","nullable":true},
  "lastError":{"type":"string","nullable":true,
    "description":"why the last fetch failed; null after a success"},
  "created":{"type":"string","format":"date-time"},
  "updated":{"type":"string","format":"date-time"}}})";

constexpr const char* kSubscriptionColumns =
    "s.id::text, s.auth_household_id::text, s.url, s.name, hearth_ts(s.last_fetched), "
    "s.last_error, hearth_ts(s.created), hearth_ts(s.updated)";

json::value nullable(const pqxx::field& f) {
  return f.is_null() ? json::value(nullptr) : json::value(f.c_str());
}

json::object subscription_json(const pqxx::row& r) {
  return {
      {"id", r[0].c_str()},      {"authHouseholdID", r[1].c_str()}, {"url", r[2].c_str()},
      {"name", r[3].c_str()},    {"lastFetched", nullable(r[4])},   {"lastError", nullable(r[5])},
      {"created", r[6].c_str()}, {"updated", r[7].c_str()}};
}

// A route's API description under the "calendar" tag, answering `data_type`
// envelopes of `data_schema` elements; `request_schema` for a JSON body.
http::route_doc calendar_doc(std::string summary, const char* data_type, const char* data_schema,
                             std::string request_schema = "", unsigned success = 200) {
  return {.summary = std::move(summary),
          .tag = "calendar",
          .request_schema = std::move(request_schema),
          .data_type = data_type,
          .data_schema = data_schema,
          .success = success};
}

// Write permission in a household, as for its rows: not a member → 404,
// view → 403.
void require_edit(pqxx::transaction_base& tx, const std::string& account_id,
                  const std::string& household_id, const char* not_found) {
  storage::authorize(storage::permission_of(tx, account_id, household_id),
                     domain::household_action::write, storage::kViewOnly, not_found);
}

// A household id from a JSON body: a UUID, lower case.
std::string household_of(http::json_object_reader& in) {
  auto h = *in.string("authHouseholdID", true, 1, 64);
  if (!http::is_uuid(h)) throw http::input_error("authHouseholdID: must be a UUID");
  return lower(std::move(h));
}

// --- the feed --------------------------------------------------------------

// The token in a feed URL's last segment ("<token>.ics" or "<token>"): 43
// base64url characters (32 bytes).
std::optional<std::string> feed_token(std::string_view segment) {
  if (segment.size() > 4 && segment.substr(segment.size() - 4) == ".ics") segment.remove_suffix(4);
  if (segment.size() != 43) return std::nullopt;
  for (char c : segment)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return std::nullopt;
  return std::string(segment);
}

// The household's events and dated tasks as an iCalendar object; nullopt
// when no feed has this token.
std::optional<std::string> read_feed(storage::connection& conn, const std::string& token) {
  pqxx::read_transaction tx(conn);
  pqxx::binarystring hash(storage::session_key_hash(token));
  auto feed = tx.exec_params(
      "SELECT f.auth_household_id::text, h.name FROM calendar_feed f "
      "JOIN auth_household h ON h.id = f.auth_household_id WHERE f.token_hash = $1",
      hash);
  if (feed.empty()) return std::nullopt;
  const std::string household = feed[0][0].c_str();
  std::vector<ics_event> events;
  for (const auto& r : tx.exec_params(
           // An all-day event's bounds as the household's wall clock
           // reads them (its local midnights), for all_day_dates.
           "SELECT e.id::text, e.name, e.details, e.all_day, "
           "hearth_ts(CASE WHEN e.all_day THEN (e.starts_at AT TIME ZONE h.time_zone) "
           "AT TIME ZONE 'UTC' ELSE e.starts_at END), "
           "hearth_ts(CASE WHEN e.all_day THEN (e.ends_at AT TIME ZONE h.time_zone) "
           "AT TIME ZONE 'UTC' ELSE e.ends_at END), "
           "hearth_ts(e.created), hearth_ts(e.updated) FROM calendar_event e "
           "JOIN auth_household h ON h.id = e.auth_household_id "
           "WHERE e.auth_household_id = $1 ORDER BY e.starts_at, e.id",
           household)) {
    ics_event e;
    e.uid = std::string(r[0].c_str()) + "@hearth";
    e.summary = r[1].c_str();
    e.description = r[2].c_str();
    e.all_day = r[3].as<bool>();
    if (e.all_day) {
      std::tie(e.start, e.end) = all_day_dates(r[4].c_str(), r[5].c_str());
    } else {
      e.start = r[4].c_str();
      e.end = r[5].c_str();
    }
    e.created = r[6].c_str();
    e.stamp = r[7].c_str();
    events.push_back(std::move(e));
  }
  // A task with a due date is an all-day event on that day.
  for (const auto& r : tx.exec_params(
           "SELECT id::text, name, due_date::text, hearth_ts(created), hearth_ts(updated) "
           "FROM plan_task WHERE auth_household_id = $1 AND due_date IS NOT NULL "
           "ORDER BY due_date, id",
           household)) {
    ics_event e;
    e.uid = std::string(r[0].c_str()) + "@hearth";
    e.summary = r[1].c_str();
    e.all_day = true;
    e.start = r[2].c_str();
    e.end = add_days(e.start, 1);
    e.created = r[3].c_str();
    e.stamp = r[4].c_str();
    events.push_back(std::move(e));
  }
  return write_calendar(feed[0][1].c_str(), events);
}

// If-None-Match (RFC 9110 §13.1.2) against a quoted tag, weakly.
bool none_match(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

// POST /api/v1/calendar/feeds {authHouseholdID}: a new secret URL (the
// previous one stops working).
http::route create_feed(api::services& s) {
  return {"POST",
          kFeedPath,
          [&s](const http::request& req, http::responder respond) {
            http::json_object_reader in(req.body);
            auto household = household_of(in);
            in.reject_unknown();
            auto base = api::public_base_url(s, req);
            api::run_authenticated(
                s, req, std::move(respond),
                [household, base, rid = req.request_id](storage::connection& conn,
                                                        const storage::principal& who) {
                  pqxx::work tx(conn);
                  require_edit(tx, who.account_id, household,
                               "authHouseholdID: household not found");
                  auto token = storage::new_session_key();
                  pqxx::binarystring hash(storage::session_key_hash(token));
                  auto r = tx.exec_params1(
                      "INSERT INTO calendar_feed (auth_household_id, token_hash) VALUES ($1, $2) "
                      "ON CONFLICT (auth_household_id) DO UPDATE "
                      "SET token_hash = EXCLUDED.token_hash, created = now() "
                      "RETURNING hearth_ts(created)",
                      household, hash);
                  tx.commit();
                  json::array out;
                  out.push_back(
                      json::object{{"authHouseholdID", household},
                                   {"url", fmt::format("{}{}/{}.ics", base, kFeedPath, token)},
                                   {"created", r[0].c_str()}});
                  return http::ok(201, rid, kFeed, std::move(out));
                });
          },
          {.json_body = true,
           .doc = calendar_doc("Create or rotate the household's secret iCalendar feed URL "
                               "(edit permission; the previous URL stops working)",
                               kFeed, kFeedSchema,
                               R"({"type":"object","additionalProperties":false,
                        "required":["authHouseholdID"],"properties":{
                        "authHouseholdID":{"type":"string","format":"uuid"}}})",
                               201)}};
}

// GET /api/v1/calendar/feeds/{token}: the feed, with no other credential.
http::route read_feed_route(api::services& s) {
  return {"GET",
          std::string(kFeedPath) + "/{token}",
          [&s](const http::request& req, http::responder respond) {
            auto token = feed_token(req.params.at("token"));
            if (!token) return respond(http::error(404, req.request_id, "calendar feed not found"));
            api::run_db(s, req, std::move(respond),
                        [token = *token, inm = std::string(req.header("if-none-match")),
                         rid = req.request_id](storage::connection& conn) {
                          auto body = read_feed(conn, token);
                          if (!body) throw domain_error(errc::not_found, "calendar feed not found");
                          http::response res;
                          auto etag = "\"" + storage::content_tag(*body) + "\"";
                          if (none_match(inm, etag)) {
                            res.status = 304;
                            res.content_type.clear();
                          } else {
                            res.content_type = "text/calendar; charset=utf-8";
                            res.body = std::move(*body);
                          }
                          res.headers = {{"ETag", std::move(etag)},
                                         {"Cache-Control", "private, no-cache"},
                                         {"X-Content-Type-Options", "nosniff"},
                                         {"Referrer-Policy", "no-referrer"}};
                          return res;
                        });
          },
          {.produces = "text/calendar",
           .doc = {.summary = "The household's CalendarEvents and dated PlanTasks as iCalendar "
                              "(RFC 5545); the token in the URL is the credential",
                   .tag = "calendar",
                   .auth = "none"}}};
}

// --- subscriptions -----------------------------------------------------------

// POST /api/v1/calendar/subscriptions {authHouseholdID, url, name}.
http::route create_subscription(api::services& s, std::shared_ptr<module_state> state) {
  return {
      "POST",
      kSubscriptionPath,
      [&s, state](const http::request& req, http::responder respond) {
        http::json_object_reader in(req.body);
        auto household = household_of(in);
        auto url = *in.string("url", true, 1, 2048);
        auto name = in.string("name", false, 0, 200).value_or("");
        in.reject_unknown();
        if (auto problem = http::url_problem(fetch_url(url)))
          throw http::input_error("url: " + *problem + " (http, https or webcal)");
        api::run_authenticated(
            s, req, std::move(respond),
            [state, household, url, name, rid = req.request_id](storage::connection& conn,
                                                                const storage::principal& who) {
              pqxx::work tx(conn);
              require_edit(tx, who.account_id, household, "authHouseholdID: household not found");
              auto rows =
                  tx.exec_params(fmt::format("WITH s AS (INSERT INTO calendar_subscription "
                                             "(auth_household_id, url, name) VALUES ($1, $2, $3) "
                                             "ON CONFLICT (auth_household_id, url) DO NOTHING "
                                             "RETURNING *) SELECT {} FROM s",
                                             kSubscriptionColumns),
                                 household, url, name);
              if (rows.empty())
                throw domain_error(errc::conflict, "url: this household already subscribes to it");
              const auto r = rows[0];
              // Imported at once on a handler thread (and then on schedule).
              state->added().publish(tx, subscription_added{r[0].c_str()});
              tx.commit();
              json::array out;
              out.push_back(subscription_json(r));
              return http::ok(201, rid, kSubscription, std::move(out));
            });
      },
      {.json_body = true,
       .doc = calendar_doc("Subscribe a household to an external iCalendar URL (edit "
                           "permission); its events are imported read-only",
                           kSubscription, kSubscriptionSchema,
                           R"({"type":"object","additionalProperties":false,
                        "required":["authHouseholdID","url"],"properties":{
                        "authHouseholdID":{"type":"string","format":"uuid"},
                        "url":{"type":"string","format":"uri","maxLength":2048,
                          "description":"http, https or webcal, without user:password@"},
                        "name":{"type":"string","maxLength":200}}})",
                           201)}};
}

// GET /api/v1/calendar/subscriptions[?authHouseholdID=]: the caller's.
http::route list_subscriptions(api::services& s) {
  return {"GET",
          kSubscriptionPath,
          [&s](const http::request& req, http::responder respond) {
            std::optional<std::string> household;
            if (auto it = req.query.find("authHouseholdID"); it != req.query.end()) {
              if (!http::is_uuid(it->second))
                throw http::input_error("authHouseholdID: must be a UUID");
              household = lower(it->second);
            }
            api::run_authenticated(
                s, req, std::move(respond),
                [household, rid = req.request_id](storage::connection& conn,
                                                  const storage::principal& who) {
                  pqxx::read_transaction tx(conn);
                  auto rows = tx.exec_params(
                      fmt::format("SELECT {} FROM calendar_subscription s "
                                  "JOIN auth_household_member m ON m.auth_household_id = "
                                  "s.auth_household_id WHERE m.auth_account_id = $1 "
                                  "AND ($2 = '' OR s.auth_household_id = NULLIF($2, '')::uuid) "
                                  "ORDER BY s.created, s.id",
                                  kSubscriptionColumns),
                      who.account_id, household.value_or(""));
                  json::array out;
                  for (const auto& r : rows) out.push_back(subscription_json(r));
                  return http::ok(200, rid, kSubscription, std::move(out));
                });
          },
          {.doc = [] {
            auto d = calendar_doc("The calendar subscriptions of the caller's households",
                                  kSubscription, kSubscriptionSchema);
            d.query = {{"authHouseholdID", "only this household's subscriptions"}};
            return d;
          }()}};
}

// DELETE /api/v1/calendar/subscriptions/{id}: the subscription and its
// imported events (each with its delete event).
http::route delete_subscription(api::services& s) {
  return {
      "DELETE",
      std::string(kSubscriptionPath) + "/{id}",
      [&s](const http::request& req, http::responder respond) {
        auto id = req.params.at("id");
        if (!http::is_uuid(id))
          return respond(http::error(404, req.request_id, "CalendarSubscription not found"));
        api::run_authenticated(
            s, req, std::move(respond),
            [&s, id, rid = req.request_id](storage::connection& conn,
                                           const storage::principal& who) {
              storage::change_transaction change(conn, s.writes.publisher());
              auto& tx = change.tx();
              auto sub = tx.exec_params(
                  "SELECT auth_household_id::text FROM calendar_subscription WHERE id = $1 "
                  "FOR UPDATE",
                  id);
              if (sub.empty())
                throw domain_error(errc::not_found, "CalendarSubscription not found");
              const std::string household = sub[0][0].c_str();
              require_edit(tx, who.account_id, household, "CalendarSubscription not found");
              storage::lock_households(tx, {household});  // before the event rows' locks
              for (const auto& r :
                   tx.exec_params("DELETE FROM calendar_event WHERE calendar_subscription_id = $1 "
                                  "RETURNING id::text, hearth_ts(now())",
                                  id))
                change.record(household, "calendar_event", r[0].c_str(), "delete", r[1].c_str());
              tx.exec_params0("DELETE FROM calendar_subscription WHERE id = $1", id);
              change.commit();  // publishes the deletes
              return http::ok(200, rid, kSubscription, {});
            });
      },
      {.doc = calendar_doc("Unsubscribe: the subscription and the events imported from it",
                           kSubscription, kSubscriptionSchema)}};
}

}  // namespace
}  // namespace detail

api::module calendar_module() {
  auto state = std::make_shared<detail::module_state>();
  return {.name = "calendar",
          .declare = [state](engine::registry& r, const config::config& cfg,
                             storage::pool& db) { state->declare(r, cfg, db); },
          .routes =
              [state](http::route_group& api, http::route_group&, api::services& s) {
                state->set_services(s);
                api.add(detail::create_feed(s));
                api.add(detail::read_feed_route(s));
                api.add(detail::create_subscription(s, state));
                api.add(detail::list_subscriptions(s));
                api.add(detail::delete_subscription(s));
              }};
}

}  // namespace hearth::apps::calendar
