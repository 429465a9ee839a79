// The import of subscribed calendars (apps/calendar/import.hpp): fetching
// a subscription's URL, applying the parsed calendar to its imported
// events, and the periodic refresh of every subscription.

#include "apps/calendar/import.hpp"

#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "apps/calendar/ical.hpp"
#include "config/logging.hpp"
#include "http/client.hpp"
#include "storage/events.hpp"
#include "storage/households.hpp"

namespace hearth::apps::calendar::detail {
namespace {

constexpr std::size_t kMaxCalendarBytes = 5u << 20;  // a subscribed calendar, at most

// The household's zone, and each all-day event's bounds moved from UTC
// midnight (as read_calendar gives them) to midnight in that zone: an
// all-day event is a local day (docs/calendar.md). One statement for all.
constexpr const char* kLocalMidnights =
    "SELECT d.n, hearth_ts((d.t::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE h.time_zone) "
    "FROM json_array_elements_text($1::json) WITH ORDINALITY AS d(t, n) "
    "JOIN auth_household h ON h.id = $2";

std::vector<imported_event> local_days(pqxx::transaction_base& tx, const std::string& household,
                                       std::vector<imported_event> events) {
  boost::json::array bounds;
  for (const auto& e : events)
    if (e.all_day) {
      bounds.emplace_back(e.starts_at);
      bounds.emplace_back(e.ends_at);
    }
  if (bounds.empty()) return events;
  std::vector<std::string> local(bounds.size());
  for (const auto& r : tx.exec_params(kLocalMidnights, boost::json::serialize(bounds), household))
    local.at(r[0].as<std::size_t>() - 1) = r[1].as<std::string>();
  std::size_t i = 0;
  for (auto& e : events)
    if (e.all_day) {
      e.starts_at = local.at(i++);
      e.ends_at = local.at(i++);
    }
  return events;
}

// Applies a fetched calendar to the subscription's imported events in one
// transaction: new keys are inserted, changed ones updated, missing ones
// deleted, each with its change event, published once committed (to
// `publish`). Nothing when the subscription is gone.
import_result apply_import(storage::connection& conn, const std::string& subscription_id,
                           const parsed_calendar& cal, const storage::event_sink& publish) {
  import_result out;
  storage::change_transaction change(conn, publish);
  auto& tx = change.tx();
  auto sub = tx.exec_params(
      "SELECT auth_household_id::text FROM calendar_subscription WHERE id = $1 FOR UPDATE",
      subscription_id);
  if (sub.empty()) return out;
  const std::string household = sub[0][0].c_str();
  // The household's lock before any event row's: every writer's order
  // (storage/group_commit.hpp, "Deadlocks").
  storage::lock_households(tx, {household});
  const auto events = local_days(tx, household, cal.events);
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
  for (const auto& e : events) {
    if (!seen.insert(e.key).second) continue;  // a duplicate UID: the first wins
    auto it = existing.find(e.key);
    if (it == existing.end()) {
      auto r = tx.exec_params1(
          "INSERT INTO calendar_event (auth_household_id, name, details, starts_at, ends_at, "
          "all_day, calendar_subscription_id, external_uid) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text, hearth_ts(updated)",
          household, e.name, e.details, e.starts_at, e.ends_at, e.all_day, subscription_id, e.key);
      change.record(household, "calendar_event", r[0].c_str(), "create", r[1].c_str());
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
    change.record(household, "calendar_event", x.id, "update", r[0].c_str());
    ++out.updated;
  }
  for (const auto& [key, x] : existing) {
    if (seen.count(key)) continue;
    auto r = tx.exec_params1("DELETE FROM calendar_event WHERE id = $1 RETURNING hearth_ts(now())",
                             x.id);
    change.record(household, "calendar_event", x.id, "delete", r[0].c_str());
    ++out.deleted;
  }
  tx.exec_params0(
      "UPDATE calendar_subscription SET last_fetched = now(), last_error = NULL, "
      "name = CASE WHEN name = '' THEN $2 ELSE name END, updated = now() WHERE id = $1",
      subscription_id, cal.name);
  change.commit();
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

}  // namespace

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string fetch_url(std::string url) {
  if (lower(url.substr(0, 9)) == "webcal://") url = "https://" + url.substr(9);
  return url;
}

void module_state::declare(engine::registry& r, const config::config& cfg, storage::pool& db) {
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

std::string module_state::url_of(const std::string& id) {
  return storage::run_sync(*db_, [&](storage::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto r = tx.exec_params("SELECT url FROM calendar_subscription WHERE id = $1", id);
    return r.empty() ? std::string() : std::string(r[0][0].c_str());
  });
}

std::optional<import_result> module_state::refresh(const std::string& id, const std::string& url,
                                                   std::string* error) {
  if (url.empty()) return import_result{};
  http::fetch_request f;
  f.url = fetch_url(url);
  f.headers = {{"Accept", "text/calendar, */*;q=0.5"}};
  f.connect_timeout = fetch_timeout_;
  f.read_timeout = fetch_timeout_;
  f.body_limit = kMaxCalendarBytes;
  auto got = http::fetch(f);  // a user's URL: internal addresses are refused
  std::string problem;
  std::optional<parsed_calendar> cal;
  if (got.refused_address)
    log::notice("security: outgoing fetch refused: calendar subscription {}: {}", id, got.detail);
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
    log::info("calendar subscription {}: {}", id, got.detail.empty() ? problem : got.detail);
    storage::run_sync(*db_, [&](storage::connection& conn) { record_failure(conn, id, problem); });
    if (error) *error = problem;
    return std::nullopt;
  }
  // Published at its commit, as every write: the cache drops the
  // household's lists and the streams get the changes. Before the routes
  // are served there is no one to tell (the notifier's sweep finds them).
  const auto* s = services_.load();
  const storage::event_sink none;
  return storage::run_sync(*db_, [&](storage::connection& conn) {
    return apply_import(conn, id, *cal, s ? s->writes.publisher() : none);
  });
}

std::string module_state::refresh_all() {
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

}  // namespace hearth::apps::calendar::detail
