#include "http/router.hpp"

#include <gtest/gtest.h>

namespace hearth::http {
namespace {

handler noop() {
  return [](const request&, responder) {};
}

router sample() {
  router r;
  r.add({"GET", "/api/v1/shop/items", noop()});
  r.add({"POST", "/api/v1/shop/items", noop()});
  r.add({"GET", "/api/v1/shop/items/{id}", noop()});
  r.add({"DELETE", "/api/v1/shop/items/{id}", noop()});
  r.add({"GET", "/api/v1/shop/items/special", noop()});
  r.add({"POST", "/api/v1/auth/households/{id}/members", noop()});
  return r;
}

TEST(Router, FindsLiteralRoute) {
  auto r = sample();
  auto m = r.find("POST", "/api/v1/shop/items");
  ASSERT_EQ(m.result, router::outcome::found);
  EXPECT_EQ(m.matched->method, "POST");
  EXPECT_EQ(m.matched->pattern, "/api/v1/shop/items");
  EXPECT_TRUE(m.params.empty());
}

TEST(Router, ExtractsParameters) {
  auto r = sample();
  auto m = r.find("GET", "/api/v1/shop/items/abc");
  ASSERT_EQ(m.result, router::outcome::found);
  EXPECT_EQ(m.params.at("id"), "abc");
  auto n = r.find("POST", "/api/v1/auth/households/h1/members");
  ASSERT_EQ(n.result, router::outcome::found);
  EXPECT_EQ(n.params.at("id"), "h1");
}

TEST(Router, LiteralBeatsParameter) {
  auto r = sample();
  auto m = r.find("GET", "/api/v1/shop/items/special");
  ASSERT_EQ(m.result, router::outcome::found);
  EXPECT_EQ(m.matched->pattern, "/api/v1/shop/items/special");
  // ...but falls back to the parameter for other methods.
  auto d = r.find("DELETE", "/api/v1/shop/items/special");
  ASSERT_EQ(d.result, router::outcome::method_not_allowed);
}

TEST(Router, UnknownPathIs404) {
  auto r = sample();
  EXPECT_EQ(r.find("GET", "/api/v1/nothing").result, router::outcome::not_found);
  EXPECT_EQ(r.find("GET", "/api/v1/shop").result, router::outcome::not_found);
  EXPECT_EQ(r.find("GET", "/api/v1/shop/items/a/b").result, router::outcome::not_found);
  EXPECT_EQ(r.find("GET", "").result, router::outcome::not_found);
  EXPECT_EQ(r.find("GET", "/api/v1/shop/items//").result, router::outcome::not_found);
}

TEST(Router, WrongMethodIs405WithAllow) {
  auto r = sample();
  auto m = r.find("PATCH", "/api/v1/shop/items");
  ASSERT_EQ(m.result, router::outcome::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, POST");
  auto i = r.find("PUT", "/api/v1/shop/items/x");
  ASSERT_EQ(i.result, router::outcome::method_not_allowed);
  EXPECT_EQ(i.allow, "DELETE, GET");
}

TEST(Router, HeadFallsBackToGet) {
  auto r = sample();
  auto m = r.find("HEAD", "/api/v1/shop/items");
  ASSERT_EQ(m.result, router::outcome::found);
  EXPECT_EQ(m.matched->method, "GET");
}

TEST(Router, TrailingSlashMatchesSameRoute) {
  auto r = sample();
  EXPECT_EQ(r.find("GET", "/api/v1/shop/items/").result, router::outcome::found);
}

TEST(Router, RejectsDuplicatesAndBadPatterns) {
  auto r = sample();
  EXPECT_THROW(r.add({"GET", "/api/v1/shop/items", noop()}), std::invalid_argument);
  EXPECT_THROW(r.add({"GET", "api/v1", noop()}), std::invalid_argument);
  EXPECT_THROW(r.add({"GET", "/api/v1/shop/items/{other}/x", noop()}), std::invalid_argument);
}

TEST(Router, RestParameterTakesWhatNothingElseTakes) {
  auto r = sample();
  r.add({"GET", "/{path...}", noop()});
  // Every route added before still wins, with its own 405s.
  auto m = r.find("GET", "/api/v1/shop/items/abc");
  ASSERT_EQ(m.result, router::outcome::found);
  EXPECT_EQ(m.matched->pattern, "/api/v1/shop/items/{id}");
  EXPECT_EQ(r.find("PUT", "/api/v1/shop/items").result, router::outcome::method_not_allowed);
  // The rest: one or more segments, joined.
  auto a = r.find("GET", "/app.js");
  ASSERT_EQ(a.result, router::outcome::found);
  EXPECT_EQ(a.matched->pattern, "/{path...}");
  EXPECT_EQ(a.params.at("path"), "app.js");
  auto b = r.find("GET", "/api/v1/nothing/here");
  ASSERT_EQ(b.result, router::outcome::found);
  EXPECT_EQ(b.params.at("path"), "api/v1/nothing/here");
  EXPECT_EQ(r.find("HEAD", "/assets/x.css").params.at("path"), "assets/x.css");
  // Other methods on a path only the catch-all takes: 404, not 405.
  auto p = r.find("POST", "/app.js");
  EXPECT_EQ(p.result, router::outcome::not_found);
  EXPECT_TRUE(p.allow.empty());
  // "/" itself is not a rest of one segment.
  EXPECT_EQ(r.find("GET", "/").result, router::outcome::not_found);
  // Only as the last segment, with one name per node.
  EXPECT_THROW(r.add({"GET", "/{path...}/x", noop()}), std::invalid_argument);
  EXPECT_THROW(r.add({"POST", "/{other...}", noop()}), std::invalid_argument);
}

TEST(Router, SplitPath) {
  EXPECT_EQ(split_path("/a/b"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(split_path("/a/b/"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(split_path("/"), (std::vector<std::string_view>{}));
  EXPECT_EQ(split_path("/a//b"), (std::vector<std::string_view>{"a", "", "b"}));
}

}  // namespace
}  // namespace hearth::http
