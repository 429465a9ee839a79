// E-mailed links (docs/api.md, "E-mailed links"): a forgotten password
// reset through a single-use link, a new address confirmed by a link sent
// to it, an invitation to a household, the e-mails' throttle, and what each
// does on a server without smtpURL. Against the real binary, a real
// PostgreSQL and a local SMTP sink (tests/support/smtp_sink.py). Every wait
// polls with a deadline.

#include <pqxx/pqxx>

#include "tests/integration/fixture.hpp"
#include "tests/support/smtp_sink.hpp"

namespace hearth::testing {
namespace {

std::int64_t db_count(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec1(sql)[0].as<std::int64_t>();
}

void db_exec(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  tx.exec0(sql);
}

// The token of the link after `marker` ("#reset-password=") in an e-mail's
// body: 43 base64url characters.
std::string token_after(const std::string& body, const std::string& marker) {
  auto at = body.find(marker);
  if (at == std::string::npos) return "";
  return body.substr(at + marker.size(), 43);
}

class account_email : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {
        {"HEARTH_SMTP_URL", sink_.url()},
        {"HEARTH_SMTP_FROM", "hearth <hearth@example.com>"},
        {"HEARTH_SMTP_STARTTLS", "off"},
        {"HEARTH_SMTP_TIMEOUT_MS", "3000"},
        {"HEARTH_PUBSUB_POLL_MS", "50"},
        // A throttled e-mail stays refused for the whole test, however slow
        // the machine.
        {"HEARTH_AUTH_RETRY_AFTER_MS", "60000"},
    };
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "---- SMTP sink ----\n" << sink_.log() << "\n";
    hearth_test::TearDown();
  }

  http_response post(const std::string& target, const json::object& body) {
    return http().request("POST", target, json::serialize(body));
  }

  // Waits for the n-th e-mail (1-based) and returns it.
  smtp_sink::message nth_mail(std::size_t n) {
    EXPECT_TRUE(sink_.wait_count(n, 20s)) << "no e-mail " << n << " within 20 s";
    auto all = sink_.messages();
    if (all.size() < n) throw std::runtime_error("no e-mail " + std::to_string(n));
    return all[n - 1];
  }

  smtp_sink sink_;
};

TEST_F(account_email, a_forgotten_password_is_reset_once_through_an_emailed_link) {
  auto user = new_user("forgetful");
  const auto laptop = signin(user.email, user.password);

  // An unknown address gets the same answer as a known one, and no e-mail.
  auto unknown = post("/api/v1/auth/password-reset", {{"emailAddress", "nobody@example.com"}});
  auto known = post("/api/v1/auth/password-reset", {{"emailAddress", user.email}});
  check_envelope(unknown, 202, "AuthAccount");
  check_envelope(known, 202, "AuthAccount");
  auto same_but_id = [](const http_response& r) {
    auto o = r.json().as_object();
    o.erase("requestID");
    return json::serialize(o);
  };
  EXPECT_EQ(same_but_id(unknown), same_but_id(known)) << "the answers differ beyond the request id";
  check_envelope(post("/api/v1/auth/password-reset", {{"emailAddress", "not an address"}}), 400);

  auto mail = nth_mail(1);
  EXPECT_EQ(mail.rcpt_to, "<" + user.email + ">");
  EXPECT_EQ(mail.subject(), "Reset your hearth password");
  const auto token = token_after(mail.body, "/#reset-password=");
  ASSERT_EQ(token.size(), 43u) << mail.body;
  // One request was recorded, and no usable token is in the database: the
  // message names the request, the table holds the token's hash.
  EXPECT_TRUE(eventually([&] {
    return db_count(database_url_,
                    "SELECT count(*) FROM auth_token WHERE token_hash IS NOT NULL") == 1;
  }));
  EXPECT_EQ(db_count(database_url_, "SELECT count(*) FROM auth_token"), 1);
  EXPECT_EQ(
      db_count(database_url_, "SELECT count(*) FROM pubsub_message WHERE topic = 'account.email'"),
      1);
  EXPECT_EQ(db_count(database_url_,
                     "SELECT count(*) FROM pubsub_message WHERE payload::text LIKE "
                     "'%" +
                         token + "%'"),
            0);

  // A wrong token and a short password are refused; nothing changed.
  auto confirm = [&](const std::string& t, const std::string& password) {
    return post("/api/v1/auth/password-reset/confirm", {{"token", t}, {"newPassword", password}});
  };
  auto wrong = confirm(std::string(43, 'A'), "a new password at last");
  check_envelope(wrong, 400);
  EXPECT_EQ(message_of(wrong), "token: unknown, already used or expired");
  check_envelope(confirm(token, "short"), 400);
  EXPECT_EQ(http().request_as(laptop, "GET", "/api/v1/auth/accounts/me").status, 200u);

  auto reset = confirm(token, "a new password at last");
  check_envelope(reset, 200, "AuthAccount");
  EXPECT_EQ(str(first_value(reset), "id"), user.account_id);
  // Every session ended; the old password is refused, the new one signs in.
  EXPECT_EQ(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me").status, 401u);
  EXPECT_EQ(http().request_as(laptop, "GET", "/api/v1/auth/accounts/me").status, 401u);
  EXPECT_EQ(signin_response(user.email, user.password).status, 401u);
  EXPECT_FALSE(signin(user.email, "a new password at last").empty());
  // The token worked once.
  check_envelope(confirm(token, "yet another password"), 400);

  // A token past its hour is refused.
  check_envelope(post("/api/v1/auth/password-reset", {{"emailAddress", user.email}}), 202);
  const auto late = token_after(nth_mail(2).body, "/#reset-password=");
  ASSERT_EQ(late.size(), 43u);
  db_exec(database_url_, "UPDATE auth_token SET expires = now() - interval '1 second'");
  check_envelope(confirm(late, "too late a password"), 400);
  EXPECT_FALSE(signin(user.email, "a new password at last").empty());
}

TEST_F(account_email, a_new_address_is_confirmed_by_a_link_sent_to_it) {
  auto user = new_user("mover");
  auto other = new_user("neighbour");
  const auto fresh = unique_email("moved");
  auto change = [&](const std::string& password, const std::string& email) {
    return http().request_as(
        user.key, "PUT", "/api/v1/auth/accounts/me/email",
        json::serialize(json::object{{"password", password}, {"emailAddress", email}}));
  };
  check_envelope(change("not my password", fresh), 403);
  check_envelope(change(user.password, other.email), 409);
  check_envelope(change(user.password, "no-at-sign"), 400);
  check_envelope(http().request("PUT", "/api/v1/auth/accounts/me/email",
                                json::serialize(json::object{{"password", user.password},
                                                             {"emailAddress", fresh}})),
                 401);

  // Asked: 202 with the account as it is; the address changes only once
  // the link sent to the new address is used.
  auto asked = change(user.password, fresh);
  check_envelope(asked, 202, "AuthAccount");
  EXPECT_EQ(str(first_value(asked), "emailAddress"), user.email);
  auto mail = nth_mail(1);
  EXPECT_EQ(mail.rcpt_to, "<" + fresh + ">");
  EXPECT_EQ(mail.subject(), "Confirm your new hearth e-mail address");
  const auto token = token_after(mail.body, "/#confirm-email=");
  ASSERT_EQ(token.size(), 43u) << mail.body;
  auto me = http().request_as(user.key, "GET", "/api/v1/auth/accounts/me");
  EXPECT_EQ(str(first_value(me), "emailAddress"), user.email);

  // A password-reset token does not confirm an address.
  check_envelope(post("/api/v1/auth/email/confirm", {{"token", std::string(43, 'x')}}), 400);
  auto confirmed = post("/api/v1/auth/email/confirm", {{"token", token}});
  check_envelope(confirmed, 200, "AuthAccount");
  EXPECT_EQ(str(first_value(confirmed), "emailAddress"), fresh);
  EXPECT_EQ(str(first_value(confirmed), "id"), user.account_id);
  // The session goes on; the new address signs in, the old one no longer.
  EXPECT_EQ(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me").status, 200u);
  EXPECT_FALSE(signin(fresh, user.password).empty());
  EXPECT_EQ(signin_response(user.email, user.password).status, 401u);
  check_envelope(post("/api/v1/auth/email/confirm", {{"token", token}}), 400);

  // An address taken between the request and the link: 409, and the token is spent.
  const auto contested = unique_email("contested");
  check_envelope(change(user.password, contested), 202);
  const auto second = token_after(nth_mail(2).body, "/#confirm-email=");
  ASSERT_EQ(second.size(), 43u);
  check_envelope(signup(contested, "someone else's password", "Quick"), 201);
  check_envelope(post("/api/v1/auth/email/confirm", {{"token", second}}), 409);
  check_envelope(post("/api/v1/auth/email/confirm", {{"token", second}}), 400);
}

TEST_F(account_email, e_mails_to_one_address_are_throttled) {
  auto user = new_user("flooded");
  for (int i = 0; i < 5; ++i)
    check_envelope(post("/api/v1/auth/password-reset", {{"emailAddress", user.email}}), 202);
  auto refused = post("/api/v1/auth/password-reset", {{"emailAddress", user.email}});
  check_envelope(refused, 429);
  EXPECT_FALSE(refused.header("retry-after").empty());
  // Another address is not held up by it.
  auto other = new_user("calm");
  check_envelope(post("/api/v1/auth/password-reset", {{"emailAddress", other.email}}), 202);
  EXPECT_TRUE(sink_.wait_count(6, 20s)) << "expected 6 e-mails";
}

TEST_F(account_email, an_invitation_by_e_mail_lets_the_invitee_join_once) {
  auto owner = new_user("host");
  auto editor = new_user("helper");
  const auto home = create_household(owner.key, "Lakeside");
  add_member(owner.key, home, editor.email, "edit");
  const auto guest_email = unique_email("guest");
  auto invite = [&](const std::string& key, const std::string& email, const std::string& role) {
    return http().request_as(
        key, "POST", "/api/v1/auth/households/" + home + "/invitations",
        json::serialize(json::object{{"emailAddress", email}, {"permissions", role}}));
  };
  check_envelope(invite(editor.key, guest_email, "view"), 403);
  check_envelope(invite(owner.key, editor.email, "view"), 409);
  check_envelope(invite(owner.key, guest_email, "admin"), 400);
  check_envelope(
      http().request_as(
          owner.key, "POST", "/api/v1/auth/households/not-a-uuid/invitations",
          json::serialize(json::object{{"emailAddress", guest_email}, {"permissions", "view"}})),
      404);

  auto invited = invite(owner.key, guest_email, "view");
  check_envelope(invited, 201, "AuthHouseholdInvitation");
  auto invitation = first_value(invited);
  EXPECT_EQ(str(invitation, "emailAddress"), guest_email);
  EXPECT_EQ(str(invitation, "permissions"), "view");
  EXPECT_FALSE(invitation.contains("link")) << "with smtpURL the link goes by e-mail only";
  auto pending =
      http().request_as(owner.key, "GET", "/api/v1/auth/households/" + home + "/invitations");
  check_envelope(pending, 200, "AuthHouseholdInvitation");
  EXPECT_EQ(pending.json().as_object().at("dataValue").as_array().size(), 1u);
  check_envelope(
      http().request_as(editor.key, "GET", "/api/v1/auth/households/" + home + "/invitations"),
      403);

  auto mail = nth_mail(1);
  EXPECT_EQ(mail.rcpt_to, "<" + guest_email + ">");
  EXPECT_NE(mail.subject().find("Lakeside"), std::string::npos) << mail.subject();
  const auto token = token_after(mail.body, "/#invitation=");
  ASSERT_EQ(token.size(), 43u) << mail.body;

  // The invitee signs up with the invited address and joins, once.
  check_envelope(signup(guest_email, "guest password 1", "Guest"), 201);
  const auto guest = signin(guest_email, "guest password 1");
  auto accept = [&](const std::string& key, const std::string& t) {
    return http().request_as(key, "POST", "/api/v1/auth/invitations/accept",
                             json::serialize(json::object{{"token", t}}));
  };
  check_envelope(accept(guest, std::string(43, 'B')), 400);
  auto joined = accept(guest, token);
  check_envelope(joined, 201, "AuthHouseholdMember");
  EXPECT_EQ(str(first_value(joined), "authHouseholdID"), home);
  EXPECT_EQ(str(first_value(joined), "permissions"), "view");
  auto theirs = http().request_as(guest, "GET", "/api/v1/auth/households/" + home);
  check_envelope(theirs, 200, "AuthHousehold");
  EXPECT_EQ(str(first_value(theirs), "permissions"), "view");
  check_envelope(accept(guest, token), 400);
  EXPECT_EQ(http()
                .request_as(owner.key, "GET", "/api/v1/auth/households/" + home + "/invitations")
                .json()
                .as_object()
                .at("dataValue")
                .as_array()
                .size(),
            0u);

  // A withdrawn invitation's link no longer works.
  auto later = new_user("later");
  auto second = first_value(invite(owner.key, later.email, "edit"));
  const auto second_token = token_after(nth_mail(2).body, "/#invitation=");
  ASSERT_EQ(second_token.size(), 43u);
  check_envelope(
      http().request_as(owner.key, "DELETE",
                        "/api/v1/auth/households/" + home + "/invitations/" + str(second, "id")),
      200);
  check_envelope(accept(later.key, second_token), 400);

  // Someone added directly meanwhile gets 409, and the link stays usable.
  auto third = new_user("third");
  check_envelope(invite(owner.key, third.email, "edit"), 201);
  const auto third_token = token_after(nth_mail(3).body, "/#invitation=");
  ASSERT_EQ(third_token.size(), 43u);
  add_member(owner.key, home, third.email, "view");
  check_envelope(accept(third.key, third_token), 409);
}

// Without smtpURL nothing can be e-mailed: a reset is 503, and a new address
// takes effect at once (the password still required).
class account_email_off : public hearth_test {};

TEST_F(account_email_off,
       without_smtp_a_reset_is_503_an_address_changes_at_once_and_invitations_carry_their_link) {
  auto user = new_user("offline");
  auto reset = http().request("POST", "/api/v1/auth/password-reset",
                              json::serialize(json::object{{"emailAddress", user.email}}));
  check_envelope(reset, 503);
  EXPECT_NE(message_of(reset).find("smtpURL"), std::string::npos) << reset.body;
  const auto fresh = unique_email("offline-moved");
  auto changed = http().request_as(
      user.key, "PUT", "/api/v1/auth/accounts/me/email",
      json::serialize(json::object{{"password", user.password}, {"emailAddress", fresh}}));
  check_envelope(changed, 200, "AuthAccount");
  EXPECT_EQ(str(first_value(changed), "emailAddress"), fresh);
  EXPECT_FALSE(signin(fresh, user.password).empty());
  EXPECT_EQ(db_count(database_url_, "SELECT count(*) FROM auth_token"), 0);

  // An invitation's link is given to the owner to pass on.
  const auto home = create_household(user.key, "Off-grid");
  auto guest = new_user("off-grid-guest");
  auto invited = http().request_as(
      user.key, "POST", "/api/v1/auth/households/" + home + "/invitations",
      json::serialize(json::object{{"emailAddress", guest.email}, {"permissions", "edit"}}));
  check_envelope(invited, 201, "AuthHouseholdInvitation");
  const auto link = str(first_value(invited), "link");
  const auto at = link.find("/#invitation=");
  ASSERT_NE(at, std::string::npos) << link;
  auto joined = http().request_as(
      guest.key, "POST", "/api/v1/auth/invitations/accept",
      json::serialize(
          json::object{{"token", link.substr(at + std::string("/#invitation=").size())}}));
  check_envelope(joined, 201, "AuthHouseholdMember");
  EXPECT_EQ(str(first_value(joined), "permissions"), "edit");
}

}  // namespace
}  // namespace hearth::testing
