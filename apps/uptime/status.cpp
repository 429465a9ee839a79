// The uptime monitor's status page data (apps/uptime/status.hpp): the
// snapshot, the feed of new checks to SSE streams, and their two routes.

#include "apps/uptime/status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <limits>
#include <optional>
#include <pqxx/pqxx>

#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/sse.hpp"

namespace hearth::apps::uptime::detail {
namespace {

namespace json = boost::json;

// Each site with its latest check (the index uptime_check_site serves the
// lateral lookup). Columns: site id, url, then the check's id, up,
// checked_at, duration_ms, status, error (all NULL before the first check).
constexpr const char* kSelectStatus =
    "SELECT s.id::text, s.url, c.id, c.up, hearth_ts(c.checked_at), c.duration_ms, c.status, "
    "c.error FROM uptime_site s LEFT JOIN LATERAL ("
    "SELECT id, up, checked_at, duration_ms, status, error FROM uptime_check "
    "WHERE site_id = s.id ORDER BY checked_at DESC, id DESC LIMIT 1) c ON true "
    "ORDER BY s.created, s.id";
// The largest settled check id: a backward scan of the primary key over the
// last kSettle seconds of checks only.
constexpr const char* kSelectFloor =
    "SELECT coalesce((SELECT id FROM uptime_check "
    "WHERE checked_at < now() - $1 * interval '1 second' ORDER BY id DESC LIMIT 1), 0)";
// Checks after $1 with their site (deleted sites' checks are gone with
// them), in id order, a page at a time; `settled` as in kSelectFloor.
// Columns: the check's id, up, checked_at, duration_ms, status, error, then
// its site's id and url, then `settled`.
constexpr const char* kSelectChecks =
    "SELECT c.id, c.up, hearth_ts(c.checked_at), c.duration_ms, c.status, c.error, "
    "c.site_id::text, s.url, c.checked_at < now() - $2 * interval '1 second' "
    "FROM uptime_check c JOIN uptime_site s ON s.id = c.site_id "
    "WHERE c.id > $1 ORDER BY c.id LIMIT $3";
constexpr int kPageRows = 1000;
constexpr int kMaxPages = 10;  // per poll; the rest waits for the next one

constexpr const char* kStatusSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},
  "url":{"type":"string","format":"uri"},
  "state":{"type":"string","enum":["up","down"],"nullable":true,
    "description":"the latest check's result; null before the first check"},
  "lastChecked":{"type":"string","format":"date-time","nullable":true},
  "latencyMs":{"type":"integer","nullable":true,"description":"the latest check's duration"},
  "status":{"type":"integer","nullable":true,
    "description":"the latest check's HTTP status; null when no response came"},
  "error":{"type":"string","nullable":true,
    "description":"why no response came: timeout, connection refused, ..."}}})";

template <class T>
json::value nullable(const pqxx::field& f) {
  return f.is_null() ? json::value(nullptr) : json::value(f.as<T>());
}

// A MonitorStatus from a site (`site`, `url`) and its check in columns
// first..first+5 of `r` (id, up, checked_at, duration_ms, status, error).
json::object status_json(const pqxx::row& r, int site, int url, int first) {
  const bool checked = !r[first].is_null();
  json::value state = nullptr;
  if (checked) state = r[first + 1].as<bool>() ? "up" : "down";
  return {{"id", r[site].as<std::string>()},
          {"url", r[url].as<std::string>()},
          {"state", state},
          {"lastChecked", nullable<std::string>(r[first + 2])},
          {"latencyMs", nullable<std::int64_t>(r[first + 3])},
          {"status", nullable<std::int64_t>(r[first + 4])},
          {"error", nullable<std::string>(r[first + 5])}};
}

}  // namespace

status_snapshot read_status(storage::connection& conn) {
  // One snapshot of the database for both statements.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  status_snapshot out;
  for (const auto& r : tx.exec(kSelectStatus)) {
    out.sites.push_back(status_json(r, 0, 1, 2));
    if (!r[2].is_null()) out.latest.emplace(r[0].as<std::string>(), r[2].as<std::int64_t>());
  }
  out.floor = tx.exec_params1(kSelectFloor, kSettle.count())[0].as<std::int64_t>();
  tx.commit();
  return out;
}

// ---------------------------------------------------------------------------
// The feed.

struct status_feed::check_row {
  std::int64_t id = 0;
  std::string site_id;
  bool settled = false;
  std::shared_ptr<const std::string> frame;  // "event: check\ndata: <MonitorStatus>\n\n"
};

status_feed::status_feed(storage::pool& db, http::fanout_hub& hub, std::chrono::milliseconds poll)
    : db_(db), hub_(hub), poll_(poll) {
  thread_ = std::thread([this] { run(); });
}

status_feed::~status_feed() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::function<void()> status_feed::open(http::stream_ref s,
                                        std::unordered_map<std::string, std::int64_t> latest,
                                        std::int64_t floor) {
  std::uint64_t key = 0;
  {
    std::lock_guard lock(mutex_);
    key = ++next_key_;
    streams_.emplace(key, stream{s, std::move(latest), floor});
  }
  wake_.notify_all();
  // The stream's callback may outlive the feed (the server drops it at stop).
  return [weak = weak_from_this(), key] {
    if (auto self = weak.lock()) {
      std::lock_guard lock(self->mutex_);
      self->streams_.erase(key);
    }
  };
}

std::size_t status_feed::streams() const {
  std::lock_guard lock(mutex_);
  return streams_.size();
}

// The poll thread: idle without streams; otherwise one read per period.
void status_feed::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !streams_.empty(); });
    if (stopping_) return;
    if (wake_.wait_for(lock, poll_, [this] { return stopping_; })) return;
    if (streams_.empty()) continue;
    std::int64_t from = std::numeric_limits<std::int64_t>::max();
    for (const auto& [key, st] : streams_) from = std::min(from, st.floor);
    lock.unlock();

    std::vector<check_row> rows;
    std::int64_t settled = from;
    try {
      storage::run_sync(db_, [&](storage::connection& conn) {
        rows.clear();
        settled = from;
        pqxx::read_transaction tx(conn);
        std::int64_t after = from;
        for (int page = 0; page < kMaxPages; ++page) {
          auto result = tx.exec_params(kSelectChecks, after, kSettle.count(), kPageRows);
          for (const auto& r : result) {
            check_row c;
            c.id = r[0].as<std::int64_t>();
            c.site_id = r[6].as<std::string>();
            c.settled = r[8].as<bool>();
            if (c.settled) settled = std::max(settled, c.id);
            c.frame = std::make_shared<const std::string>(
                http::sse::event_body("check", json::serialize(status_json(r, 6, 7, 0))));
            after = c.id;
            rows.push_back(std::move(c));
          }
          if (result.size() < static_cast<std::size_t>(kPageRows)) break;
        }
        tx.commit();
      });
    } catch (const std::exception& e) {
      lock.lock();
      if (!std::exchange(failing_, true))
        log::warn("uptime status: reading new checks failed ({}); retrying every {} ms", e.what(),
                  poll_.count());
      continue;
    }
    lock.lock();
    if (std::exchange(failing_, false)) log::info("uptime status: reading checks again");
    dispatch(rows, from, settled);
  }
}

// Under mutex_: each stream covered by this read (floor ≥ `from`; one
// registered meanwhile with a lower floor waits for the next read) gets the
// rows newer than its latest of their site, in one send, and its floor
// rises to `settled`.
void status_feed::dispatch(const std::vector<check_row>& rows, std::int64_t from,
                           std::int64_t settled) {
  for (auto& [key, st] : streams_) {
    if (st.floor < from) continue;
    std::shared_ptr<const std::string> one;
    std::string many;
    std::size_t count = 0;
    for (const auto& c : rows) {
      auto& last = st.latest[c.site_id];
      if (c.id <= last) continue;
      last = c.id;
      if (count++ == 0) {
        one = c.frame;
      } else {
        if (count == 2) many = *one;
        many += *c.frame;
      }
    }
    if (count == 1) hub_.send(st.ref, std::move(one));
    if (count > 1) hub_.send(st.ref, std::make_shared<const std::string>(std::move(many)));
    st.floor = std::max(st.floor, settled);
  }
}

// ---------------------------------------------------------------------------
// The routes.

void status_routes(http::route_group& group, api::services& s, std::weak_ptr<status_feed> feed) {
  const std::string auth = s.cfg.uptime_status_public ? "none" : "operator";
  group.add({"GET",
             "/api/v1/monitor/status",
             [&s](const http::request& req, http::responder respond) {
               api::run_db(s, req, std::move(respond),
                           [rid = req.request_id](storage::connection& conn) {
                             return http::ok(200, rid, kStatus, read_status(conn).sites);
                           });
             },
             {.doc = {.summary = "Every monitored site's status: up or down, its last check and "
                                 "latency (the status page's data)",
                      .tag = "monitor",
                      .auth = auth,
                      .data_type = kStatus,
                      .data_schema = kStatusSchema}}});
  group.add(
      {"GET",
       "/api/v1/monitor/status/events",
       [&s, feed](const http::request& req, http::responder respond) {
         if (feed.expired())
           return respond(http::error(503, req.request_id, "the uptime monitor is not running"));
         api::run_db(s, req, std::move(respond), [&s, feed](storage::connection& conn) {
           auto snap = read_status(conn);
           http::response r;
           auto prelude = http::sse::retry_frame(static_cast<unsigned>(s.cfg.sse_retry_ms));
           prelude += http::sse::event_body("snapshot", json::serialize(snap.sites));
           r.sse = http::sse_response{{},
                                      std::move(prelude),
                                      [feed, latest = std::move(snap.latest), floor = snap.floor](
                                          http::stream_ref ref) -> std::function<void()> {
                                        auto self = feed.lock();
                                        if (!self) return {};
                                        return self->open(ref, latest, floor);
                                      }};
           return r;
         });
       },
       {.produces = "text/event-stream",
        .doc = {.summary = "Live status (Server-Sent Events): `snapshot` (every site's "
                           "MonitorStatus) first, then `check` (one site's) per new check",
                .tag = "monitor",
                .auth = auth}}});
}

}  // namespace hearth::apps::uptime::detail
