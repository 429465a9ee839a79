#pragma once
// What the engine decides about a request once Beast has parsed it and
// before its route's handler runs (http/http_session.hpp's handle()): the
// request and trace ids, the target (path and query), the route (404/405)
// and content negotiation (406/415). No Beast and no socket here, so the
// same code runs under the fuzzer (fuzz/http_request.cpp).

#include <optional>
#include <string>
#include <string_view>

#include "http/router.hpp"
#include "http/types.hpp"

namespace hearth::http {

/// True for an X-Request-ID a client may choose: 1..128 bytes of
/// [A-Za-z0-9-_.:]. Others are replaced with a new id.
bool valid_client_request_id(std::string_view id);

/// The trace id (32 lower-case hex digits) of a W3C trace-context
/// `traceparent` (https://www.w3.org/TR/trace-context/, §3.2:
/// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), or "" when the
/// header is absent or invalid: read by trace::parse_traceparent, the one
/// parser of the header, so the logs' trace id and the spans agree.
std::string trace_id_of(std::string_view traceparent);

/// The outcome of route_request(): the route (set whenever one matched, also when
/// negotiation then refused it) and, when the request must not reach its
/// handler, the error envelope to answer with instead.
struct routed_request {
  const route* matched = nullptr;
  std::optional<response> refusal;  // 400, 404, 405 (with Allow), 406 or 415
};

/// Parses `req.target` (RFC 9112 §3.2.1 origin-form, with Boost.URL) into
/// `req.path` (percent-decoded) and `req.query`, finds the route of
/// `req.method` + path in `routes` and negotiates (http/negotiation.hpp).
/// On success fills `req.params`. Refusals: 400 for a malformed target or a
/// query parameter holding NUL (%00), 404 for no route, 405 for another
/// method, 406/415 from negotiate(). Uses `req.request_id` in the envelope.
routed_request route_request(const router& routes, request& req);

/// Runs the handler of `matched` for `req` (routed by route_request): an
/// http::input_error it throws is answered 400 with its message, any other
/// exception 500 with an empty message (logged at error with the request
/// id). The handler itself calls `respond` otherwise.
void run_handler(const route& matched, const request& req, const responder& respond);

}  // namespace hearth::http
