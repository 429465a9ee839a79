// TLS termination: with HEARTH_TLS_CERT / HEARTH_TLS_KEY the server speaks
// HTTPS only, REST and SSE alike, with a certificate made at test time.

#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/support/raw_connection.hpp"
#include "tests/support/tls_client.hpp"

namespace hearth::testing {
namespace {

class tls : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hearth-tls-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    make_test_certificate(dir_);
    return {{"HEARTH_TLS_CERT", (dir_ / "cert.pem").string()},
            {"HEARTH_TLS_KEY", (dir_ / "key.pem").string()}};
  }
  void SetUp() override {
    // The fixture's plain HTTP client is useless here: start the server only.
    database_url_ = throwaway_postgres::shared().create_database();
    auto env = extra_env();
    env["HEARTH_DATABASE_URL"] = database_url_;
    hearth_ = std::make_unique<hearth_process>(env);
  }
  void TearDown() override {
    hearth_test::TearDown();
    std::filesystem::remove_all(dir_);
  }
  http_response https(const std::string& method, const std::string& target,
                      const std::string& body = "",
                      const std::map<std::string, std::string>& headers = {}) {
    return https_request(port(), ca(), method, target, body, headers);
  }
  std::string ca() const { return (dir_ / "cert.pem").string(); }
  std::filesystem::path dir_;
};

TEST_F(tls, rest_and_sse_work_over_https) {
  auto health = https("GET", "/api/v1/health");
  check_envelope(health, 200, "Health");

  auto email = unique_email("tls");
  require_status(https("POST", "/api/v1/auth/signup", signup_body(email, "correct horse tls", "T")),
                 201, "signup over https");
  auto signin = https(
      "POST", "/api/v1/auth/signin",
      json::serialize(json::object{{"emailAddress", email}, {"password", "correct horse tls"}}));
  require_status(signin, 201, "signin over https");
  auto key = str(first_value(signin), "key");
  auto household =
      https("POST", "/api/v1/auth/households", json::serialize(json::object{{"name", "TLS"}}),
            {{"Authorization", "Bearer " + key}});
  require_status(household, 201, "household over https");
  auto h = str(first_value(household), "id");

  https_stream sse(port(), ca(), "/api/v1/sse",
                   {{"Authorization", "Bearer " + key}, {"Accept", "text/event-stream"}});
  ASSERT_TRUE(sse.read_until("retry:", 5s)) << sse.received();
  EXPECT_NE(sse.received().find("text/event-stream"), std::string::npos);
  auto item = https("POST", "/api/v1/shop/items",
                    json::serialize(json::object{{"authHouseholdID", h}, {"name", "tea"}}),
                    {{"Authorization", "Bearer " + key}});
  require_status(item, 201, "item over https");
  ASSERT_TRUE(sse.read_until("event: change", 5s)) << sse.received();
  EXPECT_NE(sse.received().find(str(first_value(item), "id")), std::string::npos);
}

TEST_F(tls, plain_http_to_the_tls_port_gets_no_http_answer) {
  raw_connection plain(port());
  plain.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
  auto [data, closed] = plain.read_until_closed(5s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(data.find("HTTP/1.1 200"), std::string::npos) << data;
  // And the server is still fine for TLS clients.
  EXPECT_EQ(https("GET", "/api/v1/health").status, 200u);
}

TEST_F(tls, the_session_cookie_is_secure_over_https) {
  auto email = unique_email("securecookie");
  require_status(https("POST", "/api/v1/auth/signup", signup_body(email, "correct horse tls", "S")),
                 201, "signup over https");
  auto signin = https(
      "POST", "/api/v1/auth/signin",
      json::serialize(json::object{{"emailAddress", email}, {"password", "correct horse tls"}}));
  require_status(signin, 201, "signin over https");
  auto key = str(first_value(signin), "key");
  auto cookie = signin.header("set-cookie");
  EXPECT_NE(cookie.find("hearth_session=" + key), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; HttpOnly; SameSite=Lax; Secure"), std::string::npos) << cookie;
  // Cleared the same way on sign-out (a cookie write from its own origin).
  auto out = https("DELETE", "/api/v1/auth/signin", "",
                   {{"Cookie", "hearth_session=" + key}, {"Origin", "https://127.0.0.1"}});
  require_status(out, 200, "signout over https");
  EXPECT_NE(out.header("set-cookie").find("Max-Age=0; HttpOnly; SameSite=Lax; Secure"),
            std::string::npos)
      << out.header("set-cookie");
}

TEST_F(tls, a_client_that_does_not_trust_the_certificate_fails_the_handshake) {
  auto other = dir_ / "other";
  make_test_certificate(other);
  EXPECT_THROW(https_request(port(), (other / "cert.pem").string(), "GET", "/api/v1/health"),
               std::exception);
}

}  // namespace
}  // namespace hearth::testing
