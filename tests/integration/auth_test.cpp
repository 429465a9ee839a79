// Accounts, sessions, authentication, request ids and health.

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

using auth = hearth_test;

TEST_F(auth, signup_returns_the_account_without_secrets) {
  const auto email = unique_email("signup");
  auto res = signup(email, "a long password", "Signup User");
  auto env = check_envelope(res, 201, "AuthAccount");
  EXPECT_EQ(env.at("dataTotal").to_number<int>(), 1);
  auto account = first_value(res);
  EXPECT_FALSE(str(account, "id").empty());
  EXPECT_EQ(str(account, "emailAddress"), email);
  EXPECT_EQ(str(account, "name"), "Signup User");
  EXPECT_TRUE(account.contains("created"));
  EXPECT_TRUE(account.contains("updated"));
  EXPECT_EQ(res.body.find("a long password"), std::string::npos) << res.body;
  for (const auto& field : account) {
    std::string key(field.key());
    EXPECT_EQ(key.find("assword"), std::string::npos) << "secret field " << key;
    EXPECT_EQ(key.find("ash"), std::string::npos) << "secret field " << key;
  }
}

TEST_F(auth, duplicate_email_is_409) {
  const auto email = unique_email("dup");
  require_status(signup(email, "password one", "One"), 201, "first signup");
  check_envelope(signup(email, "password two", "Two"), 409);
}

TEST_F(auth, short_password_is_400) {
  check_envelope(signup(unique_email("short"), "1234567", "Short"), 400);
}

TEST_F(auth, email_without_at_sign_is_400) {
  check_envelope(signup("not-an-email.example.com", "a long password", "Bad"), 400);
}

TEST_F(auth, signin_returns_a_session_and_an_httponly_cookie) {
  auto user = new_user("signin");
  auto res = signin_response(user.email, user.password);
  check_envelope(res, 201, "AuthSession");
  auto session = first_value(res);
  const auto key = str(session, "key");
  EXPECT_FALSE(key.empty());
  EXPECT_FALSE(str(session, "id").empty());
  EXPECT_EQ(str(session, "authAccountID"), user.account_id);
  EXPECT_TRUE(session.contains("expires"));
  const auto cookie = res.header("set-cookie");
  EXPECT_NE(cookie.find("hearth_session=" + key), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
}

TEST_F(auth, wrong_password_is_401) {
  auto user = new_user("wrongpw");
  check_envelope(signin_response(user.email, "not the password"), 401);
}

TEST_F(auth, unknown_email_is_401) {
  check_envelope(signin_response(unique_email("nobody"), "a long password"), 401);
}

TEST_F(auth, bearer_key_authenticates) {
  auto user = new_user("bearer");
  auto res = http().request_as(user.key, "GET", "/api/v1/auth/accounts/me");
  check_envelope(res, 200, "AuthAccount");
  auto me = first_value(res);
  EXPECT_EQ(str(me, "id"), user.account_id);
  EXPECT_EQ(str(me, "emailAddress"), user.email);
  EXPECT_EQ(str(me, "name"), user.name);
}

TEST_F(auth, cookie_authenticates) {
  auto user = new_user("cookie");
  auto res = http().request("GET", "/api/v1/auth/accounts/me", "",
                            {{"Cookie", "other=1; hearth_session=" + user.key}});
  check_envelope(res, 200, "AuthAccount");
  EXPECT_EQ(str(first_value(res), "id"), user.account_id);
}

TEST_F(auth, missing_or_invalid_credentials_are_401) {
  check_envelope(http().request("GET", "/api/v1/auth/accounts/me"), 401);
  check_envelope(http().request_as("not-a-real-key", "GET", "/api/v1/auth/accounts/me"), 401);
  check_envelope(
      http().request("GET", "/api/v1/auth/accounts/me", "", {{"Cookie", "hearth_session=bogus"}}),
      401);
  check_envelope(http().request("GET", "/api/v1/shop/items"), 401);
}

TEST_F(auth, signout_invalidates_the_key) {
  auto user = new_user("signout");
  require_status(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me"), 200, "before");
  check_envelope(http().request_as(user.key, "DELETE", "/api/v1/auth/signin"), 200);
  check_envelope(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me"), 401);
}

TEST_F(auth, signout_ends_only_that_session) {
  auto user = new_user("twosessions");
  const auto second = signin(user.email, user.password);
  ASSERT_NE(second, user.key);
  require_status(http().request_as(user.key, "DELETE", "/api/v1/auth/signin"), 200, "signout");
  EXPECT_EQ(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me").status, 401u);
  EXPECT_EQ(http().request_as(second, "GET", "/api/v1/auth/accounts/me").status, 200u);
}

TEST_F(auth, the_caller_changes_its_name_and_nothing_else) {
  auto user = new_user("renamed");
  auto rename = [&](const json::object& body) {
    return http().request_as(user.key, "PUT", "/api/v1/auth/accounts/me", json::serialize(body));
  };
  check_envelope(rename({{"name", ""}}), 400);
  check_envelope(rename({{"name", std::string(201, 'x')}}), 400);
  check_envelope(rename({{"name", "New"}, {"emailAddress", "x@example.com"}}), 400);
  auto res = rename({{"name", "Renée"}});
  check_envelope(res, 200, "AuthAccount");
  EXPECT_EQ(str(first_value(res), "name"), "Renée");
  EXPECT_EQ(str(first_value(res), "emailAddress"), user.email);
  auto me = http().request_as(user.key, "GET", "/api/v1/auth/accounts/me");
  EXPECT_EQ(str(first_value(me), "name"), "Renée");
}

TEST_F(auth, sessions_are_listed_without_keys_and_one_ends_only_for_its_account) {
  auto user = new_user("sessions");
  const auto phone = signin(user.email, user.password);
  auto other = new_user("stranger");

  auto listed = http().request_as(user.key, "GET", "/api/v1/auth/sessions");
  check_envelope(listed, 200, "AuthSession");
  const auto doc = listed.json();
  const auto& sessions = doc.as_object().at("dataValue").as_array();
  ASSERT_EQ(sessions.size(), 2u) << listed.body;
  EXPECT_EQ(listed.body.find(phone), std::string::npos) << "a key was listed";
  EXPECT_EQ(listed.body.find(user.key), std::string::npos) << "a key was listed";
  std::string current, phone_id;
  for (const auto& v : sessions) {
    const auto& o = v.as_object();
    EXPECT_EQ(str(o, "authAccountID"), user.account_id);
    (o.at("current").as_bool() ? current : phone_id) = str(o, "id");
  }
  ASSERT_FALSE(current.empty());
  ASSERT_FALSE(phone_id.empty());

  // Another account cannot end it (404, as an unknown id); a bad id is 404.
  check_envelope(http().request_as(other.key, "DELETE", "/api/v1/auth/sessions/" + phone_id), 404);
  check_envelope(http().request_as(user.key, "DELETE", "/api/v1/auth/sessions/not-a-uuid"), 404);
  EXPECT_EQ(http().request_as(phone, "GET", "/api/v1/auth/accounts/me").status, 200u);
  // Its owner can: that key stops working, this one does not.
  check_envelope(http().request_as(user.key, "DELETE", "/api/v1/auth/sessions/" + phone_id), 200);
  EXPECT_EQ(http().request_as(phone, "GET", "/api/v1/auth/accounts/me").status, 401u);
  EXPECT_EQ(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me").status, 200u);
  check_envelope(http().request_as(user.key, "DELETE", "/api/v1/auth/sessions/" + phone_id), 404);
}

TEST_F(auth, a_password_change_needs_the_current_one_and_ends_every_other_session) {
  auto user = new_user("rekey");
  const auto laptop = signin(user.email, user.password);
  auto change = [&](const std::string& current, const std::string& next) {
    return http().request_as(
        user.key, "PUT", "/api/v1/auth/accounts/me/password",
        json::serialize(json::object{{"password", current}, {"newPassword", next}}));
  };
  // A wrong current password is 403 (the session itself is fine), a short
  // new one 400, an unknown field 400; nothing changes.
  auto wrong = change("not my password", "a brand new password");
  check_envelope(wrong, 403);
  EXPECT_EQ(message_of(wrong), "password: not the account's current password");
  check_envelope(change(user.password, "short"), 400);
  check_envelope(http().request_as(user.key, "PUT", "/api/v1/auth/accounts/me/password",
                                   json::serialize(json::object{{"password", user.password},
                                                                {"newPassword", "long enough 123"},
                                                                {"colour", "red"}})),
                 400);
  EXPECT_EQ(http().request_as(laptop, "GET", "/api/v1/auth/accounts/me").status, 200u);

  auto changed = change(user.password, "a brand new password");
  check_envelope(changed, 200, "AuthAccount");
  EXPECT_EQ(str(first_value(changed), "id"), user.account_id);
  EXPECT_EQ(changed.body.find("password"), std::string::npos) << "no hash in the answer";
  // The other session ended, this one goes on; the old password is refused
  // and the new one signs in.
  EXPECT_EQ(http().request_as(laptop, "GET", "/api/v1/auth/accounts/me").status, 401u);
  EXPECT_EQ(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me").status, 200u);
  auto old = http().request(
      "POST", "/api/v1/auth/signin",
      json::serialize(json::object{{"emailAddress", user.email}, {"password", user.password}}));
  EXPECT_EQ(old.status, 401u);
  EXPECT_FALSE(signin(user.email, "a brand new password").empty());
}

TEST_F(auth, an_account_is_deleted_with_its_password_unless_it_owns_others_alone) {
  auto ann = new_user("leaver");
  auto bob = new_user("stays");
  const auto alone = create_household(ann.key, "Alone");
  const auto shared = create_household(ann.key, "Shared");
  add_member(ann.key, shared, bob.email, "edit");
  auto item = http().request_as(
      ann.key, "POST", "/api/v1/shop/items",
      json::serialize(json::object{{"authHouseholdID", alone}, {"name", "mine"}}));
  require_status(item, 201, "item");
  auto remove = [&](const std::string& password) {
    return http().request_as(ann.key, "DELETE", "/api/v1/auth/accounts/me",
                             json::serialize(json::object{{"password", password}}));
  };
  check_envelope(remove("not the password"), 403);
  // No body (no Content-Type): 415; a body without the password: 400.
  check_envelope(http().request_as(ann.key, "DELETE", "/api/v1/auth/accounts/me", ""), 415);
  check_envelope(http().request_as(ann.key, "DELETE", "/api/v1/auth/accounts/me", "{}"), 400);
  // Ann owns "Shared" alone, and Bob is in it: refused, nothing deleted.
  auto refused = remove(ann.password);
  check_envelope(refused, 409);
  EXPECT_NE(message_of(refused).find(shared), std::string::npos) << refused.body;
  EXPECT_EQ(http().request_as(ann.key, "GET", "/api/v1/auth/accounts/me").status, 200u);
  // Bob made an owner: the deletion goes through.
  require_status(
      http().request_as(ann.key, "PUT",
                        "/api/v1/auth/households/" + shared + "/members/" + bob.account_id,
                        json::serialize(json::object{{"permissions", "owner"}})),
      200, "make Bob an owner");
  check_envelope(remove(ann.password), 200);
  EXPECT_EQ(http().request_as(ann.key, "GET", "/api/v1/auth/accounts/me").status, 401u);
  auto gone = http().request(
      "POST", "/api/v1/auth/signin",
      json::serialize(json::object{{"emailAddress", ann.email}, {"password", ann.password}}));
  EXPECT_EQ(gone.status, 401u);
  // The household Ann was alone in went with its rows; Bob keeps "Shared",
  // without Ann.
  EXPECT_EQ(http().request_as(bob.key, "GET", "/api/v1/auth/households/" + alone).status, 404u);
  auto members =
      http().request_as(bob.key, "GET", "/api/v1/auth/households/" + shared + "/members");
  require_status(members, 200, "members");
  const auto doc = members.json();
  ASSERT_EQ(doc.as_object().at("dataValue").as_array().size(), 1u) << members.body;
  // The address can sign up again.
  auto again = http().request(
      "POST", "/api/v1/auth/signup",
      json::serialize(json::object{
          {"emailAddress", ann.email}, {"password", ann.password}, {"name", "again"}}));
  EXPECT_EQ(again.status, 201u) << again.body;
}

TEST_F(auth, request_id_is_echoed_and_generated) {
  auto res = http().request("GET", "/api/v1/health", "", {{"X-Request-ID", "test-req-4711"}});
  EXPECT_EQ(res.header("x-request-id"), "test-req-4711");
  auto body = res.json().as_object();
  EXPECT_EQ(str(body, "requestID"), "test-req-4711");

  auto generated = http().request("GET", "/api/v1/health");
  const auto id = generated.header("x-request-id");
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(str(generated.json().as_object(), "requestID"), id);
  EXPECT_NE(http().request("GET", "/api/v1/health").header("x-request-id"), id)
      << "request ids must differ between requests";

  // On errors too.
  auto error = http().request("GET", "/api/v1/nothing-here", "", {{"X-Request-ID", "err-1"}});
  EXPECT_EQ(error.status, 404u);
  EXPECT_EQ(error.header("x-request-id"), "err-1");
}

TEST_F(auth, health_is_200) {
  auto res = http().request("GET", "/api/v1/health");
  check_envelope(res, 200);
}

}  // namespace
}  // namespace hearth::testing
