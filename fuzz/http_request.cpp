// Fuzzes the path of a request through the HTTP engine up to its handler,
// without a socket or a database: raw bytes (possibly several pipelined
// requests) → Beast's request parser with the server's body and header
// limits (http/http_session.hpp) → the engine's checks (http/dispatch.hpp:
// request and trace ids, target, route, negotiation) → the route's
// middleware (CORS with preflights, the cross-site check of cookie writes,
// rate and concurrency limits, Basic auth, virtual host) → a handler that validates what the real
// one validates before touching the database (table bodies through api/table_input.hpp, the JSON
// bodies of the other routes, path ids, query parameters, the Idempotency-Key header of keyed
// writes through http/idempotency_key.hpp and their fingerprint, the URLs of monitored sites and
// calendar subscriptions through http/url.hpp, the SSE Last-Event-ID cursor).
//
// The route table (fuzz/routes.hpp) mirrors the real server's: the API and
// operator groups, every controller's routes and the modules'; the table
// routes come from domain::household_tables() itself. An integration test
// (tests/integration/fuzz_routes_test.cpp) keeps it equal to the routes a
// running server documents.
//
// Invariants: every answer is one of the statuses the API documents, its
// envelope is valid JSON (RFC 8259: UTF-8) naming the request id, the
// responder is called exactly once, and nothing but http::input_error
// escapes a handler.

#include <simdjson.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "config/config.hpp"
#include "http/beast_request.hpp"
#include "http/dispatch.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "http/router.hpp"
#include "routes.hpp"

namespace {

using namespace hearth;
namespace bhttp = boost::beast::http;

const http::router& routes() {
  static const http::router r = fuzz::make_routes();
  return r;
}

// The statuses the engine, the middleware and these handlers may answer
// with (docs/api.md).
bool known_status(unsigned s) {
  static const std::set<unsigned> known = {200, 201, 204, 400, 401, 403, 404,
                                           405, 406, 413, 415, 429, 431, 503};
  return known.count(s) > 0;
}

void check_response(const http::response& r, const std::string& request_id) {
  FUZZ_CHECK(known_status(r.status));
  if (r.content_type != "application/json" || r.status == 204) return;
  // The envelope: one JSON object (simdjson validates UTF-8 too).
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  auto err = parser.parse(r.body).get(o);
  if (err) std::fprintf(stderr, "envelope: %s\n", r.body.c_str());
  FUZZ_CHECK(!err);
  std::string_view rid;
  FUZZ_CHECK(!o["requestID"].get(rid) && rid == request_id);
  std::int64_t status = 0;
  FUZZ_CHECK(!o["status"].get(status) && status == static_cast<std::int64_t>(r.status));
}

// The answer to a request Beast could not read, as http_session::on_read_error
// gives it (http/beast_request.hpp): 413, 431 or 400, or none.
void read_error(const boost::beast::error_code& ec, std::size_t body_limit) {
  if (auto refusal = http::read_refusal_of(ec, body_limit))
    check_response(http::error(refusal->status, "rid", refusal->message), "rid");
}

// One request as http_session::handle() builds it (request_of), routed
// (route_request) and handled (run_handler): the session's own functions.
void handle(bhttp::request<bhttp::string_body>& breq) {
  http::request req = http::request_of(breq);
  auto client_id = req.header("x-request-id");
  req.request_id =
      http::valid_client_request_id(client_id) ? std::string(client_id) : std::string(32, 'a');
  req.trace_id = http::trace_id_of(req.header("traceparent"));
  FUZZ_CHECK(req.trace_id.empty() || req.trace_id.size() == 32);
  req.remote_addr = "127.0.0.1";

  auto routed = http::route_request(routes(), req);
  if (routed.refusal) return check_response(*routed.refusal, req.request_id);
  FUZZ_CHECK(routed.matched != nullptr);
  req.body = std::move(breq.body());

  int calls = 0;
  http::response answer;
  http::responder respond = [&](http::response r) {
    ++calls;
    answer = std::move(r);
  };
  http::run_handler(*routed.matched, req, respond);  // http_session's own call
  FUZZ_CHECK(calls == 1);
  FUZZ_CHECK(answer.status != 500);  // no handler may throw anything but input_error
  check_response(answer, req.request_id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& defaults = config::defaults();
  const auto body_limit = static_cast<std::size_t>(defaults.body_limit_bytes);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Pipelined requests are read one after the other on a kept-alive
  // connection, each with a fresh parser (http_session::read_header).
  for (int n = 0; n < 4 && !input.empty(); ++n) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(static_cast<std::uint32_t>(defaults.header_limit_bytes));
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done() && !input.empty()) {
      auto used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
      input.remove_prefix(used);
      if (ec == bhttp::error::need_more) {
        ec = {};
        if (used == 0) break;  // the rest has not "arrived": the connection waits
        continue;
      }
      if (ec) break;
    }
    if (ec) return read_error(ec, body_limit), 0;
    if (!parser.is_done()) return 0;  // a partial request: the connection times out
    auto& breq = parser.get();
    const bool keep_alive = breq.keep_alive();
    handle(breq);
    if (!keep_alive) break;
  }
  return 0;
}
