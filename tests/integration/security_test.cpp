// Security on the real server (docs/security.md): throttling of failed
// sign-ins per account and per client IP, of refused sign-ups and of unknown
// session keys per client IP (429 + growing Retry-After); an unknown account
// answered exactly like a wrong password; the cross-site check of
// cookie-authenticated writes (Origin / Referer). The limits are set low and
// the waits long (seconds) so that nothing depends on the machine's speed:
// every request of a test happens well within one wait.

#include <regex>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

// The envelope with its request id blanked, to compare two answers.
std::string without_request_id(const http_response& res) {
  return std::regex_replace(res.body, std::regex("\"requestID\":\"[^\"]*\""), "\"requestID\":\"\"");
}

int retry_after(const http_response& res) {
  auto v = res.header("retry-after");
  return v.empty() ? -1 : std::stoi(v);
}

// ---------------------------------------------------------------------------
// Per account: 3 failures, waits of 4 s doubling to 16 s; the per-IP limit
// out of the way.
class signin_throttle : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_AUTH_FAILURE_LIMIT", "3"},
            {"HEARTH_AUTH_IP_FAILURE_LIMIT", "1000"},
            {"HEARTH_AUTH_FAILURE_WINDOW_MS", "600000"},
            {"HEARTH_AUTH_RETRY_AFTER_MS", "4000"},
            {"HEARTH_AUTH_MAX_RETRY_AFTER_MS", "16000"}};
  }
};

TEST_F(signin_throttle, wrong_passwords_get_429_with_a_retry_after_that_doubles) {
  auto user = new_user("throttled");
  for (int i = 0; i < 3; ++i) check_envelope(signin_response(user.email, "wrong password"), 401);
  std::vector<int> waits;
  for (int i = 0; i < 4; ++i) {
    auto res = signin_response(user.email, "wrong password");
    check_envelope(res, 429);
    EXPECT_EQ(message_of(res), "too many failed sign-ins: try again later");
    waits.push_back(retry_after(res));
  }
  EXPECT_EQ(waits, (std::vector<int>{4, 8, 16, 16}));
  // While it waits, even the right password is refused (and not checked).
  auto right = signin_response(user.email, user.password);
  check_envelope(right, 429);
  EXPECT_EQ(retry_after(right), 16);
  // The session it already has still works: only sign-in is throttled.
  check_envelope(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me"), 200);
  // Each failure and each refusal is a NOTICE line naming the account and
  // the address, never the password.
  EXPECT_TRUE(eventually([&] {
    return hearth_->log().find("security: sign-in throttled: request ") != std::string::npos;
  }));
  const auto log = hearth_->log();
  EXPECT_NE(log.find("security: sign-in failed: request "), std::string::npos);
  EXPECT_NE(log.find("account " + user.account_id + " from 127.0.0.1"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrong password"), std::string::npos) << "a password in the log";
}

TEST_F(signin_throttle, an_unknown_account_is_answered_exactly_like_a_wrong_password) {
  auto user = new_user("known");
  const auto unknown = unique_email("unknown");
  for (int i = 0; i < 3; ++i) {
    auto wrong = signin_response(user.email, "wrong password");
    auto missing = signin_response(unknown, "wrong password");
    check_envelope(wrong, 401);
    check_envelope(missing, 401);
    EXPECT_EQ(without_request_id(wrong), without_request_id(missing));
    EXPECT_EQ(wrong.header("www-authenticate"), missing.header("www-authenticate"));
    EXPECT_EQ(message_of(missing), "wrong emailAddress or password");
  }
  // And both are throttled alike.
  auto wrong = signin_response(user.email, "wrong password");
  auto missing = signin_response(unknown, "wrong password");
  check_envelope(wrong, 429);
  check_envelope(missing, 429);
  EXPECT_EQ(without_request_id(wrong), without_request_id(missing));
  EXPECT_EQ(retry_after(wrong), retry_after(missing));
}

TEST_F(signin_throttle, a_success_resets_the_account_count) {
  auto user = new_user("reset");
  for (int i = 0; i < 2; ++i) check_envelope(signin_response(user.email, "wrong password"), 401);
  check_envelope(signin_response(user.email, user.password), 201, "AuthSession");
  // Three more failures are needed again before a wait.
  for (int i = 0; i < 3; ++i) check_envelope(signin_response(user.email, "wrong password"), 401);
  check_envelope(signin_response(user.email, "wrong password"), 429);
}

TEST_F(signin_throttle, the_account_is_its_address_in_any_case) {
  auto user = new_user("CaseMix");
  std::string upper = user.email;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  check_envelope(signin_response(upper, "wrong password"), 401);
  check_envelope(signin_response(user.email, "wrong password"), 401);
  check_envelope(signin_response(upper, "wrong password"), 401);
  check_envelope(signin_response(user.email, user.password), 429);
}

TEST_F(signin_throttle, one_throttled_account_does_not_hold_up_another) {
  auto victim = new_user("victim");
  auto other = new_user("other");
  for (int i = 0; i < 4; ++i) signin_response(victim.email, "wrong password");
  check_envelope(signin_response(victim.email, victim.password), 429);
  check_envelope(signin_response(other.email, other.password), 201, "AuthSession");
}

// ---------------------------------------------------------------------------
// A client that waits as told gets its turn: a 1 s wait.
class signin_retry : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_AUTH_FAILURE_LIMIT", "2"},
            {"HEARTH_AUTH_IP_FAILURE_LIMIT", "1000"},
            {"HEARTH_AUTH_RETRY_AFTER_MS", "1000"},
            {"HEARTH_AUTH_MAX_RETRY_AFTER_MS", "2000"}};
  }
};

TEST_F(signin_retry, after_waiting_retry_after_the_right_password_signs_in_and_resets) {
  auto user = new_user("patient");
  check_envelope(signin_response(user.email, "wrong password"), 401);
  check_envelope(signin_response(user.email, "wrong password"), 401);
  auto refused = signin_response(user.email, user.password);
  check_envelope(refused, 429);
  ASSERT_EQ(retry_after(refused), 1);
  // The behaviour under test is the wait itself: a client that honours
  // Retry-After (whole seconds, rounded up) is let through after it.
  std::this_thread::sleep_for(std::chrono::seconds(retry_after(refused)) + 100ms);
  check_envelope(signin_response(user.email, user.password), 201, "AuthSession");
  // The count was reset: one failure is again just a 401, and so is a second.
  check_envelope(signin_response(user.email, "wrong password"), 401);
  check_envelope(signin_response(user.email, "wrong password"), 401);
}

// ---------------------------------------------------------------------------
// Per client IP: 3 failures of each kind, waits of 4 s doubling; the
// per-account limit out of the way.
class ip_throttle : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_AUTH_FAILURE_LIMIT", "1000"},
            {"HEARTH_AUTH_IP_FAILURE_LIMIT", "3"},
            {"HEARTH_AUTH_RETRY_AFTER_MS", "4000"},
            {"HEARTH_AUTH_MAX_RETRY_AFTER_MS", "16000"}};
  }
  void unknown_keys_are_throttled() {
    auto user = new_user("keys");
    auto household = create_household(user.key, "Keys");
    // Three kinds of lookup, each a failure: the request layer
    // (run_authenticated), a list read and a cookie.
    check_envelope(http().request_as("guess-1", "GET", "/api/v1/auth/accounts/me"), 401);
    check_envelope(http().request_as("guess-2", "GET", "/api/v1/shop/items"), 401);
    check_envelope(http().request("GET", "/api/v1/auth/households", "",
                                  {{"Cookie", "hearth_session=guess-3"}}),
                   401);
    auto res = create_item_response("guess-4", household, "milk");
    check_envelope(res, 429);
    EXPECT_EQ(retry_after(res), 4);
    EXPECT_EQ(retry_after(http().request_as("guess-5", "GET", "/api/v1/shop/items")), 8);
    // The address waits with any key (it cannot be told apart from a guess
    // without looking it up); a request without a key is simply a 401.
    check_envelope(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me"), 429);
    check_envelope(http().request("GET", "/api/v1/auth/accounts/me"), 401);
    // Signing in is counted apart.
    check_envelope(signin_response(user.email, user.password), 201, "AuthSession");
  }
};

TEST_F(ip_throttle, failed_signins_across_accounts_are_throttled_per_address) {
  auto user = new_user("ipvictim");  // successes do not count
  check_envelope(signin_response(user.email, user.password), 201, "AuthSession");
  for (int i = 0; i < 3; ++i) check_envelope(signin_response(unique_email("spray"), "guess"), 401);
  auto res = signin_response(unique_email("spray"), "guess");
  check_envelope(res, 429);
  EXPECT_EQ(retry_after(res), 4);
  EXPECT_EQ(retry_after(signin_response(unique_email("spray"), "guess")), 8);
  // The address waits, whoever it signs in as.
  check_envelope(signin_response(user.email, user.password), 429);
  // Sign-up and keys are counted apart: they still work from here.
  check_envelope(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me"), 200);
  check_envelope(signup(unique_email("fresh"), "a long password", "Fresh"), 201);
}

TEST_F(ip_throttle, refused_signups_are_throttled_per_address) {
  // Accounts created do not count.
  for (int i = 0; i < 5; ++i)
    check_envelope(signup(unique_email("ok"), "a long password", "Ok"), 201);
  auto user = new_user("taken");
  check_envelope(signup(user.email, "a long password", "Again"), 409);
  check_envelope(signup(user.email, "a long password", "Again"), 409);
  check_envelope(signup("not-an-address", "a long password", "Bad"), 400);
  auto res = signup(user.email, "a long password", "Again");
  check_envelope(res, 429);
  EXPECT_EQ(retry_after(res), 4);
  EXPECT_EQ(message_of(res), "too many refused sign-ups from this address: try again later");
  check_envelope(signup(unique_email("later"), "a long password", "Later"), 429);
  // Sign-in is counted apart.
  check_envelope(signin_response(user.email, user.password), 201, "AuthSession");
}

TEST_F(ip_throttle, unknown_session_keys_are_throttled_per_address) {
  unknown_keys_are_throttled();
}

// The same without the read cache: keys are looked up on the pool.
class ip_throttle_uncached : public ip_throttle {
 protected:
  std::map<std::string, std::string> extra_env() override {
    auto env = ip_throttle::extra_env();
    env["HEARTH_CACHE_MIB"] = "0";
    return env;
  }
};

TEST_F(ip_throttle_uncached, unknown_session_keys_are_throttled_per_address) {
  unknown_keys_are_throttled();
}

// ---------------------------------------------------------------------------
// The defaults: a user who mistypes a few times is never throttled.
class default_limits : public hearth_test {};

TEST_F(default_limits, leave_an_ordinary_user_alone) {
  auto user = new_user("ordinary");
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) check_envelope(signin_response(user.email, "typo"), 401);
    check_envelope(signin_response(user.email, user.password), 201, "AuthSession");
  }
  for (int i = 0; i < 20; ++i)
    check_envelope(http().request_as("stale-" + std::to_string(i), "GET", "/api/v1/shop/items"),
                   401);
  check_envelope(http().request_as(user.key, "GET", "/api/v1/shop/items"), 200, "ShopItem");
}

// ---------------------------------------------------------------------------
// Cross-site writes with the session cookie.
class csrf : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_CORS_ORIGINS", "https://app.example"}};
  }
  std::string own_origin() { return "http://127.0.0.1:" + std::to_string(port()); }
  http_response cookie_post(const test_user& u, std::map<std::string, std::string> headers,
                            const std::string& name = "Cookie household") {
    headers["Cookie"] = "hearth_session=" + u.key;
    return http().request("POST", "/api/v1/auth/households",
                          json::serialize(json::object{{"name", name}}), headers);
  }
  std::size_t households(const test_user& u) {
    auto res = http().request_as(u.key, "GET", "/api/v1/auth/households");
    require_status(res, 200, "list households");
    return res.json().as_object().at("dataValue").as_array().size();
  }
};

TEST_F(csrf, a_cookie_write_from_a_foreign_origin_is_403_and_changes_nothing) {
  auto user = new_user("csrf");
  auto res = cookie_post(user, {{"Origin", "https://evil.example"}});
  check_envelope(res, 403);
  EXPECT_NE(message_of(res).find("cross-site request refused: origin https://evil.example"),
            std::string::npos)
      << res.body;
  EXPECT_EQ(households(user), 0u);
  // The same without Origin, from a foreign page's Referer; and Origin: null.
  check_envelope(cookie_post(user, {{"Referer", "https://evil.example/page?x=1"}}), 403);
  check_envelope(cookie_post(user, {{"Origin", "null"}}), 403);
  // A look-alike of a trusted origin is foreign too.
  check_envelope(cookie_post(user, {{"Origin", "https://app.example.evil.example"}}), 403);
  check_envelope(cookie_post(user, {{"Origin", "http://app.example"}}), 403);
  // Sign-out is a write: refused, and the session lives on.
  auto out = http().request(
      "DELETE", "/api/v1/auth/signin", "",
      {{"Cookie", "hearth_session=" + user.key}, {"Origin", "https://evil.example"}});
  check_envelope(out, 403);
  check_envelope(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me"), 200);
  EXPECT_EQ(households(user), 0u);
  // Each refusal is a NOTICE line, never with the session key.
  const auto log = hearth_->log();
  EXPECT_NE(log.find("security: cross-site write refused: request "), std::string::npos);
  EXPECT_NE(log.find("from 127.0.0.1: origin https://evil.example"), std::string::npos) << log;
  EXPECT_EQ(log.find(user.key), std::string::npos) << "a session key in the log";
}

TEST_F(csrf, a_cookie_write_from_a_trusted_or_its_own_origin_passes) {
  auto user = new_user("trusted");
  check_envelope(cookie_post(user, {{"Origin", "https://app.example"}}), 201, "AuthHousehold");
  check_envelope(cookie_post(user, {{"Origin", "HTTPS://APP.example"}}), 201, "AuthHousehold");
  check_envelope(cookie_post(user, {{"Origin", own_origin()}}), 201, "AuthHousehold");
  check_envelope(cookie_post(user, {{"Referer", own_origin() + "/"}}), 201, "AuthHousehold");
  EXPECT_EQ(households(user), 4u);
}

TEST_F(csrf, a_cookie_write_without_origin_or_referer_passes_by_default) {
  auto user = new_user("noorigin");
  check_envelope(cookie_post(user, {}), 201, "AuthHousehold");
}

TEST_F(csrf, bearer_writes_and_cookie_reads_are_not_checked) {
  auto user = new_user("bearer");
  auto res = http().request(
      "POST", "/api/v1/auth/households", json::serialize(json::object{{"name", "Bearer"}}),
      {{"Authorization", "Bearer " + user.key}, {"Origin", "https://evil.example"}});
  check_envelope(res, 201, "AuthHousehold");
  // With both, the bearer key is what authenticates: no check either.
  res = http().request("POST", "/api/v1/auth/households",
                       json::serialize(json::object{{"name", "Both"}}),
                       {{"Authorization", "Bearer " + user.key},
                        {"Cookie", "hearth_session=" + user.key},
                        {"Origin", "https://evil.example"}});
  check_envelope(res, 201, "AuthHousehold");
  auto read = http().request(
      "GET", "/api/v1/auth/households", "",
      {{"Cookie", "hearth_session=" + user.key}, {"Origin", "https://evil.example"}});
  check_envelope(read, 200, "AuthHousehold");
}

TEST_F(csrf, the_cookie_is_not_secure_over_plain_http) {
  auto user = new_user("plain");
  auto res = signin_response(user.email, user.password);
  require_status(res, 201, "signin");
  const auto cookie = res.header("set-cookie");
  EXPECT_NE(cookie.find("HttpOnly; SameSite=Lax"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << cookie;
}

class csrf_strict : public csrf {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_CSRF_REQUIRE_ORIGIN", "1"}};
  }
};

TEST_F(csrf_strict, refuses_a_cookie_write_with_neither_origin_nor_referer) {
  auto user = new_user("strict");
  auto res = cookie_post(user, {});
  check_envelope(res, 403);
  EXPECT_NE(message_of(res).find("needs an Origin or Referer"), std::string::npos) << res.body;
  check_envelope(cookie_post(user, {{"Origin", own_origin()}}), 201, "AuthHousehold");
  // Bearer clients send neither and are not affected.
  check_envelope(create_household_response(user.key, "Bearer"), 201, "AuthHousehold");
}

}  // namespace
}  // namespace hearth::testing
