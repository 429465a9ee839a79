#pragma once
// What the HTTP engine's sessions, SSE streams and listener share (internal
// to the engine: included by http/server.cpp, http/http_session.hpp and
// http/sse_stream.hpp only; Beast stays in those).

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "config/logging.hpp"
#include "http/server.hpp"

namespace hearth::http::detail {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

/// A connection the drain must reach: idle keep-alive connections are
/// closed, connections that have not sent their first request yet are still
/// served.
struct drainable {
  virtual ~drainable() = default;
  virtual void drain(bool force) = 0;  // thread-safe
};

/// Live counts of one server, its open sessions (for the drain) and the
/// exchange observer.
struct engine_state {
  explicit engine_state(const server_options& o) : options(o) {}
  const server_options& options;
  std::atomic<std::size_t> open_connections{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> open_streams{0};
  std::atomic<bool> draining{false};
  std::atomic<bool> drain_announced{false};  // readiness is off (server::announce_drain)
  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<drainable>> sessions;

  void remember(std::weak_ptr<drainable> one) {
    std::lock_guard lock(sessions_mutex);
    if (sessions.size() >= 64 && sessions.size() == sessions.capacity())  // amortised O(1)
      std::erase_if(sessions, [](auto& w) { return w.expired(); });
    sessions.push_back(std::move(one));
  }

  void observe(const exchange_record& r) const {
    if (!options.on_exchange) return;
    try {
      options.on_exchange(r);
    } catch (const std::exception& e) {
      log::warn("http: exchange observer failed: {}", e.what());
    }
  }
};

inline bool expected_close(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
         ec == beast::error::timeout || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe;
}

/// The lowest layer (TCP, with its timer) of a plain or TLS stream.
template <class Stream>
beast::tcp_stream& tcp_of(Stream& s) {
  return beast::get_lowest_layer(s);
}

template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

/// The socket of an SSE stream's transport: a bare socket (plain TCP; the
/// stream needs no timers of Beast's tcp_stream, which saves their memory
/// on every idle stream) or a TLS stream.
inline tcp::socket& socket_of(tcp::socket& s) { return s; }
inline tcp::socket& socket_of(tls_stream& s) { return beast::get_lowest_layer(s).socket(); }

}  // namespace hearth::http::detail
