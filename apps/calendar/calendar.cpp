// The calendar module (apps/calendar/calendar.hpp): iCalendar feeds of
// households and subscriptions to external calendars.

#include "apps/calendar/calendar.hpp"

#include <fmt/format.h>

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "apps/calendar/ical.hpp"
#include "config/logging.hpp"
#include "http/client.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/crypto.hpp"
#include "storage/errors.hpp"
#include "storage/events.hpp"
#include "storage/households.hpp"

namespace hearth::apps::calendar {
namespace {

namespace json = boost::json;
using storage::domain_error;
using storage::errc;

constexpr const char* kFeed = "CalendarFeed";
constexpr const char* kSubscription = "CalendarSubscription";
constexpr const char* kFeedPath = "/api/v1/calendar/feeds";
constexpr const char* kSubscriptionPath = "/api/v1/calendar/subscriptions";
constexpr std::size_t kMaxCalendarBytes = 5u << 20;  // a subscribed calendar, at most

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

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

json::value nullable(const pqxx::field& f) {
  return f.is_null() ? json::value(nullptr) : json::value(f.c_str());
}

json::object subscription_json(const pqxx::row& r) {
  return {
      {"id", r[0].c_str()},      {"authHouseholdID", r[1].c_str()}, {"url", r[2].c_str()},
      {"name", r[3].c_str()},    {"lastFetched", nullable(r[4])},   {"lastError", nullable(r[5])},
      {"created", r[6].c_str()}, {"updated", r[7].c_str()}};
}

// Write permission in a household, as for its rows: not a member → 404,
// view → 403.
void require_edit(pqxx::transaction_base& tx, const std::string& account_id,
                  const std::string& household_id, const char* not_found) {
  auto perm = storage::permission_of(tx, account_id, household_id);
  if (!perm) throw domain_error(errc::not_found, not_found);
  if (*perm == "view")
    throw domain_error(errc::forbidden, "view-only members cannot change this household");
}

// A household id from a JSON body: a UUID, lower case.
std::string household_of(http::json_object_reader& in) {
  auto h = *in.string("authHouseholdID", true, 1, 64);
  if (!http::is_uuid(h)) throw http::input_error("authHouseholdID: must be a UUID");
  return lower(std::move(h));
}

// Where clients reach this node: publicURL, else the request's scheme and
// Host (a Host that is not a plain host[:port] falls back to httpAddr).
std::string base_url(const api::services& s, const http::request& req) {
  if (!s.cfg.public_url.empty()) {
    auto u = s.cfg.public_url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
  }
  std::string host(req.header("host"));
  bool plain = !host.empty() && host.size() <= 255;
  for (char c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']')
      plain = false;
  if (!plain) host = s.cfg.http_addr;
  return (s.cfg.tls_cert.empty() ? "http://" : "https://") + host;
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
           "SELECT id::text, name, details, all_day, hearth_ts(starts_at), hearth_ts(ends_at), "
           "hearth_ts(created), hearth_ts(updated) FROM calendar_event "
           "WHERE auth_household_id = $1 ORDER BY starts_at, id",
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
            auto base = base_url(s, req);
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
           .doc = {.summary = "Create or rotate the household's secret iCalendar feed URL "
                              "(edit permission; the previous URL stops working)",
                   .tag = "calendar",
                   .request_schema = R"({"type":"object","additionalProperties":false,
                        "required":["authHouseholdID"],"properties":{
                        "authHouseholdID":{"type":"string","format":"uuid"}}})",
                   .data_type = kFeed,
                   .data_schema = kFeedSchema,
                   .success = 201}}};
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

// A subscribed URL as fetched: webcal:// is https:// (the scheme calendar
// links use to open a calendar application).
std::string fetch_url(std::string url) {
  if (lower(url.substr(0, 9)) == "webcal://") url = "https://" + url.substr(9);
  return url;
}

// What one import changed, and the events to publish after its commit.
struct import_result {
  std::size_t created = 0, updated = 0, deleted = 0;
  std::vector<storage::change_event> events;
};

// Applies a fetched calendar to the subscription's imported events in one
// transaction: new keys are inserted, changed ones updated, missing ones
// deleted, each with its change event. Nothing when the subscription is gone.
import_result apply_import(storage::connection& conn, const std::string& subscription_id,
                           const parsed_calendar& cal) {
  import_result out;
  pqxx::work tx(conn);
  auto sub = tx.exec_params(
      "SELECT auth_household_id::text FROM calendar_subscription WHERE id = $1 FOR UPDATE",
      subscription_id);
  if (sub.empty()) return out;
  const std::string household = sub[0][0].c_str();
  // The household's lock before any event row's: every writer's order
  // (storage/group_commit.hpp, "Deadlocks").
  storage::lock_households(tx, {household});
  struct existing_row {
    std::string id, name, details, starts_at, ends_at;
    bool all_day = false;
  };
  std::map<std::string, existing_row> existing;
  for (const auto& r : tx.exec_params(
           "SELECT external_uid, id::text, name, details, hearth_ts(starts_at), "
           "hearth_ts(ends_at), all_day FROM calendar_event WHERE calendar_subscription_id = $1",
           subscription_id))
    existing[r[0].c_str()] = {r[1].c_str(), r[2].c_str(), r[3].c_str(),
                              r[4].c_str(), r[5].c_str(), r[6].as<bool>()};
  std::set<std::string> seen;
  for (const auto& e : cal.events) {
    if (!seen.insert(e.key).second) continue;  // a duplicate UID: the first wins
    auto it = existing.find(e.key);
    if (it == existing.end()) {
      auto r = tx.exec_params1(
          "INSERT INTO calendar_event (auth_household_id, name, details, starts_at, ends_at, "
          "all_day, calendar_subscription_id, external_uid) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text, hearth_ts(updated)",
          household, e.name, e.details, e.starts_at, e.ends_at, e.all_day, subscription_id, e.key);
      out.events.push_back(storage::record_change(tx, household, "calendar_event", r[0].c_str(),
                                                  "create", r[1].c_str()));
      ++out.created;
      continue;
    }
    const auto& x = it->second;
    if (x.name == e.name && x.details == e.details && x.starts_at == e.starts_at &&
        x.ends_at == e.ends_at && x.all_day == e.all_day)
      continue;
    auto r = tx.exec_params1(
        "UPDATE calendar_event AS t SET name = $2, details = $3, starts_at = $4, ends_at = $5, "
        "all_day = $6, updated = greatest(now(), t.updated + interval '1 microsecond') "
        "WHERE id = $1 RETURNING hearth_ts(t.updated)",
        x.id, e.name, e.details, e.starts_at, e.ends_at, e.all_day);
    out.events.push_back(
        storage::record_change(tx, household, "calendar_event", x.id, "update", r[0].c_str()));
    ++out.updated;
  }
  for (const auto& [key, x] : existing) {
    if (seen.count(key)) continue;
    auto r = tx.exec_params1("DELETE FROM calendar_event WHERE id = $1 RETURNING hearth_ts(now())",
                             x.id);
    out.events.push_back(
        storage::record_change(tx, household, "calendar_event", x.id, "delete", r[0].c_str()));
    ++out.deleted;
  }
  tx.exec_params0(
      "UPDATE calendar_subscription SET last_fetched = now(), last_error = NULL, "
      "name = CASE WHEN name = '' THEN $2 ELSE name END, updated = now() WHERE id = $1",
      subscription_id, cal.name);
  tx.commit();
  return out;
}

void record_failure(storage::connection& conn, const std::string& subscription_id,
                    const std::string& error) {
  pqxx::work tx(conn);
  tx.exec_params0(
      "UPDATE calendar_subscription SET last_fetched = now(), last_error = $2, updated = now() "
      "WHERE id = $1",
      subscription_id, error);
  tx.commit();
}

// The module's state: shared by its declarations (the import subscription,
// the cron job) and its routes.
class module_state : public std::enable_shared_from_this<module_state> {
 public:
  void declare(engine::registry& r, const config::config& cfg, storage::pool& db) {
    auto self = shared_from_this();
    db_ = &db;
    fetch_timeout_ = std::chrono::milliseconds(cfg.calendar_fetch_timeout_ms);
    added_ = r.declare_topic<subscription_added>("calendar.subscription-added");
    engine::subscription_options o;
    o.ack_deadline = 2 * fetch_timeout_ + std::chrono::seconds(60);
    o.max_concurrency = 2;
    r.subscribe<subscription_added>(
        added_, "import", o, [self](const engine::message_info&, const subscription_added& m) {
          if (!self->services_.load()) throw std::runtime_error("calendar module not serving yet");
          self->refresh(m.subscription_id, self->url_of(m.subscription_id));
        });
    r.cron("calendar.refresh-subscriptions", cfg.calendar_refresh_schedule,
           [self](const engine::cron_tick&) { return self->refresh_all(); });
  }

  void set_services(api::services& s) { services_.store(&s); }
  const engine::topic<subscription_added>& added() const { return added_; }

 private:
  // The subscription's URL, or "" when it is gone.
  std::string url_of(const std::string& id) {
    return storage::run_sync(*db_, [&](storage::connection& conn) {
      pqxx::read_transaction tx(conn);
      auto r = tx.exec_params("SELECT url FROM calendar_subscription WHERE id = $1", id);
      return r.empty() ? std::string() : std::string(r[0][0].c_str());
    });
  }

  // Fetches, parses and applies one subscription (on a handler thread: it
  // blocks on the network). Failures are recorded as its lastError; the
  // imported events stay as they were. Returns the outcome, or nullopt on
  // failure (with `error` set).
  std::optional<import_result> refresh(const std::string& id, const std::string& url,
                                       std::string* error = nullptr) {
    if (url.empty()) return import_result{};
    http::fetch_request f;
    f.url = fetch_url(url);
    f.headers = {{"Accept", "text/calendar, */*;q=0.5"}};
    f.connect_timeout = fetch_timeout_;
    f.read_timeout = fetch_timeout_;
    f.body_limit = kMaxCalendarBytes;
    auto got = http::fetch(f);
    std::string problem;
    std::optional<parsed_calendar> cal;
    if (!got.ok)
      problem = got.error;
    else if (got.status < 200 || got.status > 299)
      problem = fmt::format("HTTP {}", got.status);
    else if (got.truncated)
      problem = fmt::format("calendar larger than {} bytes", kMaxCalendarBytes);
    if (problem.empty()) {
      try {
        read_limits limits;
        limits.now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
        cal = read_calendar(got.body, limits);
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
    if (!problem.empty()) {
      log::info("calendar subscription {}: {}", id, problem);
      storage::run_sync(*db_,
                        [&](storage::connection& conn) { record_failure(conn, id, problem); });
      if (error) *error = problem;
      return std::nullopt;
    }
    auto result = storage::run_sync(
        *db_, [&](storage::connection& conn) { return apply_import(conn, id, *cal); });
    // After the commit, as every write: the cache drops the household's
    // lists and the streams get the changes.
    if (auto* s = services_.load())
      for (const auto& e : result.events) s->actors.publish(e);
    return result;
  }

  std::string refresh_all() {
    auto subs = storage::run_sync(*db_, [](storage::connection& conn) {
      pqxx::read_transaction tx(conn);
      std::vector<std::pair<std::string, std::string>> out;
      for (const auto& r :
           tx.exec("SELECT id::text, url FROM calendar_subscription ORDER BY created, id"))
        out.emplace_back(r[0].c_str(), r[1].c_str());
      return out;
    });
    if (!services_.load()) return "not serving yet";
    std::size_t failed = 0;
    import_result total;
    for (const auto& [id, url] : subs) {
      std::string error;
      auto r = refresh(id, url, &error);
      if (!r) {
        ++failed;
        continue;
      }
      total.created += r->created;
      total.updated += r->updated;
      total.deleted += r->deleted;
    }
    return fmt::format("{} subscriptions, {} failed: {} events created, {} updated, {} deleted",
                       subs.size(), failed, total.created, total.updated, total.deleted);
  }

  storage::pool* db_ = nullptr;
  std::chrono::milliseconds fetch_timeout_{10'000};
  engine::topic<subscription_added> added_;
  std::atomic<api::services*> services_{nullptr};
};

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
       .doc = {.summary = "Subscribe a household to an external iCalendar URL (edit "
                          "permission); its events are imported read-only",
               .tag = "calendar",
               .request_schema = R"({"type":"object","additionalProperties":false,
                        "required":["authHouseholdID","url"],"properties":{
                        "authHouseholdID":{"type":"string","format":"uuid"},
                        "url":{"type":"string","format":"uri","maxLength":2048,
                          "description":"http, https or webcal, without user:password@"},
                        "name":{"type":"string","maxLength":200}}})",
               .data_type = kSubscription,
               .data_schema = kSubscriptionSchema,
               .success = 201}}};
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
          {.doc = {.summary = "The calendar subscriptions of the caller's households",
                   .tag = "calendar",
                   .data_type = kSubscription,
                   .data_schema = kSubscriptionSchema,
                   .query = {{"authHouseholdID", "only this household's subscriptions"}}}}};
}

// DELETE /api/v1/calendar/subscriptions/{id}: the subscription and its
// imported events (each with its delete event).
http::route delete_subscription(api::services& s) {
  return {"DELETE",
          std::string(kSubscriptionPath) + "/{id}",
          [&s](const http::request& req, http::responder respond) {
            auto id = req.params.at("id");
            if (!http::is_uuid(id))
              return respond(http::error(404, req.request_id, "CalendarSubscription not found"));
            api::run_authenticated(
                s, req, std::move(respond),
                [&s, id, rid = req.request_id](storage::connection& conn,
                                               const storage::principal& who) {
                  pqxx::work tx(conn);
                  auto sub = tx.exec_params(
                      "SELECT auth_household_id::text FROM calendar_subscription WHERE id = $1 "
                      "FOR UPDATE",
                      id);
                  if (sub.empty())
                    throw domain_error(errc::not_found, "CalendarSubscription not found");
                  const std::string household = sub[0][0].c_str();
                  require_edit(tx, who.account_id, household, "CalendarSubscription not found");
                  storage::lock_households(tx, {household});  // before the event rows' locks
                  std::vector<storage::change_event> events;
                  for (const auto& r : tx.exec_params(
                           "DELETE FROM calendar_event WHERE calendar_subscription_id = $1 "
                           "RETURNING id::text, hearth_ts(now())",
                           id))
                    events.push_back(storage::record_change(tx, household, "calendar_event",
                                                            r[0].c_str(), "delete", r[1].c_str()));
                  tx.exec_params0("DELETE FROM calendar_subscription WHERE id = $1", id);
                  tx.commit();
                  for (const auto& e : events) s.actors.publish(e);
                  return http::ok(200, rid, kSubscription, {});
                });
          },
          {.doc = {.summary = "Unsubscribe: the subscription and the events imported from it",
                   .tag = "calendar",
                   .data_type = kSubscription,
                   .data_schema = kSubscriptionSchema}}};
}

}  // namespace

api::module calendar_module() {
  auto state = std::make_shared<module_state>();
  return {.name = "calendar",
          .declare = [state](engine::registry& r, const config::config& cfg,
                             storage::pool& db) { state->declare(r, cfg, db); },
          .routes =
              [state](http::route_group& api, http::route_group&, api::services& s) {
                state->set_services(s);
                api.add(create_feed(s));
                api.add(read_feed_route(s));
                api.add(create_subscription(s, state));
                api.add(list_subscriptions(s));
                api.add(delete_subscription(s));
              }};
}

}  // namespace hearth::apps::calendar
