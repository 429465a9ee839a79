#pragma once
// The HTTP/1.1 engine on Boost.Beast (modelled on Beast's advanced_server):
// one session per TCP connection owning its socket, on its own strand;
// keep-alive; requests served strictly in order (pipelining-safe: the next
// request is read only after the previous response is written); explicit
// bounds on everything: header and body size (431/413), the time a whole
// request may take to arrive (slow clients), keep-alive idle time, and the
// frames queued on an SSE stream. Beast is included by server.cpp only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "http/router.hpp"

namespace hearth::http {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3000;  // 0 = any free port
  int threads = 2;
  std::size_t body_limit_bytes = 1 << 20;
  std::size_t header_limit_bytes = 16 << 10;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::size_t sse_queue_limit = 256;  // frames
};

class server {
 public:
  /// `routes` must outlive the server.
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

  /// Stops accepting, closes every connection and joins the threads. Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A new random request id (32 hex digits).
std::string new_request_id();

}  // namespace hearth::http
