// Fuzzes the path of a request through the HTTP engine up to its handler,
// without a socket or a database: raw bytes (possibly several pipelined
// requests) → Beast's request parser with the server's body and header
// limits (http/http_session.hpp) → the engine's checks (http/dispatch.hpp:
// request and trace ids, target, route, negotiation) → the route's
// middleware (CORS with preflights, the cross-site check of cookie writes,
// rate and concurrency limits, Basic auth, virtual host) → a handler that validates what the real
// one validates before touching the database (table bodies through api/table_input.hpp, the JSON
// bodies of the other routes, path ids, list query parameters, the SSE Last-Event-ID cursor).
//
// The route table mirrors api/routes.cpp (the API and operator groups, the
// routes of every controller and of the uptime and calendar modules,
// /metrics); the table routes come from domain::household_tables() itself.
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
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/table_input.hpp"
#include "check.hpp"
#include "config/config.hpp"
#include "domain/tables.hpp"
#include "http/dispatch.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "http/middleware.hpp"
#include "http/router.hpp"
#include "http/sse.hpp"

namespace {

using namespace hearth;
namespace bhttp = boost::beast::http;

// What a controller reads from a JSON body before any database work: the
// fields with their byte limits (api/auth_api.cpp, api/household_api.cpp,
// apps/uptime/routes.cpp).
struct field {
  const char* name;
  std::size_t min, max;
  bool required = true;
};

http::handler json_body(std::vector<field> fields) {
  return [fields](const http::request& req, http::responder respond) {
    http::json_object_reader in(req.body);
    for (const auto& f : fields) in.string(f.name, f.required, f.min, f.max);
    in.reject_unknown();
    respond(http::ok(200, req.request_id, "Fuzz", {}));
  };
}

http::handler no_body() {
  return [](const http::request& req, http::responder respond) {
    respond(http::ok(200, req.request_id, "Fuzz", {}));
  };
}

// A path id: not a UUID is 404 (api/table_api.cpp, row_id).
bool path_uuid(const http::request& req, const http::responder& respond) {
  if (http::is_uuid(req.params.at("id"))) return true;
  respond(http::error(404, req.request_id, "not found"));
  return false;
}

void add_table(http::route_group& g, const storage::table_spec& t) {
  g.add({"GET", t.path, [](const http::request& req, http::responder respond) {
           if (auto it = req.query.find("authHouseholdID"); it != req.query.end())
             if (!http::is_uuid(it->second))
               throw http::input_error("authHouseholdID: must be a UUID");
           if (auto it = req.query.find("updatedAfter"); it != req.query.end())
             if (!http::utc_timestamp(it->second))
               throw http::input_error("updatedAfter: must be an RFC 3339 UTC time");
           respond(http::ok(200, req.request_id, "Fuzz", {}));
         }});
  g.add({"POST",
         t.path,
         [&t](const http::request& req, http::responder respond) {
           auto in = api::read_create_body(req.body, t);
           FUZZ_CHECK(http::is_uuid(in.household));
           respond(http::ok(201, req.request_id, t.data_type, {}));
         },
         {.json_body = true}});
  g.add({"GET", t.path + "/{id}", [](const http::request& req, http::responder respond) {
           if (path_uuid(req, respond)) respond(http::ok(200, req.request_id, "Fuzz", {}));
         }});
  g.add({"PUT",
         t.path + "/{id}",
         [&t](const http::request& req, http::responder respond) {
           if (!path_uuid(req, respond)) return;
           auto u = api::read_update_body(req.body, t, req.params.at("id"));
           FUZZ_CHECK(!u.values.empty() || u.household);
           respond(http::ok(200, req.request_id, t.data_type, {}));
         },
         {.json_body = true}});
  g.add({"DELETE", t.path + "/{id}", [](const http::request& req, http::responder respond) {
           if (path_uuid(req, respond)) respond(http::ok(200, req.request_id, "Fuzz", {}));
         }});
}

http::router make_routes() {
  http::router r;
  // The API group as configured with corsOrigins and a rate limit. The
  // cross-site check applies to cookie-authenticated requests
  // (api::cookie_authenticated: a hearth_session cookie and no bearer key).
  std::vector<std::string> origins = {"https://app.example", "http://localhost:8080"};
  auto cookie_authenticated = [](const http::request& req) {
    return req.header("authorization").substr(0, 7) != "Bearer " &&
           req.header("cookie").find("hearth_session=") != std::string_view::npos;
  };
  http::route_group api(
      r,
      {http::cors(origins), http::same_origin_writes(origins, false, cookie_authenticated),
       http::rate_limit(1e9, 1e9), http::concurrency_limit(1024)},
      true);
  api.add({"POST",
           "/api/v1/auth/signup",
           json_body({{"emailAddress", 3, 254}, {"password", 8, 1024}, {"name", 1, 200}}),
           {.json_body = true}});
  api.add({"POST",
           "/api/v1/auth/signin",
           json_body({{"emailAddress", 1, 254}, {"password", 1, 1024}}),
           {.json_body = true}});
  api.add({"DELETE", "/api/v1/auth/signin", no_body()});
  api.add({"GET", "/api/v1/auth/accounts/me", no_body()});
  api.add({"POST", "/api/v1/auth/households", json_body({{"name", 1, 200}}), {.json_body = true}});
  api.add({"GET", "/api/v1/auth/households", no_body()});
  api.add({"POST",
           "/api/v1/auth/households/{id}/members",
           [](const http::request& req, http::responder respond) {
             if (!path_uuid(req, respond)) return;
             json_body({{"emailAddress", 1, 254}, {"permissions", 1, 10}})(req, respond);
           },
           {.json_body = true}});
  for (const auto* t : domain::household_tables()) add_table(api, *t);
  api.add({"GET",
           "/api/v1/sse",
           [](const http::request& req, http::responder respond) {
             if (auto last = req.header("last-event-id"); !last.empty())
               if (!http::sse::decode_cursor(last))
                 throw http::input_error("Last-Event-ID: not a cursor sent by this server");
             respond(http::ok(200, req.request_id, "Fuzz", {}));
           },
           {.produces = "text/event-stream"}});
  // The iCalendar module (apps/calendar).
  api.add({"POST",
           "/api/v1/calendar/feeds",
           json_body({{"authHouseholdID", 1, 64}}),
           {.json_body = true}});
  api.add({"GET", "/api/v1/calendar/feeds/{token}", no_body(), {.produces = "text/calendar"}});
  api.add({"POST",
           "/api/v1/calendar/subscriptions",
           json_body({{"authHouseholdID", 1, 64}, {"url", 1, 2048}, {"name", 0, 200, false}}),
           {.json_body = true}});
  api.add({"GET", "/api/v1/calendar/subscriptions", no_body()});
  api.add({"DELETE", "/api/v1/calendar/subscriptions/{id}", no_body()});
  api.add({"GET", "/api/v1/health", no_body()});
  api.add({"GET", "/api/docs", no_body()});
  api.add({"GET", "/api/docs/ui", no_body(), {.produces = "text/html"}});
  api.add({"GET", "/", no_body(), {.produces = "text/html"}});
  api.add({"GET", "/index.html", no_body(), {.produces = "text/html"}});
  api.add({"GET", "/app.js", no_body(), {.produces = "text/javascript"}});
  api.add({"GET", "/style.css", no_body(), {.produces = "text/css"}});
  api.add({"GET", "/monitor", no_body(), {.produces = "text/html"}});
  api.add({"GET", "/monitor.html", no_body(), {.produces = "text/html"}});
  api.add({"GET", "/monitor.js", no_body(), {.produces = "text/javascript"}});
  api.add({"GET", "/monitor.css", no_body(), {.produces = "text/css"}});
  // The uptime status page's data (apps/uptime/status.cpp; public by default).
  api.add({"GET", "/api/v1/monitor/status", no_body()});
  api.add({"GET", "/api/v1/monitor/status/events", no_body()});

  // The operator group (Basic auth) with the uptime module's routes.
  http::route_group ops(r, {http::basic_auth("operator", "fuzz-secret")});
  ops.add({"GET", "/api/v1/admin/cron", no_body()});
  ops.add({"GET", "/metrics", no_body(), {.produces = "text/plain"}});
  ops.add({"POST", "/api/v1/monitor/sites", json_body({{"url", 1, 2048}}), {.json_body = true}});
  ops.add({"GET", "/api/v1/monitor/sites", no_body()});
  ops.add({"DELETE", "/api/v1/monitor/sites/{id}", no_body()});
  ops.add({"POST", "/api/v1/monitor/check/{siteID}", no_body()});
  ops.add({"POST", "/api/v1/monitor/check-all", no_body()});

  // A virtual host group (http::require_host, for modules bound to a host).
  http::route_group vhost(r, {http::require_host("Admin.Example")});
  vhost.add({"GET", "/vhost/{name}", no_body()});
  return r;
}

const http::router& routes() {
  static const http::router r = make_routes();
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

// The answer to a request Beast could not read (http_session::on_read_error):
// 413, 431 or 400; other errors (a partial message) close the connection.
void read_error(const boost::beast::error_code& ec, std::size_t body_limit) {
  unsigned status = 0;
  std::string message;
  if (ec == bhttp::error::body_limit) {
    status = 413;
    message = "request body larger than " + std::to_string(body_limit) + " bytes";
  } else if (ec == bhttp::error::header_limit) {
    status = 431;
  } else if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
    status = 400;
    message = "malformed HTTP request: " + ec.message();
  }
  if (status) check_response(http::error(status, "rid", message), "rid");
}

// One request as http_session::handle() builds it, then dispatched and handled.
void handle(bhttp::request<bhttp::string_body>& breq) {
  http::request req;
  req.method = std::string(breq.method_string());
  req.target = std::string(breq.target());
  for (const auto& f : breq) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
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
  try {
    routed.matched->run(req, respond);
  } catch (const http::input_error& e) {
    respond(http::error(400, req.request_id, e.what()));
  }
  FUZZ_CHECK(calls == 1);
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
