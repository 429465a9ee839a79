// Request validation, routing errors, content negotiation and pipelining.

#include "tests/integration/fixture.hpp"
#include "tests/support/raw_connection.hpp"

namespace hearth::testing {
namespace {

using errors = hearth_test;

struct small_body_limit : hearth_test {
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_BODY_LIMIT_BYTES", "1000"}};
  }
};

TEST_F(errors, malformed_json_is_400) {
  auto user = new_user("malformed");
  const auto hh = create_household(user.key, "Home");
  for (const std::string& body :
       {std::string("{"), std::string("{\"authHouseholdID\": \"") + hh + "\", \"name\": }",
        std::string("not json"), std::string("{\"name\":\"x\"} trailing"), std::string("[]")}) {
    SCOPED_TRACE(body);
    check_envelope(http().request_as(user.key, "POST", "/api/v1/shop/items", body), 400);
  }
  // Nothing was created.
  auto list = http().request_as(user.key, "GET", "/api/v1/shop/items").json().as_object();
  EXPECT_TRUE(list.at("dataValue").as_array().empty());
}

TEST_F(errors, wrong_type_names_the_field) {
  auto user = new_user("wrongtype");
  const auto hh = create_household(user.key, "Home");
  auto res = http().request_as(user.key, "POST", "/api/v1/shop/items",
                               json::serialize(json::object{{"authHouseholdID", hh}, {"name", 5}}));
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("name"), std::string::npos) << res.body;

  res = http().request_as(
      user.key, "POST", "/api/v1/shop/items",
      json::serialize(json::object{{"authHouseholdID", hh}, {"name", "x"}, {"done", "yes"}}));
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("done"), std::string::npos) << res.body;

  res = signup(unique_email("typed"), "a long password", "x");
  ASSERT_EQ(res.status, 201u);
  res = http().request("POST", "/api/v1/auth/signup",
                       R"({"emailAddress":"a@b.example","password":12345678,"name":"x"})");
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("password"), std::string::npos) << res.body;
}

// PostgreSQL text cannot hold NUL; "a\u0000b" used to be stored as "a"
// with a 201. Every input path refuses it with a 400 naming the field.
TEST_F(errors, a_nul_character_is_refused_never_truncated) {
  auto user = new_user("nul");
  const auto hh = create_household(user.key, "Home");
  auto res = http().request_as(user.key, "POST", "/api/v1/shop/items",
                               R"({"authHouseholdID":")" + hh + R"(","name":"a\u0000b"})");
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("name"), std::string::npos) << res.body;
  EXPECT_NE(message_of(res).find("NUL"), std::string::npos) << res.body;

  auto item = http().request_as(user.key, "POST", "/api/v1/shop/items",
                                R"({"authHouseholdID":")" + hh + R"(","name":"milk"})");
  ASSERT_EQ(item.status, 201u) << item.body;
  const auto id = std::string(
      item.json().as_object().at("dataValue").as_array().at(0).as_object().at("id").as_string());
  res = http().request_as(user.key, "PUT", "/api/v1/shop/items/" + id, R"({"name":"mi\u0000lk"})");
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("name"), std::string::npos) << res.body;
  auto row = http().request_as(user.key, "GET", "/api/v1/shop/items/" + id);
  EXPECT_EQ(
      row.json().as_object().at("dataValue").as_array().at(0).as_object().at("name").as_string(),
      "milk");

  res = http().request_as(user.key, "GET", "/api/v1/shop/items?updatedAfter=2026%00");
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("updatedAfter"), std::string::npos) << res.body;

  res = http().request(
      "POST", "/api/v1/auth/signup",
      R"({"emailAddress":"nul@example.com","password":"long enough\u0000","name":"x"})");
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("password"), std::string::npos) << res.body;
}

TEST_F(errors, unknown_field_is_named) {
  auto user = new_user("unknownfield");
  const auto hh = create_household(user.key, "Home");
  auto res = http().request_as(
      user.key, "POST", "/api/v1/shop/items",
      json::serialize(json::object{{"authHouseholdID", hh}, {"name", "x"}, {"colour", "red"}}));
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("colour"), std::string::npos) << res.body;
}

TEST_F(errors, missing_required_field_is_named) {
  auto user = new_user("missing");
  const auto hh = create_household(user.key, "Home");
  auto res = http().request_as(user.key, "POST", "/api/v1/shop/items",
                               json::serialize(json::object{{"authHouseholdID", hh}}));
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("name"), std::string::npos) << res.body;

  res = http().request_as(user.key, "POST", "/api/v1/plan/tasks",
                          json::serialize(json::object{{"name", "orphan"}}));
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("authHouseholdID"), std::string::npos) << res.body;

  res = http().request("POST", "/api/v1/auth/signin",
                       json::serialize(json::object{{"emailAddress", "x@example.com"}}));
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("password"), std::string::npos) << res.body;
}

TEST_F(errors, body_over_the_limit_is_413) {
  auto user = new_user("bigbody");
  const auto hh = create_household(user.key, "Home");
  std::string body = json::serialize(
      json::object{{"authHouseholdID", hh}, {"name", std::string(2 * 1024 * 1024, 'x')}});
  auto res = http().request_as(user.key, "POST", "/api/v1/shop/items", body);
  check_envelope(res, 413);
  // The server still works afterwards (on a new connection if it closed this one).
  check_envelope(http().request("GET", "/api/v1/health"), 200);
}

TEST_F(small_body_limit, limit_is_configurable) {
  auto user = new_user("smalllimit");
  const auto hh = create_household(user.key, "Home");
  auto fits =
      json::serialize(json::object{{"authHouseholdID", hh}, {"name", std::string(500, 'y')}});
  check_envelope(http().request_as(user.key, "POST", "/api/v1/shop/items", fits), 201, "ShopItem");
  auto too_big =
      json::serialize(json::object{{"authHouseholdID", hh}, {"name", std::string(2000, 'z')}});
  check_envelope(http().request_as(user.key, "POST", "/api/v1/shop/items", too_big), 413);
}

// A client that writes its whole body before it reads (Python's
// http.client does) must still read the early 413: the server answers, then
// reads and discards the rest before it closes (lingering close), instead
// of closing on unread data, which resets the connection and can destroy
// the answer on its way.
TEST_F(small_body_limit, an_early_413_reaches_a_client_that_sends_its_whole_body_first) {
  for (int round = 0; round < 3; ++round) {
    raw_connection c(port());
    // More than loopback buffers before the server reads, so that the
    // client is still sending when the server answers, as a slower network
    // would make it (without the lingering close: a reset, every round).
    const std::string body(12 * 1024 * 1024, 'x');
    EXPECT_NO_THROW(
        c.send("POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body))
        << "the server reset the connection while the body was being sent (round " << round << ")";
    std::string data;
    ASSERT_TRUE(c.read_until("\r\n\r\n", data, 10s)) << data;
    EXPECT_EQ(data.rfind("HTTP/1.1 413", 0), 0u) << data.substr(0, 200);
    auto [rest, closed] = c.read_until_closed(10s);
    EXPECT_TRUE(closed) << "the connection was not closed after the 413";
  }
  check_envelope(http().request("GET", "/api/v1/health"), 200);
}

TEST_F(errors, unknown_path_is_404) {
  check_envelope(http().request("GET", "/api/v1/nope"), 404);
  check_envelope(http().request("GET", "/api/v2/shop/items"), 404);
  check_envelope(http().request("POST", "/nothing", "{}"), 404);
}

TEST_F(errors, wrong_method_is_405_with_allow) {
  auto user = new_user("method");
  auto res = http().request_as(user.key, "PATCH", "/api/v1/shop/items", R"({"name":"x"})");
  check_envelope(res, 405);
  const auto allow = res.header("allow");
  EXPECT_NE(allow.find("GET"), std::string::npos) << "Allow: " << allow;
  EXPECT_NE(allow.find("POST"), std::string::npos) << "Allow: " << allow;
  EXPECT_EQ(allow.find("DELETE"), std::string::npos) << "Allow: " << allow;

  res = http().request_as(user.key, "POST",
                          "/api/v1/shop/items/00000000-0000-4000-8000-000000000000", "{}");
  check_envelope(res, 405);
  const auto allow_id = res.header("allow");
  for (const char* m : {"GET", "PUT", "DELETE"}) {
    EXPECT_NE(allow_id.find(m), std::string::npos) << "Allow: " << allow_id;
  }
}

TEST_F(errors, non_json_content_type_is_415) {
  auto user = new_user("ctype");
  const auto hh = create_household(user.key, "Home");
  auto res =
      http().request("POST", "/api/v1/shop/items",
                     json::serialize(json::object{{"authHouseholdID", hh}, {"name", "x"}}),
                     {{"Authorization", "Bearer " + user.key}, {"Content-Type", "text/plain"}});
  check_envelope(res, 415);
  // With a charset parameter JSON is fine.
  res = http().request("POST", "/api/v1/shop/items",
                       json::serialize(json::object{{"authHouseholdID", hh}, {"name", "x"}}),
                       {{"Authorization", "Bearer " + user.key},
                        {"Content-Type", "application/json; charset=utf-8"}});
  check_envelope(res, 201, "ShopItem");
}

TEST_F(errors, unacceptable_accept_is_406) {
  auto res = http().request("GET", "/api/v1/health", "", {{"Accept", "text/html"}});
  EXPECT_EQ(res.status, 406u) << res.body;
  EXPECT_FALSE(res.header("x-request-id").empty());
  // Wildcards and JSON are acceptable.
  EXPECT_EQ(http().request("GET", "/api/v1/health", "", {{"Accept", "*/*"}}).status, 200u);
  EXPECT_EQ(
      http()
          .request("GET", "/api/v1/health", "", {{"Accept", "text/html, application/json;q=0.9"}})
          .status,
      200u);
}

TEST_F(errors, non_uuid_id_is_404) {
  auto user = new_user("nonuuid");
  check_envelope(http().request_as(user.key, "GET", "/api/v1/shop/items/not-a-uuid"), 404);
  check_envelope(http().request_as(user.key, "PUT", "/api/v1/plan/tasks/123", R"({"done":true})"),
                 404);
  check_envelope(http().request_as(user.key, "DELETE", "/api/v1/shop/items/%27;drop"), 404);
  check_envelope(http().request_as(user.key, "POST", "/api/v1/auth/households/xyz/members",
                                   R"({"emailAddress":"a@example.com","permissions":"view"})"),
                 404);
}

TEST_F(errors, pipelined_requests_are_answered_in_order) {
  auto user = new_user("pipeline");
  const auto hh = create_household(user.key, "Home");
  const std::string body =
      json::serialize(json::object{{"authHouseholdID", hh}, {"name", "piped"}});
  std::string bytes;
  bytes += "POST /api/v1/shop/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + user.key +
           "\r\nContent-Type: application/json\r\nX-Request-ID: pipe-1\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  bytes += "GET /api/v1/shop/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + user.key +
           "\r\nX-Request-ID: pipe-2\r\n\r\n";
  bytes += "GET /api/v1/nope HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-3\r\n\r\n";
  auto responses = raw_exchange(port(), bytes, 3);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].status, 201u) << responses[0].body;
  EXPECT_EQ(responses[0].header("x-request-id"), "pipe-1");
  EXPECT_EQ(responses[1].status, 200u) << responses[1].body;
  EXPECT_EQ(responses[1].header("x-request-id"), "pipe-2");
  // The GET ran after the POST: it sees the new item.
  EXPECT_EQ(responses[1].json().as_object().at("dataValue").as_array().size(), 1u)
      << responses[1].body;
  EXPECT_EQ(responses[2].status, 404u);
  EXPECT_EQ(responses[2].header("x-request-id"), "pipe-3");
}

TEST_F(errors, keep_alive_connection_serves_many_requests) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(http().request("GET", "/api/v1/health").status, 200u) << i;
  }
}

}  // namespace
}  // namespace hearth::testing
