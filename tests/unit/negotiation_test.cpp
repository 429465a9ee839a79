#include "http/negotiation.hpp"

#include <gtest/gtest.h>

namespace hearth::http {
namespace {

TEST(Negotiation, Accept) {
  EXPECT_TRUE(accepts("", "application/json"));
  EXPECT_TRUE(accepts("*/*", "application/json"));
  EXPECT_TRUE(accepts("application/*", "application/json"));
  EXPECT_TRUE(accepts("text/html, application/json;q=0.9", "application/json"));
  EXPECT_TRUE(accepts("Application/JSON", "application/json"));
  EXPECT_FALSE(accepts("text/html", "application/json"));
  EXPECT_FALSE(accepts("application/json;q=0", "application/json"));
  EXPECT_TRUE(accepts("text/event-stream", "text/event-stream"));
  EXPECT_FALSE(accepts("application/json", "text/event-stream"));
}

TEST(Negotiation, JsonContentType) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("application/json; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type("application/merge-patch+json"));
  EXPECT_FALSE(is_json_media_type("text/plain"));
  EXPECT_FALSE(is_json_media_type(""));
  EXPECT_FALSE(is_json_media_type("application/jsonx"));
}

TEST(Negotiation, RouteChecks) {
  route json_route{"POST", "/x", nullptr, {true}};
  request req;
  req.headers = {{"content-type", "text/plain"}};
  EXPECT_EQ(negotiate(json_route, req), 415u);
  req.headers = {{"content-type", "application/json"}, {"accept", "text/html"}};
  EXPECT_EQ(negotiate(json_route, req), 406u);
  req.headers = {{"content-type", "application/json"}};
  EXPECT_EQ(negotiate(json_route, req), std::nullopt);
}

}  // namespace
}  // namespace hearth::http
