#pragma once
// The HTTP/1.1 engine on Boost.Beast (modelled on Beast's advanced_server):
// one session per TCP connection owning its socket, on one I/O thread (one
// io_context per thread, so a session and the SSE stream it may become need
// no strand);
// keep-alive; requests served strictly in order (pipelining-safe: the next
// request is read only after the previous response is written); explicit
// bounds on everything: header and body size (431/413), the time a whole
// request may take to arrive (slow clients), keep-alive idle time, and the
// bytes queued on an SSE stream. Beast is included by http/server.cpp only
// (with http/http_session.hpp and http/sse_stream.hpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/fanout.hpp"
#include "http/ip_range.hpp"
#include "http/router.hpp"

namespace hearth::http {

/// One finished exchange (request and response, or the start of an SSE
/// stream), handed to server_options::on_exchange for access logs, the
/// request log and metrics. Engine errors (404, 413, 431, ...) included.
struct exchange_record {
  std::string method;
  std::string target;  // as sent, query included
  std::string route;   // the matched pattern ("/api/v1/shop/items/{id}"), "" when none
  std::string remote_addr;
  std::string user_agent;
  std::string referer;
  std::string request_id;
  std::string trace_id;  // W3C trace-context trace id (32 hex), from traceparent or new
  unsigned status = 0;
  std::size_t response_bytes = 0;  // body bytes
  std::chrono::system_clock::time_point started;
  std::chrono::microseconds duration{0};
  bool stream = false;  // an SSE stream started (duration = time to the header)
};

/// Live counts of the engine, for health and metrics.
struct server_stats {
  std::size_t open_connections = 0;
  std::size_t in_flight = 0;  // requests read and not yet answered
  std::size_t open_streams = 0;
  fanout_stats fanout;  // SSE fan-out: unsent bytes, frames, writes, drops
  /// Connections refused because their address held maxConnectionsPerAddress.
  std::uint64_t refused_per_address = 0;
};

/// The HTTP engine's configuration; defaults from config::defaults().
struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3000;  // 0 = any free port
  int threads =
      config::defaults().http_threads;  // I/O threads, one io_context and one fan-out shard each
  std::size_t body_limit_bytes = static_cast<std::size_t>(config::defaults().body_limit_bytes);
  std::size_t header_limit_bytes = static_cast<std::size_t>(config::defaults().header_limit_bytes);
  std::chrono::milliseconds idle_timeout{config::defaults().idle_timeout_ms};
  std::chrono::milliseconds request_timeout{config::defaults().request_timeout_ms};
  /// SSE streams: unsent-byte limit, stall limit, heartbeat (http/fanout.hpp).
  fanout_options fanout;
  /// Connections beyond this get a 503 envelope and are closed at once.
  std::size_t max_connections = static_cast<std::size_t>(config::defaults().max_connections);
  /// Connections (SSE streams included) of one TCP peer address beyond this
  /// get a 429 envelope with Retry-After and are closed at once; peers in
  /// trusted_proxies are not limited (their clients are judged by address
  /// on their SSE streams instead); 0 = no limit.
  std::size_t max_connections_per_address =
      static_cast<std::size_t>(config::defaults().max_connections_per_address);
  /// `retry:` hint (ms) sent to SSE clients when the server drains.
  unsigned sse_retry_ms = static_cast<unsigned>(config::defaults().sse_retry_ms);
  /// HTTPS (and SSE over HTTPS) when set: PEM certificate chain and key
  /// files (OpenSSL through Beast's ssl_stream; TLS 1.2+).
  std::string tls_cert_file;
  std::string tls_key_file;
  /// A listening TCP socket to adopt instead of binding host:port (inherited
  /// from the predecessor in a zero-downtime restart, or from systemd
  /// socket activation); -1 = bind.
  int listen_fd = -1;
  /// Proxies whose X-Forwarded-For names the client (request::remote_addr);
  /// empty: the TCP peer is the client.
  std::vector<ip_range> trusted_proxies;
  /// Called once per exchange on a network thread; must not block.
  std::function<void(const exchange_record&)> on_exchange;

  /// httpAddr (host, port), httpThreads, body/header limits, timeouts,
  /// maxConnections, sseRetryMs, TLS files, trustedProxies and the SSE keys
  /// of `cfg`. Throws config::config_error for a bad httpAddr or
  /// trustedProxies.
  static server_options from_config(const config::config& cfg);
};

class server {
 public:
  /// `routes` must outlive the server. Throws boost::system::system_error
  /// when the TLS certificate or key cannot be loaded.
  server(server_options options, const router& routes);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and listens without accepting yet (connections wait in the
  /// kernel's backlog), so the bound port is known before start(). Returns
  /// it. Idempotent. Throws boost::system::system_error when the address
  /// cannot be bound.
  std::uint16_t bind();

  /// Binds (if not yet), accepts and starts the network threads. Returns the
  /// bound port. Throws like bind().
  std::uint16_t start();

  /// Graceful first half of a stop: stops accepting, answers requests
  /// already read (their responses say `Connection: close`) for up to
  /// `deadline`, then sends every SSE client a final `retry:` hint and
  /// closes its stream. Blocks the caller (not a network thread).
  void drain(std::chrono::milliseconds deadline);

  /// Stops accepting, closes every connection and joins the threads. Idempotent.
  void stop();

  /// Readiness for a load balancer (GET /api/v1/ready): true until
  /// announce_drain() or drain(). announce_drain() changes nothing else: the
  /// node keeps accepting and serving while the balancer's checks see it
  /// go (serve waits drainNoticeMs between the two).
  bool ready() const;
  void announce_drain();

  server_stats stats() const;

  /// The SSE fan-out hub of this server's I/O threads (lives as long as the
  /// server).
  fanout_hub& fanout();
  const fanout_hub& fanout() const;

  /// The I/O threads' io_contexts, in thread index order
  /// (http::current_io_thread()); they live as long as the server.
  std::vector<boost::asio::io_context*> io_threads() const;

  /// The listening socket's descriptor (after bind()), to hand to a
  /// successor process; -1 before.
  int listen_fd() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A new random request id (32 hex digits).
std::string new_request_id();

}  // namespace hearth::http
