#pragma once
// The request/response vocabulary between the HTTP engine (http/server.cpp,
// the only place that knows Beast) and the handlers. Handlers never see a
// socket: they get a parsed request and a responder to call exactly once,
// from any thread.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/fanout.hpp"
#include "trace/trace.hpp"

namespace hearth::http {

/// One parsed request.
struct request {
  std::string method;                         // "GET", "POST", ...
  std::string target;                         // as sent: path and query
  std::string path;                           // percent-decoded path
  std::map<std::string, std::string> query;   // percent-decoded query parameters
  std::map<std::string, std::string> params;  // path parameters from the route ({id})
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string request_id;  // from X-Request-ID or generated
  std::string trace_id;    // W3C traceparent's trace id, or a new one
  trace::context trace;    // the server span (trace/trace.hpp); invalid when tracing is off
  /// The client's IP address: the TCP peer's, or, when the peer is a
  /// trusted proxy (server_options::trusted_proxies), the client its
  /// X-Forwarded-For names (forwarded_client(), http/ip_range.hpp).
  std::string remote_addr;
  std::string peer_addr;  // the TCP peer's IP address (the client, or its proxy)
  /// The request names a client of its own (X-Forwarded-For, Forwarded or
  /// X-Real-IP) that was not believed: its peer is no trusted proxy. The
  /// operator routes' loopback check refuses such a request, since a proxy
  /// on this machine would make every client look local.
  bool forwarded_untrusted = false;
  bool tls = false;  // arrived over TLS (https)

  /// The first header of that (lower-case) name, or "".
  std::string_view header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
      if (k == lower_name) return v;
    return {};
  }
};

/// What turns a response into an SSE stream (http/fanout.hpp): the engine
/// writes the status line and headers (chunked, text/event-stream), then
/// `prelude` (e.g. sse::retry_frame), then a `resync` event for each start
/// that asks for one, and calls `on_open` with the stream's name on its I/O
/// thread. `on_open` returns what to run (on that thread) when the stream
/// ends. Events reach the stream through the hub.
struct sse_response {
  std::vector<sse::stream_start> start;
  std::string prelude;
  std::function<std::function<void()>(stream_ref)> on_open;
};

/// One response; with `sse` set, an SSE stream instead of `body`.
struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<sse_response> sse;
};

/// Completes a request. Thread-safe; call exactly once.
using responder = std::function<void(response)>;

/// A route's handler. Runs on a network thread: it validates and then hands
/// database work to the storage pool. An http::input_error it throws becomes
/// a 400, any other exception a 500; both in the envelope.
using handler = std::function<void(const request&, responder)>;

}  // namespace hearth::http
