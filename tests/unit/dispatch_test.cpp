// The engine's checks before a handler (http/dispatch.hpp): request and
// trace ids, the target, routing and negotiation, and the error envelope
// they answer with.

#include "http/dispatch.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <stdexcept>

#include "http/envelope.hpp"
#include "http/json_input.hpp"

namespace hearth::http {
namespace {

handler noop() {
  return [](const request&, responder) {};
}

router sample() {
  router r;
  r.add({"GET", "/api/v1/shop/items", noop()});
  r.add({"GET", "/api/v1/shop/items/{id}", noop()});
  r.add({"POST", "/api/v1/shop/items", noop(), {.json_body = true}});
  return r;
}

request make(std::string method, std::string target) {
  request req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.request_id = "rid";
  return req;
}

// The envelope's message, after checking the body is valid JSON (simdjson
// validates UTF-8).
std::string message_of(const response& r) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  EXPECT_FALSE(parser.parse(r.body).get(o)) << r.body;
  std::string_view message;
  EXPECT_FALSE(o["message"].get(message)) << r.body;
  return std::string(message);
}

TEST(Dispatch, FillsPathQueryAndParams) {
  auto routes = sample();
  auto req = make("GET", "/api/v1/shop/items/a%20b?authHouseholdID=x&updatedAfter=%41");
  auto routed = route_request(routes, req);
  ASSERT_FALSE(routed.refusal);
  ASSERT_NE(routed.matched, nullptr);
  EXPECT_EQ(routed.matched->pattern, "/api/v1/shop/items/{id}");
  EXPECT_EQ(req.params.at("id"), "a b");
  EXPECT_EQ(req.query.at("updatedAfter"), "A");
}

TEST(Dispatch, RefusesWithTheEngineStatuses) {
  auto routes = sample();
  auto bad = make("GET", "no-slash");
  EXPECT_EQ(route_request(routes, bad).refusal->status, 400u);
  auto nul = make("GET", "/api/v1/shop/items?a=%00");
  EXPECT_EQ(route_request(routes, nul).refusal->status, 400u);
  auto missing = make("GET", "/nowhere");
  EXPECT_EQ(route_request(routes, missing).refusal->status, 404u);
  auto wrong = make("DELETE", "/api/v1/shop/items");
  auto routed = route_request(routes, wrong);
  EXPECT_EQ(routed.refusal->status, 405u);
  EXPECT_EQ(routed.refusal->headers.at(0).second, "GET, POST");
  auto text = make("POST", "/api/v1/shop/items");
  text.headers.emplace_back("content-type", "text/plain");
  routed = route_request(routes, text);
  EXPECT_EQ(routed.refusal->status, 415u);
  ASSERT_NE(routed.matched, nullptr);  // the route is known (for the access log)
}

// Found by fuzz/http_request.cpp: the 404 message quotes the percent-decoded
// path, which can be any bytes; the envelope was then not valid UTF-8, so
// not JSON (RFC 8259 §8.1).
TEST(Dispatch, ErrorEnvelopeStaysValidJsonForNonUtf8Paths) {
  auto routes = sample();
  auto req = make("GET", "/api/v1/%E2%9Cx/%FF");
  auto routed = route_request(routes, req);
  ASSERT_TRUE(routed.refusal);
  EXPECT_EQ(routed.refusal->status, 404u);
  EXPECT_EQ(message_of(*routed.refusal), "no route for /api/v1/%E2%9Cx/%FF");
  // Valid UTF-8 is quoted as it is.
  auto check = make("GET", "/%E2%9C%93");
  EXPECT_EQ(message_of(*route_request(routes, check).refusal), "no route for /\u2713");
}

TEST(Dispatch, ClientRequestIds) {
  EXPECT_TRUE(valid_client_request_id("abc-DEF_1.2:3"));
  EXPECT_FALSE(valid_client_request_id(""));
  EXPECT_FALSE(valid_client_request_id(std::string(129, 'a')));
  EXPECT_FALSE(valid_client_request_id("a b"));
  EXPECT_FALSE(valid_client_request_id("\xc3\xa9"));
}

TEST(Dispatch, TraceparentGivesTheTraceId) {
  EXPECT_EQ(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace_id_of(""), "");
  EXPECT_EQ(trace_id_of("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(trace_id_of("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"), "");
  // A later version may append fields, after a '-' (§3.2.4).
  EXPECT_EQ(trace_id_of("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace_id_of("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), "");
  // Bytes above 0x7f are not hex digits.
  EXPECT_EQ(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e47\xb6\xb6-00f067aa0ba902b7-01"), "");
}

TEST(dispatch, a_handler_that_throws_is_answered_400_for_bad_input_and_500_otherwise) {
  auto answer_of = [](handler h) {
    route r{"POST", "/x", std::move(h)};
    auto req = make("POST", "/x");
    int calls = 0;
    response out;
    run_handler(r, req, [&](response resp) {
      ++calls;
      out = std::move(resp);
    });
    EXPECT_EQ(calls, 1);
    return out;
  };
  auto fine = answer_of(
      [](const request& req, responder respond) { respond(error(409, req.request_id, "taken")); });
  EXPECT_EQ(fine.status, 409u);
  auto bad = answer_of([](const request&, responder) { throw input_error("name: required"); });
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(message_of(bad), "name: required");
  auto broken =
      answer_of([](const request&, responder) { throw std::runtime_error("secret detail"); });
  EXPECT_EQ(broken.status, 500u);
  EXPECT_EQ(broken.body.find("secret detail"), std::string::npos) << "an internal error leaked";
}

}  // namespace
}  // namespace hearth::http
