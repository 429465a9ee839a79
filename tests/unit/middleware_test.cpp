#include "http/middleware.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <optional>
#include <vector>

namespace hearth::http {
namespace {

request make_request(std::string method = "GET", std::string remote = "10.0.0.1") {
  request r;
  r.method = std::move(method);
  r.path = "/api/v1/x";
  r.remote_addr = std::move(remote);
  r.request_id = "rid";
  return r;
}

std::string header(const response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

// Runs `mw` around a handler that answers 200 (or keeps the responder in
// `held` when hold is set); returns the response, if one came.
std::optional<response> run(const middleware& mw, const request& req, bool hold = false,
                            std::vector<responder>* held = nullptr) {
  std::optional<response> out;
  handler ok = [&](const request&, responder respond) {
    if (hold) return held->push_back(std::move(respond));
    response r;
    r.body = "ok";
    respond(std::move(r));
  };
  // Held responders are called after run() returns: they must not refer to
  // this frame.
  auto slot = std::make_shared<std::optional<response>>();
  compose({mw}, ok)(req, [slot](response r) { *slot = std::move(r); });
  out = *slot;
  return out;
}

TEST(Middleware, ComposeRunsInOrder) {
  std::string trace;
  auto tag = [&](std::string t) -> middleware {
    return [&trace, t](const request& req, responder respond, const handler& next) {
      trace += t;
      next(req, std::move(respond));
    };
  };
  auto h = compose({tag("a"), tag("b")}, [&](const request&, responder respond) {
    trace += "h";
    respond({});
  });
  h(make_request(), [](response) {});
  EXPECT_EQ(trace, "abh");
}

TEST(Middleware, ConcurrencyLimitRejectsBeyondTheLimitAndFreesSlots) {
  auto mw = concurrency_limit(2);
  std::vector<responder> held;
  EXPECT_FALSE(run(mw, make_request(), true, &held));
  EXPECT_FALSE(run(mw, make_request(), true, &held));
  auto third = run(mw, make_request(), true, &held);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 503u);
  EXPECT_EQ(header(*third, "Retry-After"), "1");
  held[0](response{});  // one finishes: a slot is free again
  held[0](response{});  // answering twice must not free two
  EXPECT_FALSE(run(mw, make_request(), true, &held));
  auto again = run(mw, make_request(), true, &held);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 503u);
}

TEST(Middleware, RateLimitIsPerClientAddress) {
  auto mw = rate_limit(0.001, 2);  // practically no refill during the test
  EXPECT_EQ(run(mw, make_request("GET", "10.0.0.1"))->status, 200u);
  EXPECT_EQ(run(mw, make_request("GET", "10.0.0.1"))->status, 200u);
  auto limited = run(mw, make_request("GET", "10.0.0.1"));
  EXPECT_EQ(limited->status, 429u);
  EXPECT_GE(std::stoll(header(*limited, "Retry-After")), 1);
  EXPECT_EQ(run(mw, make_request("GET", "10.0.0.2"))->status, 200u);  // another client
  EXPECT_EQ(run(rate_limit(0, 1), make_request())->status, 200u);     // 0 = off
}

TEST(Middleware, CorsAnswersPreflightsOfAllowedOriginsOnly) {
  auto mw = cors({"https://app.example"});
  auto pre = make_request("OPTIONS");
  pre.headers = {{"origin", "https://app.example"}, {"access-control-request-method", "POST"}};
  auto ok = run(mw, pre);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 204u);
  EXPECT_EQ(header(*ok, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(header(*ok, "Access-Control-Allow-Methods").find("POST"), std::string::npos);
  pre.headers[0].second = "https://evil.example";
  EXPECT_EQ(run(mw, pre)->status, 403u);

  auto get = make_request();
  get.headers = {{"origin", "https://app.example"}};
  auto simple = run(mw, get);
  EXPECT_EQ(simple->status, 200u);
  EXPECT_EQ(header(*simple, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(header(*simple, "Vary"), "Origin");
  get.headers = {{"origin", "https://evil.example"}};
  EXPECT_EQ(header(*run(mw, get), "Access-Control-Allow-Origin"), "");
}

TEST(Middleware, CorsWildcardIsAnonymousOnly) {
  auto mw = cors({"*"});
  auto get = make_request();
  get.headers = {{"origin", "https://anywhere.example"}};
  auto r = run(mw, get);
  EXPECT_EQ(header(*r, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(header(*r, "Access-Control-Allow-Credentials"), "");
}

std::string basic(const std::string& user_pass) {
  std::string out(sodium_base64_ENCODED_LEN(user_pass.size(), sodium_base64_VARIANT_ORIGINAL),
                  '\0');
  sodium_bin2base64(out.data(), out.size(),
                    reinterpret_cast<const unsigned char*>(user_pass.data()), user_pass.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.find('\0'));
  return "Basic " + out;
}

TEST(Middleware, BasicAuthChecksUserAndPassword) {
  ASSERT_GE(sodium_init(), 0);
  auto mw = basic_auth("operator", "s3cret");
  auto req = make_request();
  auto denied = run(mw, req);
  EXPECT_EQ(denied->status, 401u);
  EXPECT_NE(header(*denied, "WWW-Authenticate").find("Basic"), std::string::npos);
  req.headers = {{"authorization", basic("operator:wrong")}};
  EXPECT_EQ(run(mw, req)->status, 401u);
  req.headers = {{"authorization", basic("other:s3cret")}};
  EXPECT_EQ(run(mw, req)->status, 401u);
  req.headers = {{"authorization", "Basic !!!notbase64"}};
  EXPECT_EQ(run(mw, req)->status, 401u);
  req.headers = {{"authorization", basic("operator:s3cret")}};
  EXPECT_EQ(run(mw, req)->status, 200u);
  EXPECT_EQ(run(basic_auth("operator", ""), make_request())->status, 200u);  // disabled
}

TEST(Middleware, RequireHostBindsRoutesToAVirtualHost) {
  auto mw = require_host("Admin.Example");
  auto req = make_request();
  req.headers = {{"host", "admin.example:8443"}};
  EXPECT_EQ(run(mw, req)->status, 200u);
  req.headers = {{"host", "www.example"}};
  EXPECT_EQ(run(mw, req)->status, 404u);
}

TEST(Middleware, SameOriginWritesChecksOriginThenReferer) {
  auto always = [](const request&) { return true; };
  auto mw = same_origin_writes({"https://app.example", "*"}, false, always);
  auto with = [](std::vector<std::pair<std::string, std::string>> headers) {
    auto req = make_request("POST");
    req.headers = std::move(headers);
    req.headers.emplace_back("host", "hearth.example:3000");
    return req;
  };
  EXPECT_EQ(run(mw, with({{"origin", "https://app.example"}}))->status, 200u);
  EXPECT_EQ(run(mw, with({{"origin", "https://APP.example"}}))->status, 200u);
  EXPECT_EQ(run(mw, with({{"origin", "http://hearth.example:3000"}}))->status, 200u);
  EXPECT_EQ(run(mw, with({{"origin", "https://hearth.example:3000"}}))->status, 200u);
  EXPECT_EQ(run(mw, with({{"referer", "http://hearth.example:3000/x?y"}}))->status, 200u);
  EXPECT_EQ(run(mw, with({}))->status, 200u) << "neither header: passes unless required";
  // "*" grants nothing to cookie writes.
  auto evil = run(mw, with({{"origin", "https://evil.example"}}));
  EXPECT_EQ(evil->status, 403u);
  EXPECT_NE(evil->body.find("https://evil.example"), std::string::npos) << evil->body;
  EXPECT_EQ(run(mw, with({{"origin", "null"}}))->status, 403u);
  EXPECT_EQ(run(mw, with({{"origin", "https://hearth.example:3001"}}))->status, 403u);
  EXPECT_EQ(run(mw, with({{"origin", "ftp://app.example"}}))->status, 403u);
  EXPECT_EQ(run(mw, with({{"referer", "https://evil.example/"}}))->status, 403u);
  // Origin wins over Referer.
  EXPECT_EQ(run(mw, with({{"origin", "https://evil.example"}, {"referer", "https://app.example/"}}))
                ->status,
            403u);
  // Safe methods pass.
  auto get = with({{"origin", "https://evil.example"}});
  get.method = "GET";
  EXPECT_EQ(run(mw, get)->status, 200u);
  for (const char* m : {"PUT", "PATCH", "DELETE"}) {
    auto req = with({{"origin", "https://evil.example"}});
    req.method = m;
    EXPECT_EQ(run(mw, req)->status, 403u) << m;
  }
}

TEST(Middleware, SameOriginWritesOnlyWhereItApplies) {
  auto evil = make_request("POST");
  evil.headers = {{"origin", "https://evil.example"}, {"host", "h"}};
  auto never = same_origin_writes({}, true, [](const request&) { return false; });
  EXPECT_EQ(run(never, evil)->status, 200u);
  auto strict = same_origin_writes({}, true, [](const request&) { return true; });
  auto bare = make_request("POST");
  bare.headers = {{"host", "h"}};
  EXPECT_EQ(run(strict, bare)->status, 403u);
  bare.headers.emplace_back("origin", "http://h");
  EXPECT_EQ(run(strict, bare)->status, 200u);
}

}  // namespace
}  // namespace hearth::http
