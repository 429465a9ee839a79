// Accounts and sessions: signup, signin (bearer key + HttpOnly cookie),
// signout, me. Passwords are hashed with Argon2id on a pool thread.

#include <fmt/format.h>

#include <boost/json/object.hpp>

#include "api/api.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/crypto.hpp"

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

std::string read_email(http::json_object_reader& in) {
  auto email = *in.string("emailAddress", true, 3, 254);
  auto at = email.find('@');
  if (at == std::string::npos || at == 0 || at == email.size() - 1 ||
      email.find_first_of(" \t\r\n<>") != std::string::npos)
    throw http::input_error("emailAddress: not an e-mail address");
  return email;
}

void signup(services& s, const http::request& req, http::responder respond) {
  http::json_object_reader in(req.body);
  auto email = read_email(in);
  auto password = *in.string("password", true, 8, 1024);
  auto name = *in.string("name", true, 1, 200);
  in.reject_unknown();
  run_db(s, req, std::move(respond), [=, rid = req.request_id](storage::connection& conn) {
    auto account = storage::create_account(conn, email, name, storage::hash_password(password));
    return http::ok(201, rid, kAccount, {to_json(account)});
  });
}

void signin(services& s, const http::request& req, http::responder respond) {
  http::json_object_reader in(req.body);
  auto email = *in.string("emailAddress", true, 1, 254);
  auto password = *in.string("password", true, 1, 1024);
  in.reject_unknown();
  auto ttl = s.cfg.session_ttl_ms;
  run_db(s, req, std::move(respond), [=, rid = req.request_id](storage::connection& conn) {
    auto session = storage::sign_in(conn, email, password, ttl);
    auto r = http::ok(201, rid, kSession,
                      {boost::json::object{{"id", session.id},
                                           {"key", session.key},
                                           {"authAccountID", session.account_id},
                                           {"expires", session.expires}}});
    r.headers.emplace_back(
        "Set-Cookie", fmt::format("hearth_session={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
                                  session.key, ttl / 1000));
    return r;
  });
}

void signout(services& s, const http::request& req, http::responder respond) {
  run_authenticated(
      s, req, std::move(respond),
      [&s, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        storage::delete_session(conn, who.session_id);
        s.actors.revoke_account(who.account_id);  // cached sessions, on every node
        auto r = http::ok(200, rid, kSession, {});
        r.headers.emplace_back("Set-Cookie",
                               "hearth_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
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

}  // namespace

constexpr const char* kAccountSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},"emailAddress":{"type":"string","format":"email"},
  "name":{"type":"string"},"created":{"type":"string","format":"date-time"},
  "updated":{"type":"string","format":"date-time"}}})";
constexpr const char* kSessionSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},"key":{"type":"string"},
  "authAccountID":{"type":"string","format":"uuid"},
  "expires":{"type":"string","format":"date-time"}}})";

void add_auth_routes(http::route_group& r, services& s) {
  using namespace std::placeholders;
  r.add({"POST",
         "/api/v1/auth/signup",
         std::bind(signup, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Create an account",
                  .tag = "auth",
                  .auth = "none",
                  .request_schema = R"({"type":"object","additionalProperties":false,
                    "required":["emailAddress","password","name"],"properties":{
                    "emailAddress":{"type":"string","format":"email"},
                    "password":{"type":"string","minLength":8},
                    "name":{"type":"string","minLength":1}}})",
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
                  .request_schema = R"({"type":"object","additionalProperties":false,
                    "required":["emailAddress","password"],"properties":{
                    "emailAddress":{"type":"string","format":"email"},
                    "password":{"type":"string"}}})",
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
}

}  // namespace hearth::api
