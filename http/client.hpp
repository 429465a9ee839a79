#pragma once
// A small synchronous HTTP/1.1 client for outgoing requests (the uptime
// monitor's probes and webhooks). One request per connection, http or https
// (TLS with peer and host name verification against the system's CA store,
// SNI), explicit connect and read timeouts, no redirects followed, a bounded
// response body. It blocks the calling thread: call it only from threads
// that may block (the engine's handler threads, a module's own pool), never
// from an HTTP or CAF thread. Network failures are results, not exceptions.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/outbound.hpp"  // which addresses a fetch may reach
#include "http/url.hpp"       // url_problem(): the URLs fetch() accepts

namespace hearth::http {

/// One outgoing request.
struct fetch_request {
  std::string method = "GET";
  /// An absolute http:// or https:// URL (url_problem(), http/url.hpp);
  /// the fragment is not sent.
  std::string url;
  /// Whose say-so the URL comes from: the policy of http/outbound.hpp for
  /// it decides which resolved addresses may be connected to. user (the
  /// default) refuses internal addresses; set operator_config only for URLs
  /// that only an operator can set.
  url_source source = url_source::user;
  /// Extra header fields. Host, Content-Length, Connection (close) and a
  /// default User-Agent are set by fetch().
  std::vector<std::pair<std::string, std::string>> headers;
  /// The request body ("" = none; Content-Length is sent when not empty or
  /// when the method is POST or PUT).
  std::string body;
  /// Name resolution, TCP connect and the TLS handshake must finish within
  /// this.
  std::chrono::milliseconds connect_timeout{5'000};
  /// Once connected, writing the request and reading the whole response
  /// must finish within this.
  std::chrono::milliseconds read_timeout{5'000};
  /// Response bodies are cut at this many bytes (`truncated` is then set).
  std::size_t body_limit = 1 << 20;
  /// With tracing on (trace/trace.hpp): a client span, child of this
  /// thread's current span (trace::current()) or a new trace, and its
  /// `traceparent` header sent (W3C trace-context §3). false: neither (the
  /// span exporter's own POSTs).
  bool traced = true;
};

/// What came back. `ok` means an HTTP response arrived (any status);
/// otherwise `error` says why not.
struct fetch_result {
  bool ok = false;
  unsigned status = 0;  // the response's status code (0 when !ok)
  std::string body;     // at most body_limit bytes
  bool truncated = false;
  /// "" when ok; else "invalid url: …", "refused address: <address>
  /// (<why>)", "timeout", "connection refused", "host not found",
  /// "connection reset", "tls: …" or another network error's description.
  /// Under a policy that conceals network errors (users' fetches) every
  /// failure but "invalid url: …" reads kConcealedNetworkError, and
  /// `detail` keeps the cause for the server's log.
  std::string error;
  std::string detail;  // the cause behind `error`, for logs only
  /// No resolved address of the host was allowed by the policy.
  bool refused_address = false;
  std::int64_t duration_ms = 0;  // from the call to its return, milliseconds
};

/// Performs `r` on the calling thread (a private io_context) and returns
/// the outcome. Never throws for invalid URLs, network, TLS or protocol
/// errors (they are results with ok = false); only std::bad_alloc and the
/// like escape.
fetch_result fetch(const fetch_request& r);

}  // namespace hearth::http
