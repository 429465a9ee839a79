#pragma once
// Middleware: composable, ordered wrappers around route handlers, applied per
// route group (Tiger Tonic's handler-wrapping pattern). A middleware sees the
// request first; it either answers itself (403, 401, 429, 503, a CORS
// preflight) or calls `next`, possibly with a wrapped responder to observe or
// amend the response. Engine-wide concerns that must see every exchange,
// including 404/405/413 from the engine itself (request ids, access and
// request logs, metrics, traceparent), live in http/server.cpp's
// exchange_observer instead.
//
//   route_group api{routes, {cors(...), rate_limit(...), concurrency_limit(...)}};
//   api.add({"GET", "/api/v1/shop/items", handler});

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/router.hpp"
#include "http/types.hpp"

namespace hearth::http {

/// Runs around a handler: calls `next(req, respond)` to go on, or responds.
using middleware = std::function<void(const request& req, responder respond, const handler& next)>;

/// `h` wrapped by `chain`: chain[0] runs first, the handler last.
handler compose(const std::vector<middleware>& chain, handler h);

/// Routes added through a group get the group's middleware. When the chain
/// contains cors(), an OPTIONS route is added for each new pattern so that
/// preflights reach it.
class route_group {
 public:
  route_group(router& r, std::vector<middleware> chain, bool cors_preflight = false);
  /// Adds `r` with the group's middleware around its handler.
  void add(route r);

 private:
  router& router_;
  std::vector<middleware> chain_;
  bool cors_preflight_;
};

/// CORS (Fetch standard): requests with an `Origin` in `origins` get
/// Access-Control-Allow-Origin (the origin itself, with Allow-Credentials:
/// true, and Vary: Origin); with "*" any origin gets `*`, without credentials. A preflight (OPTIONS
/// with Access-Control-Request-Method) gets 204 with the allowed methods and headers and a
/// 10-minute max age. Others' requests pass without CORS headers (the browser then blocks them);
/// preflights from them get 403.
middleware cors(std::vector<std::string> origins);

/// Cross-site request forgery defence in depth (OWASP CSRF Prevention Cheat
/// Sheet, "Verifying Origin with standard headers"). An unsafe request (any
/// method but GET, HEAD, OPTIONS, TRACE: RFC 9110 §9.2.1) for which
/// `applies` holds (hearth: it is authenticated by the session cookie) must
/// come from a trusted origin: its `Origin` (RFC 6454 §7) or, without one,
/// the scheme://host[:port] of its `Referer` must be in `origins` (ASCII
/// case-insensitive; "*" grants nothing here) or have the request's `Host`
/// as its host[:port] (either scheme, so that a TLS-terminating proxy may sit
/// in front). Otherwise 403 naming the origin; `Origin: null` is refused.
/// With neither header: 403 when `require_header`, else the request passes
/// (non-browser clients; browsers send `Origin` on every unsafe request).
middleware same_origin_writes(std::vector<std::string> origins, bool require_header,
                              std::function<bool(const request&)> applies);

/// HTTP Basic authentication (RFC 7617) for operator endpoints: 401 with
/// `WWW-Authenticate: Basic realm="hearth"` unless the credentials match
/// (constant-time comparison). An empty password disables the check.
middleware basic_auth(std::string user, std::string password);

/// The operator routes' gate (/metrics, /api/v1/admin/*, the monitor's
/// operator routes). With a `password`: basic_auth(user, password). Without
/// one: the request passes only when `open` (operatorOpen) or when its
/// client (request::remote_addr, the real client behind a trusted proxy) is
/// a loopback address and it names no client that was not believed
/// (request::forwarded_untrusted: a proxy on this machine, not listed in
/// trustedProxies, would make every client look local); otherwise 403
/// naming operatorPassword. Security events: a failed Basic sign-in and a
/// refused remote client are logged at NOTICE with the request id and the
/// address (never the credentials).
middleware operator_access(std::string user, std::string password, bool open);

/// At most `limit` requests of the group in flight at once; beyond that 503
/// with `Retry-After: 1` (the request is not queued).
middleware concurrency_limit(std::size_t limit);

/// Per client IP token bucket: `per_second` requests/s sustained, bursts of
/// `burst`; beyond that 429 with `Retry-After` (whole seconds until a token
/// is free). Buckets idle for a minute are forgotten. per_second = 0 disables.
middleware rate_limit(double per_second, double burst);

/// Binds a group to a virtual host: requests whose `Host` (port ignored,
/// case-insensitive) is not `host` get 404, as if the route did not exist.
middleware require_host(std::string host);

/// Calls `respond` with `r` after adding `headers` to it.
responder with_headers(responder respond, std::vector<std::pair<std::string, std::string>> headers);

}  // namespace hearth::http
