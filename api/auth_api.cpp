// Accounts and sessions: signup, signin (bearer key + HttpOnly cookie),
// signout, me (its name, its e-mail address with a confirmation link), the
// password (changed, or reset through an e-mailed link), the account's
// sessions. Passwords are hashed with Argon2id on a pool thread; failed
// sign-ins, refused sign-ups, bad tokens and e-mails asked for are
// throttled (api/guard.hpp). E-mails go out as messages of the
// "account.email" topic (api/account_mail.hpp), sent by apps/notify.

#include <fmt/format.h>

#include <boost/json/object.hpp>
#include <optional>
#include <pqxx/pqxx>

#include "api/account_mail.hpp"
#include "api/api.hpp"
#include "api/bodies.hpp"
#include "config/logging.hpp"
#include "engine/pubsub.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/account_tokens.hpp"
#include "storage/accounts.hpp"
#include "storage/crypto.hpp"
#include "storage/errors.hpp"
#include "storage/households.hpp"

namespace hearth::api {
namespace {

constexpr const char* kAccount = "AuthAccount";
constexpr const char* kSession = "AuthSession";

boost::json::object to_json(const storage::account& a) {
  return {{"id", a.id},
          {"emailAddress", a.email_address},
          {"name", a.name},
          {"created", a.created},
          {"updated", a.updated}};
}

// The session cookie (RFC 6265 §4.1): HttpOnly, SameSite=Lax, and Secure
// when the request came over TLS (a browser then never sends it over
// plain HTTP).
std::string session_cookie(const std::string& value, std::int64_t max_age_s, bool tls) {
  return fmt::format("hearth_session={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}", value,
                     max_age_s, tls ? "; Secure" : "");
}

// Sign-up is throttled per client IP on refusals (an address taken, an
// invalid body): 409 tells whether an address has an account.
void signup(services& s, const http::request& req, http::responder respond) {
  const auto& ip = req.remote_addr;
  if (auto wait = s.guard.admit_signup(ip))
    return respond(auth_guard::too_many(req.request_id, wait,
                                        "too many refused sign-ups from this address: try "
                                        "again later"));
  std::string email, password, name;
  try {
    auto in = bodies::signup.read(req.body);
    email = in.at("emailAddress");
    password = in.at("password");
    name = in.at("name");
  } catch (const http::input_error&) {
    s.guard.signup_refused(ip);
    throw;
  }
  run_db(s, req, std::move(respond), [=, &s, rid = req.request_id](storage::connection& conn) {
    try {
      auto account = storage::create_account(conn, email, name, storage::hash_password(password));
      return http::ok(201, rid, kAccount, {to_json(account)});
    } catch (const storage::domain_error& e) {
      if (e.code == storage::errc::conflict) s.guard.signup_refused(ip);
      throw;
    }
  });
}

// Sign-in is throttled per account and per client IP (api/guard.hpp): the
// IP before the database is asked, both right before the password is
// verified. An unknown account counts, waits and answers exactly like a
// wrong password.
void signin(services& s, const http::request& req, http::responder respond) {
  constexpr const char* kThrottled = "too many failed sign-ins: try again later";
  auto in = bodies::signin.read(req.body);
  auto email = in.at("emailAddress");
  auto password = in.at("password");
  const auto& ip = req.remote_addr;
  if (auto wait = s.guard.admit_signin_ip(ip)) {
    log::notice("security: sign-in throttled: request {} from {}", req.request_id, ip);
    return respond(auth_guard::too_many(req.request_id, wait, kThrottled));
  }
  auto ttl = s.cfg.session_ttl_ms;
  run_db(s, req, std::move(respond),
         [=, &s, rid = req.request_id, tls = req.tls](storage::connection& conn) {
           auto who = storage::find_credentials(conn, email);
           const auto account = who.account_id.empty() ? "unknown" : who.account_id;
           if (auto wait = s.guard.admit_signin(ip, who.key)) {
             log::notice("security: sign-in throttled: request {} account {} from {}", rid, account,
                         ip);
             return auth_guard::too_many(rid, wait, kThrottled);
           }
           if (!storage::check_password(who, password)) {
             s.guard.signin_failed(ip, who.key);
             log::notice("security: sign-in failed: request {} account {} from {}", rid, account,
                         ip);
             throw storage::domain_error(storage::errc::unauthorized,
                                         "wrong emailAddress or password");
           }
           s.guard.signin_succeeded(who.key);
           auto session = storage::open_session(conn, who.account_id, ttl);
           auto r = http::ok(201, rid, kSession,
                             {boost::json::object{{"id", session.id},
                                                  {"key", session.key},
                                                  {"authAccountID", session.account_id},
                                                  {"expires", session.expires}}});
           r.headers.emplace_back("Set-Cookie", session_cookie(session.key, ttl / 1000, tls));
           return r;
         });
}

void signout(services& s, const http::request& req, http::responder respond) {
  run_authenticated(s, req, std::move(respond),
                    [&s, rid = req.request_id, tls = req.tls](storage::connection& conn,
                                                              const storage::principal& who) {
                      const auto revocation = storage::delete_session(conn, who.session_id);
                      // cached sessions, on every node
                      s.actors.revoke_account(who.account_id, revocation);
                      auto r = http::ok(200, rid, kSession, {});
                      r.headers.emplace_back("Set-Cookie", session_cookie("", 0, tls));
                      return r;
                    });
}

void me(services& s, const http::request& req, http::responder respond) {
  run_authenticated(
      s, req, std::move(respond),
      [rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        return http::ok(200, rid, kAccount, {to_json(storage::get_account(conn, who.account_id))});
      });
}

// The caller's name (what other members see).
void rename(services& s, const http::request& req, http::responder respond) {
  auto name = bodies::rename_account.read(req.body).at("name");
  run_authenticated(
      s, req, std::move(respond),
      [name, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        return http::ok(200, rid, kAccount,
                        {to_json(storage::rename_account(conn, who.account_id, name))});
      });
}

// The caller's unexpired sessions, newest first, never their keys;
// `current` marks the one this request came with.
void list_sessions(services& s, const http::request& req, http::responder respond) {
  run_authenticated(
      s, req, std::move(respond),
      [rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        boost::json::array out;
        for (const auto& x : storage::list_sessions(conn, who.account_id))
          out.emplace_back(boost::json::object{{"id", x.id},
                                               {"authAccountID", who.account_id},
                                               {"created", x.created},
                                               {"expires", x.expires},
                                               {"current", x.id == who.session_id}});
        return http::ok(200, rid, kSession, std::move(out));
      });
}

// Ends one of the caller's own sessions (another device's, or this one):
// its key stops working on every node. Another account's session is 404,
// as an unknown one.
void end_session(services& s, const http::request& req, http::responder respond) {
  const auto id = req.params.at("id");
  if (!http::is_uuid(id)) return respond(http::error(404, req.request_id, "session not found"));
  run_authenticated(s, req, std::move(respond),
                    [&s, id, rid = req.request_id, tls = req.tls](storage::connection& conn,
                                                                  const storage::principal& who) {
                      const auto revocation = storage::end_session(conn, who.account_id, id);
                      s.actors.revoke_account(who.account_id, revocation);  // on every node
                      auto r = http::ok(200, rid, kSession, {});
                      if (id == who.session_id)
                        r.headers.emplace_back("Set-Cookie", session_cookie("", 0, tls));
                      return r;
                    });
}

// Checks the caller's current password before a change that needs it (a
// new password, the account's deletion) as a sign-in checks one, with the
// sign-in throttle (api/guard.hpp), so a stolen session cannot guess it.
// Returns the 429 to answer when throttled, nullopt when the password is
// right; a wrong one throws domain_error(forbidden), 403 and not 401 (the
// session is fine: a client must not sign out over it). Both are logged
// at NOTICE, naming `action`.
std::optional<http::response> check_current_password(services& s, storage::connection& conn,
                                                     const storage::principal& who,
                                                     const std::string& password,
                                                     const std::string& ip, const std::string& rid,
                                                     const char* action) {
  auto c = storage::credentials_of(conn, who.account_id);
  if (auto wait = s.guard.admit_signin(ip, c.key)) {
    log::notice("security: {} throttled: request {} account {} from {}", action, rid,
                who.account_id, ip);
    return auth_guard::too_many(rid, wait, "too many wrong passwords: try again later");
  }
  if (!storage::check_password(c, password)) {
    s.guard.signin_failed(ip, c.key);
    log::notice("security: {} refused (wrong password): request {} account {} from {}", action, rid,
                who.account_id, ip);
    throw storage::domain_error(storage::errc::forbidden,
                                "password: not the account's current password");
  }
  s.guard.signin_succeeded(c.key);
  return std::nullopt;
}

// A new password, given the current one (check_current_password): every
// other session of the account ends (on every node); this one stays.
void change_password(services& s, const http::request& req, http::responder respond) {
  auto in = bodies::change_password.read(req.body);
  auto current = in.at("password");
  auto next = in.at("newPassword");
  const auto& ip = req.remote_addr;
  run_authenticated(
      s, req, std::move(respond),
      [&s, current, next, ip, rid = req.request_id](storage::connection& conn,
                                                    const storage::principal& who) {
        if (auto refused =
                check_current_password(s, conn, who, current, ip, rid, "password change"))
          return std::move(*refused);
        auto [account, revocation] = storage::change_password(conn, who.account_id, who.session_id,
                                                              storage::hash_password(next));
        s.actors.revoke_account(who.account_id, revocation);  // the other sessions, everywhere
        log::notice(
            "security: password changed, other sessions ended: request {} account {} "
            "from {}",
            rid, who.account_id, ip);
        return http::ok(200, rid, kAccount, {to_json(account)});
      });
}

// Deletes the caller's account, given its password
// (check_current_password): every session ends on every node, its memberships go,
// and a household of which it was the only member goes with every row. A
// household it owns alone with other members in it refuses (409): it must
// make one of them an owner first.
void delete_account(services& s, const http::request& req, http::responder respond) {
  auto password = bodies::delete_account.read(req.body).at("password");
  const auto& ip = req.remote_addr;
  run_authenticated(s, req, std::move(respond),
                    [&s, password, ip, rid = req.request_id, tls = req.tls](
                        storage::connection& conn, const storage::principal& who) {
                      if (auto refused = check_current_password(s, conn, who, password, ip, rid,
                                                                "account deletion"))
                        return std::move(*refused);
                      const auto revocation = storage::delete_account(conn, who.account_id);
                      s.actors.revoke_account(who.account_id, revocation);  // on every node
                      log::notice("security: account deleted: request {} account {} from {}", rid,
                                  who.account_id, ip);
                      auto r = http::ok(200, rid, kAccount, {});
                      r.headers.emplace_back("Set-Cookie", session_cookie("", 0, tls));
                      return r;
                    });
}

// --- e-mailed links: a password reset, a new address confirmed -------------

// POST /api/v1/auth/password-reset {emailAddress}: e-mails a link to reset
// the password (valid 1 hour, once) when an account has the address. The
// answer (202) is given before the address is looked up, so neither it nor
// its timing tells whether an account exists. Without smtpURL: 503.
void request_password_reset(services& s, const http::request& req, http::responder respond) {
  auto email = bodies::password_reset.read(req.body).at("emailAddress");
  const auto& rid = req.request_id;
  auto topic = account_mail_topic(s);
  if (!topic)
    return respond(http::error(503, rid,
                               "password reset needs e-mail: this server has no smtpURL "
                               "(docs/configuration.md)"));
  const auto& ip = req.remote_addr;
  if (auto refused = mail_refused(s, req, email, "password reset"))
    return respond(std::move(*refused));
  const bool queued = s.db.submit([email, ip, rid, topic = *topic,
                                   base = public_base_url(s, req)](storage::connection& conn) {
    try {
      pqxx::work tx{conn};
      auto account = storage::account_of_address(tx, email);
      if (account) {
        auto request = storage::request_token(tx, storage::token_purpose::password_reset, *account);
        topic.publish(tx, account_mail{request, base});
      }
      tx.commit();
      log::notice("security: password reset asked: request {} account {} from {}", rid,
                  account ? *account : "unknown", ip);
    } catch (const std::exception& e) {
      log::warn("password reset of request {}: not queued: {}", rid, e.what());
    }
  });
  if (!queued) return respond(busy_response(rid));
  auto r = http::envelope(202, rid, kAccount, {},
                          "if an account has this address, a link to reset its password is on "
                          "its way (valid 1 hour)");
  respond(std::move(r));
}

// POST /api/v1/auth/password-reset/confirm {token, newPassword}: sets the
// password of the token's account and ends every session of it (on every
// node). A bad token is 400, counted against the client's IP as an unknown
// session key is.
void confirm_password_reset(services& s, const http::request& req, http::responder respond) {
  auto in = bodies::reset_confirm.read(req.body);
  auto token = in.at("token");
  auto next = in.at("newPassword");
  const auto& ip = req.remote_addr;
  if (auto refused = token_throttled(s, req)) return respond(std::move(*refused));
  run_db(s, req, std::move(respond),
         [&s, token, next, ip, rid = req.request_id](storage::connection& conn) {
           auto done = storage::reset_password(conn, token, storage::hash_password(next));
           if (!done) refuse_token(s, ip, rid, "password reset");
           const auto& [account, revocation] = *done;
           s.actors.revoke_account(account.id, revocation);  // every session, everywhere
           log::notice(
               "security: password reset, every session ended: request {} account {} "
               "from {}",
               rid, account.id, ip);
           return http::ok(200, rid, kAccount, {to_json(account)});
         });
}

// PUT /api/v1/auth/accounts/me/email {password, emailAddress}: given the
// current password (check_current_password), e-mails a confirmation link
// to the new address (valid 1 hour, once) and answers 202 with the account
// unchanged; the address changes when the link is used. Without smtpURL
// no e-mail can confirm it: the address changes at once (200). An address
// another account has is 409.
void change_email(services& s, const http::request& req, http::responder respond) {
  auto in = bodies::change_email.read(req.body);
  auto password = in.at("password");
  auto email = in.at("emailAddress");
  const auto& ip = req.remote_addr;
  auto topic = account_mail_topic(s);
  if (topic)
    if (auto refused = mail_refused(s, req, email, "e-mail change"))
      return respond(std::move(*refused));
  run_authenticated(
      s, req, std::move(respond),
      [&s, password, email, ip, topic, base = public_base_url(s, req), rid = req.request_id](
          storage::connection& conn, const storage::principal& who) {
        if (auto refused = check_current_password(s, conn, who, password, ip, rid, "e-mail change"))
          return std::move(*refused);
        if (!topic) {
          auto account = storage::change_email(conn, who.account_id, email);
          log::notice(
              "security: e-mail address changed (no smtpURL: unconfirmed): request {} "
              "account {} from {}",
              rid, who.account_id, ip);
          return http::ok(200, rid, kAccount, {to_json(account)});
        }
        {
          pqxx::work tx{conn};
          storage::check_address_free(tx, email, who.account_id);
          auto request = storage::request_token(tx, storage::token_purpose::email_change,
                                                who.account_id, email);
          topic->publish(tx, account_mail{request, base});
          tx.commit();
        }
        log::notice(
            "security: e-mail change asked, link sent to the new address: request {} "
            "account {} from {}",
            rid, who.account_id, ip);
        return http::envelope(202, rid, kAccount,
                              {to_json(storage::get_account(conn, who.account_id))},
                              "a link to confirm the new address is on its way (valid 1 hour)");
      });
}

// POST /api/v1/auth/email/confirm {token}: the new address takes effect.
// Anonymous (the link may be opened on another device); a bad token is
// 400, counted as for a password reset; an address taken since is 409.
void confirm_email(services& s, const http::request& req, http::responder respond) {
  auto token = bodies::email_confirm.read(req.body).at("token");
  const auto& ip = req.remote_addr;
  if (auto refused = token_throttled(s, req)) return respond(std::move(*refused));
  run_db(s, req, std::move(respond),
         [&s, token, ip, rid = req.request_id](storage::connection& conn) {
           auto account = storage::confirm_email(conn, token);
           if (!account) refuse_token(s, ip, rid, "e-mail confirmation");
           log::notice("security: e-mail address changed: request {} account {} from {}", rid,
                       account->id, ip);
           return http::ok(200, rid, kAccount, {to_json(*account)});
         });
}

}  // namespace

std::optional<engine::topic<account_mail>> account_mail_topic(const services& s) {
  if (s.cfg.smtp_url.empty()) return std::nullopt;
  return s.registry.find_topic<account_mail>(kAccountMailTopic);
}

std::optional<http::response> token_throttled(services& s, const http::request& req) {
  const auto wait = s.guard.admit_key(req.remote_addr);
  if (!wait) return std::nullopt;
  return auth_guard::too_many(req.request_id, wait,
                              "too many invalid tokens from this address: try again later");
}

void refuse_token(services& s, const std::string& ip, const std::string& rid, const char* what,
                  const std::string& account) {
  s.guard.key_rejected(ip);
  if (account.empty())
    log::notice("security: {} refused (bad token): request {} from {}", what, rid, ip);
  else
    log::notice("security: {} refused (bad token): request {} account {} from {}", what, rid,
                account, ip);
  throw storage::domain_error(storage::errc::invalid, "token: unknown, already used or expired");
}

std::optional<http::response> mail_refused(services& s, const http::request& req,
                                           const std::string& email, const char* what) {
  const auto wait = s.guard.admit_mail(req.remote_addr, email);
  if (!wait) return std::nullopt;
  log::notice("security: {} throttled: request {} from {}", what, req.request_id, req.remote_addr);
  return auth_guard::too_many(req.request_id, wait, "too many e-mails asked for: try again later");
}

constexpr const char* kAccountSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},"emailAddress":{"type":"string","format":"email"},
  "name":{"type":"string"},"created":{"type":"string","format":"date-time"},
  "updated":{"type":"string","format":"date-time"}}})";
constexpr const char* kSessionSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},"key":{"type":"string"},
  "authAccountID":{"type":"string","format":"uuid"},
  "expires":{"type":"string","format":"date-time"}}})";
constexpr const char* kSessionListSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},"authAccountID":{"type":"string","format":"uuid"},
  "created":{"type":"string","format":"date-time"},
  "expires":{"type":"string","format":"date-time"},"current":{"type":"boolean"}}})";

void add_auth_routes(http::route_group& r, services& s) {
  using namespace std::placeholders;
  r.add({"POST",
         "/api/v1/auth/signup",
         std::bind(signup, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Create an account",
                  .tag = "auth",
                  .auth = "none",
                  .request_schema = bodies::signup.schema(),
                  .data_type = kAccount,
                  .data_schema = kAccountSchema,
                  .success = 201}}});
  r.add({"POST",
         "/api/v1/auth/signin",
         std::bind(signin, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Sign in: a session key (also set as the hearth_session cookie)",
                  .tag = "auth",
                  .auth = "none",
                  .request_schema = bodies::signin.schema(),
                  .data_type = kSession,
                  .data_schema = kSessionSchema,
                  .success = 201}}});
  r.add({"DELETE",
         "/api/v1/auth/signin",
         std::bind(signout, std::ref(s), _1, _2),
         {.doc = {.summary = "Sign out: end this session", .tag = "auth", .data_type = kSession}}});
  r.add({"GET",
         "/api/v1/auth/accounts/me",
         std::bind(me, std::ref(s), _1, _2),
         {.doc = {.summary = "The caller's account",
                  .tag = "auth",
                  .data_type = kAccount,
                  .data_schema = kAccountSchema}}});
  r.add({"PUT",
         "/api/v1/auth/accounts/me",
         std::bind(rename, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Change the caller's name",
                  .tag = "auth",
                  .request_schema = bodies::rename_account.schema(),
                  .data_type = kAccount,
                  .data_schema = kAccountSchema}}});
  r.add({"DELETE",
         "/api/v1/auth/accounts/me",
         std::bind(delete_account, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Delete the caller's account (its password required): sessions and "
                             "memberships go, and households it was alone in; a household it "
                             "owns alone with other members is 409",
                  .tag = "auth",
                  .request_schema = bodies::delete_account.schema(),
                  .data_type = kAccount}}});
  r.add({"PUT",
         "/api/v1/auth/accounts/me/password",
         std::bind(change_password, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Change the password (the current one required); every other "
                             "session of the account ends",
                  .tag = "auth",
                  .request_schema = bodies::change_password.schema(),
                  .data_type = kAccount,
                  .data_schema = kAccountSchema}}});
  r.add({"POST",
         "/api/v1/auth/password-reset",
         std::bind(request_password_reset, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "E-mail a link to reset the password (valid 1 hour, once) if an "
                             "account has the address; the answer is the same either way. 503 "
                             "without smtpURL",
                  .tag = "auth",
                  .auth = "none",
                  .request_schema = bodies::password_reset.schema(),
                  .data_type = kAccount,
                  .success = 202}}});
  r.add({"POST",
         "/api/v1/auth/password-reset/confirm",
         std::bind(confirm_password_reset, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Set a new password with the e-mailed token; every session of the "
                             "account ends",
                  .tag = "auth",
                  .auth = "none",
                  .request_schema = bodies::reset_confirm.schema(),
                  .data_type = kAccount,
                  .data_schema = kAccountSchema}}});
  r.add({"PUT",
         "/api/v1/auth/accounts/me/email",
         std::bind(change_email, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Change the e-mail address (the password required): 202 and a "
                             "confirmation link to the new address; without smtpURL, 200 and "
                             "changed at once",
                  .tag = "auth",
                  .request_schema = bodies::change_email.schema(),
                  .data_type = kAccount,
                  .data_schema = kAccountSchema,
                  .success = 202}}});
  r.add({"POST",
         "/api/v1/auth/email/confirm",
         std::bind(confirm_email, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Confirm a new e-mail address with the e-mailed token",
                  .tag = "auth",
                  .auth = "none",
                  .request_schema = bodies::email_confirm.schema(),
                  .data_type = kAccount,
                  .data_schema = kAccountSchema}}});
  r.add({"GET",
         "/api/v1/auth/sessions",
         std::bind(list_sessions, std::ref(s), _1, _2),
         {.doc = {.summary = "The caller's sessions, newest first (never their keys)",
                  .tag = "auth",
                  .data_type = kSession,
                  .data_schema = kSessionListSchema}}});
  r.add({"DELETE",
         "/api/v1/auth/sessions/{id}",
         std::bind(end_session, std::ref(s), _1, _2),
         {.doc = {.summary = "End one of the caller's sessions (its key stops working on every "
                             "node)",
                  .tag = "auth",
                  .data_type = kSession}}});
}

}  // namespace hearth::api
