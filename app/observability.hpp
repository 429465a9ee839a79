#pragma once
// observability: what the engine reports about every exchange, turned into
//   - the access log, Apache combined format (httpd's mod_log_config
//     "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""), to a
//     file or stdout (config accessLog);
//   - the request log: one line per request with request id and W3C trace
//     id, query secrets redacted (debug level; 5xx at warn);
//   - Prometheus metrics (prometheus-cpp registry + text serializer) at
//     GET /metrics: requests by route/method/status, latency histograms by
//     route, in-flight requests, connections, SSE streams, events delivered
//     and dropped, the notifier's mailbox, the database pool, the cluster.

#include <memory>
#include <string>

#include "http/middleware.hpp"
#include "http/server.hpp"

namespace hearth::api {
struct services;
}

namespace hearth::app {

using api::services;

class observability {
 public:
  /// `access_log`: "" (off), "stdout" or a file path (appended; throws
  /// std::runtime_error when it cannot be opened).
  explicit observability(const std::string& access_log);
  ~observability();
  observability(const observability&) = delete;
  observability& operator=(const observability&) = delete;

  /// The engine's exchange observer. Thread-safe, never blocks on I/O
  /// longer than a buffered write.
  void on_exchange(const http::exchange_record& r);

  /// The Prometheus text exposition (format 0.0.4) of every metric.
  std::string metrics_text(services& s, const http::server_stats& server) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// One access-log line (Apache combined format, no trailing newline).
std::string combined_log_line(const http::exchange_record& r);

/// `target` with the values of secret-looking query parameters (key, token,
/// password, secret, session, signature, code) replaced by "[redacted]",
/// and a calendar feed URL's token (/api/v1/calendar/feeds/[redacted]).
std::string redact_target(const std::string& target);

/// GET /metrics (operator group): metrics_text() of `obs`.
void add_metrics_routes(http::route_group& r, api::services& s, observability& obs);

}  // namespace hearth::app
