#pragma once
// Inside the uptime monitor (apps/uptime/monitor.hpp): the module's state,
// shared by apps/uptime/monitor.cpp (declare, check, notify) and
// apps/uptime/routes.cpp (the operator API under /api/v1/monitor).
// Private to the hearth_uptime library.

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apps/uptime/monitor.hpp"
#include "apps/uptime/status.hpp"
#include "http/client.hpp"
#include "http/envelope.hpp"

namespace hearth::apps::uptime::detail {

// The envelope's dataType of a site and of a check.
inline constexpr const char* kSite = "MonitorSite";
inline constexpr const char* kCheck = "MonitorCheck";

inline constexpr const char* kListSites =
    "SELECT id::text, url, state, hearth_ts(last_checked), hearth_ts(created) "
    "FROM uptime_site ORDER BY created, id";

/// 503: the module's state is gone (shutting down) or never started.
http::response not_running(const std::string& rid);

struct site {
  std::string id;
  std::string url;
};

struct check_outcome {
  std::string site_id;
  std::string url;
  bool up = false;
  std::optional<int> status;  // nullopt when no response came
  std::string error;          // "" when a response came
  std::int64_t duration_ms = 0;
  std::string checked_at;
  std::optional<std::string> transition;  // the new state when it changed
};

// The module's state, shared by its declaration, its handlers and its routes.
class monitor : public std::enable_shared_from_this<monitor> {
 public:
  // Stops the probe threads: probes under way finish, queued ones are dropped.
  ~monitor();

  /// The topic, the webhook subscription and the cron job.
  void declare(engine::registry& r, const config::config& cfg, storage::pool& db);

  /// POST /check/{siteID}: load, probe and record on a probe thread.
  void check_one(std::string id, std::string rid, http::responder respond);

  /// POST /check-all: list on the database pool, probe on the probe threads,
  /// respond from the last probe.
  void check_all(std::string rid, http::responder respond);

  /// GET /ping?url=: probes `url` once on a probe thread, as a user's fetch
  /// (the address check of http/outbound.hpp applies), and records nothing.
  /// At most kMaxPings at once per node: 429 beyond.
  void ping(std::string url, std::string rid, http::responder respond);
  static constexpr int kMaxPings = 16;

  /// POST /test-notification: posts a test text to the webhook now, on a
  /// probe thread (not through Pub/Sub: no retries, nothing recorded), and
  /// answers with the webhook's status. 409 when no webhook is configured.
  void test_notification(std::string rid, http::responder respond);

  /// Starts the status page's feed on `hub` (after declare()); the status
  /// routes hold it weakly (apps/uptime/status.hpp).
  std::weak_ptr<status_feed> serve_status(http::fanout_hub& hub);

 private:
  using batch_done = std::function<void(std::vector<check_outcome>, std::exception_ptr)>;

  check_outcome check(const site& s);
  void record(storage::connection& conn, check_outcome& c);
  void check_sites(std::vector<site> sites, batch_done done);
  std::string check_all();
  void notify(const engine::message_info& m, const site_transition& t);
  /// A GET of `url` with the probe's timeouts (connect and read: the
  /// probe timeout) and body limit (64 KiB).
  http::fetch_request probe_request(const std::string& url, http::url_source source) const;
  /// A POST of `{"text": text}` to the webhook URL (set), with the probe's
  /// limits and `X-Hearth-Message-ID: message_id`.
  http::fetch_request webhook_request(const std::string& text, const std::string& message_id) const;

  storage::pool* db_ = nullptr;
  std::chrono::milliseconds probe_timeout_{5'000};
  std::optional<std::string> webhook_url_;
  std::once_flag no_webhook_logged_;
  std::unique_ptr<boost::asio::thread_pool> probes_;
  engine::topic<site_transition> transitions_;
  std::chrono::milliseconds status_poll_{1'000};
  std::shared_ptr<status_feed> status_;  // stopped before the probe threads
  std::atomic<int> pings_{0};            // under way
};

/// The routes under /api/v1/monitor: the operator API in `ops`, the status
/// routes in `open` (the API group) when uptimeStatusPublic (else in `ops`). They outlive the
/// module's state (the router is destroyed after the database pool, the
/// state before it): they hold it weakly.
void routes(http::route_group& open, http::route_group& ops, api::services& s,
            std::weak_ptr<monitor> state);

}  // namespace hearth::apps::uptime::detail
