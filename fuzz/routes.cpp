#include "fuzz/routes.hpp"

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "api/bodies.hpp"
#include "api/table_input.hpp"
#include "domain/tables.hpp"
#include "fuzz/check.hpp"
#include "http/envelope.hpp"
#include "http/idempotency_key.hpp"
#include "http/json_input.hpp"
#include "http/middleware.hpp"
#include "http/sse.hpp"
#include "http/url.hpp"
#include "storage/idempotency.hpp"

namespace hearth::fuzz {
namespace {

using http::input_error;

void ok(const http::request& req, const http::responder& respond, unsigned status = 200) {
  respond(http::ok(status, req.request_id, "Fuzz", {}));
}

http::handler no_body() {
  return [](const http::request& req, http::responder respond) { ok(req, respond); };
}

// A route whose body is declared once (api/bodies.hpp): the server's own
// validation, then `status`.
http::handler declared_body(const http::body_spec& spec, unsigned status = 200) {
  return [&spec, status](const http::request& req, http::responder respond) {
    spec.read(req.body);
    ok(req, respond, status);
  };
}

// A path id: not a UUID is 404 (api/table_api.cpp row_id, and the others).
bool path_uuid(const http::request& req, const http::responder& respond, const char* name = "id") {
  if (http::is_uuid(req.params.at(name))) return true;
  respond(http::error(404, req.request_id, "not found"));
  return false;
}

// api::idempotency_of (api/request.cpp): the header's syntax, then the
// request's fingerprint.
void keyed(const http::request& req) {
  auto key = http::idempotency_key(req);
  if (!key) return;
  FUZZ_CHECK(!key->empty() && key->size() <= http::kMaxIdempotencyKeyBytes);
  for (char c : *key) FUZZ_CHECK(c >= 0x21 && c <= 0x7e);
  FUZZ_CHECK(req.header("idempotency-key") == *key);
  FUZZ_CHECK(storage::request_fingerprint(req.method, req.target, req.body).size() == 32);
}

// A household id from a JSON body (apps/calendar/routes.cpp household_of).
void household_of(http::json_object_reader& in) {
  auto h = *in.string("authHouseholdID", true, 1, 64);
  if (!http::is_uuid(h)) throw input_error("authHouseholdID: must be a UUID");
}

void add_table(http::route_group& g, const storage::table_spec& t) {
  g.add({"GET", t.path, [](const http::request& req, http::responder respond) {
           if (auto it = req.query.find("authHouseholdID"); it != req.query.end())
             if (!http::is_uuid(it->second)) throw input_error("authHouseholdID: must be a UUID");
           if (auto it = req.query.find("updatedAfter"); it != req.query.end())
             if (!http::utc_timestamp(it->second))
               throw input_error("updatedAfter: must be an RFC 3339 UTC time");
           ok(req, respond);
         }});
  g.add({"POST",
         t.path,
         [&t](const http::request& req, http::responder respond) {
           auto in = api::read_create_body(req.body, t);
           FUZZ_CHECK(http::is_uuid(in.household));
           keyed(req);
           ok(req, respond, 201);
         },
         {.json_body = true}});
  g.add({"GET", t.path + "/{id}", [](const http::request& req, http::responder respond) {
           if (path_uuid(req, respond)) ok(req, respond);
         }});
  g.add({"PUT",
         t.path + "/{id}",
         [&t](const http::request& req, http::responder respond) {
           if (!path_uuid(req, respond)) return;
           auto u = api::read_update_body(req.body, t, req.params.at("id"));
           FUZZ_CHECK(!u.values.empty() || u.household);
           keyed(req);
           ok(req, respond);
         },
         {.json_body = true}});
  g.add({"DELETE", t.path + "/{id}", [](const http::request& req, http::responder respond) {
           if (!path_uuid(req, respond)) return;
           keyed(req);
           ok(req, respond);
         }});
}

// apps/notify/routes.cpp: the caller's notifications and channels.
void add_notifications(http::route_group& api) {
  api.add({"GET", "/api/v1/notifications", [](const http::request& req, http::responder respond) {
             if (auto it = req.query.find("dismissed"); it != req.query.end())
               if (it->second != "true" && it->second != "false")
                 throw input_error("dismissed: must be true or false");
             if (auto it = req.query.find("limit"); it != req.query.end()) {
               const auto& text = it->second;
               int v = 0;
               bool digits = !text.empty() && text.size() <= 3;
               for (char c : text) digits = digits && c >= '0' && c <= '9';
               if (digits) v = std::stoi(text);
               if (!digits || v < 1 || v > 500)
                 throw input_error("limit: must be an integer from 1 to 500");
             }
             ok(req, respond);
           }});
  api.add({"GET", "/api/v1/notifications/preferences", no_body()});
  api.add({"PUT",
           "/api/v1/notifications/preferences",
           [](const http::request& req, http::responder respond) {
             http::json_object_reader in(req.body);
             auto in_app = in.boolean("inApp", false);
             auto email = in.boolean("email", false);
             in.reject_unknown();
             if (!in_app && !email) throw input_error("request body: no field to update");
             ok(req, respond);
           },
           {.json_body = true}});
  api.add({"POST", "/api/v1/notifications/{id}/dismiss",
           [](const http::request& req, http::responder respond) {
             if (path_uuid(req, respond)) ok(req, respond);
           }});
}

// apps/calendar/routes.cpp: feeds and subscriptions.
void add_calendar(http::route_group& api) {
  api.add({"POST",
           "/api/v1/calendar/feeds",
           [](const http::request& req, http::responder respond) {
             http::json_object_reader in(req.body);
             household_of(in);
             in.reject_unknown();
             ok(req, respond, 201);
           },
           {.json_body = true}});
  api.add({"GET", "/api/v1/calendar/feeds/{token}", no_body(), {.produces = "text/calendar"}});
  api.add({"POST",
           "/api/v1/calendar/subscriptions",
           [](const http::request& req, http::responder respond) {
             http::json_object_reader in(req.body);
             household_of(in);
             auto url = *in.string("url", true, 1, 2048);
             in.string("name", false, 0, 200);
             in.reject_unknown();
             // webcal:// is fetched as https:// (apps/calendar/import.cpp fetch_url).
             std::string fetched = url;
             if (fetched.size() >= 9) {
               std::string scheme = fetched.substr(0, 9);
               for (auto& c : scheme)
                 c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
               if (scheme == "webcal://") fetched = "https://" + fetched.substr(9);
             }
             if (auto problem = http::url_problem(fetched))
               throw input_error("url: " + *problem + " (http, https or webcal)");
             ok(req, respond, 201);
           },
           {.json_body = true}});
  api.add({"GET", "/api/v1/calendar/subscriptions",
           [](const http::request& req, http::responder respond) {
             if (auto it = req.query.find("authHouseholdID"); it != req.query.end())
               if (!http::is_uuid(it->second)) throw input_error("authHouseholdID: must be a UUID");
             ok(req, respond);
           }});
  api.add({"DELETE", "/api/v1/calendar/subscriptions/{id}",
           [](const http::request& req, http::responder respond) {
             if (path_uuid(req, respond)) ok(req, respond);
           }});
}

// The operator group's routes say so (doc.auth), as the real ones do.
void add_operator(http::route_group& ops, http::route r) {
  r.options.doc.auth = "operator";
  ops.add(std::move(r));
}

}  // namespace

http::router make_routes() {
  http::router r;
  // The API group as configured with corsOrigins and a rate limit. The
  // cross-site check applies to cookie-authenticated requests
  // (api::cookie_authenticated: a hearth_session cookie and no bearer key).
  std::vector<std::string> origins = {"https://app.example", "http://localhost:8080"};
  auto cookie_authenticated = [](const http::request& req) {
    return req.header("authorization").substr(0, 7) != "Bearer " &&
           req.header("cookie").find("hearth_session=") != std::string_view::npos;
  };
  http::route_group api(
      r,
      {http::cors(origins), http::same_origin_writes(origins, false, cookie_authenticated),
       http::rate_limit(1e9, 1e9), http::concurrency_limit(1024)},
      true);
  // api/auth_api.cpp: the bodies as declared (api/bodies.hpp)
  const auto body = [&](const char* method, const char* path, const http::body_spec& spec,
                        unsigned status = 200) {
    api.add({method, path, declared_body(spec, status), {.json_body = true}});
  };
  body("POST", "/api/v1/auth/signup", api::bodies::signup, 201);
  body("POST", "/api/v1/auth/signin", api::bodies::signin);
  api.add({"DELETE", "/api/v1/auth/signin", no_body()});
  api.add({"GET", "/api/v1/auth/accounts/me", no_body()});
  body("PUT", "/api/v1/auth/accounts/me", api::bodies::rename_account);
  body("DELETE", "/api/v1/auth/accounts/me", api::bodies::delete_account);
  body("PUT", "/api/v1/auth/accounts/me/password", api::bodies::change_password);
  body("PUT", "/api/v1/auth/accounts/me/email", api::bodies::change_email, 202);
  body("POST", "/api/v1/auth/password-reset", api::bodies::password_reset, 202);
  body("POST", "/api/v1/auth/password-reset/confirm", api::bodies::reset_confirm);
  body("POST", "/api/v1/auth/email/confirm", api::bodies::email_confirm);
  api.add({"GET", "/api/v1/auth/sessions", no_body()});
  api.add({"DELETE", "/api/v1/auth/sessions/{id}",
           [](const http::request& req, http::responder respond) {
             if (path_uuid(req, respond)) ok(req, respond);
           }});
  // api/household_api.cpp
  api.add({"POST",
           "/api/v1/auth/households",
           [](const http::request& req, http::responder respond) {
             api::bodies::create_household.read(req.body);
             keyed(req);
             ok(req, respond, 201);
           },
           {.json_body = true}});
  api.add({"GET", "/api/v1/auth/households", no_body()});
  api.add({"POST",
           "/api/v1/auth/households/{id}/members",
           [](const http::request& req, http::responder respond) {
             if (!path_uuid(req, respond)) return;
             api::bodies::add_member.read(req.body);
             keyed(req);
             ok(req, respond, 201);
           },
           {.json_body = true}});
  const auto household_path = [](const http::request& req, const http::responder& respond) {
    return path_uuid(req, respond);
  };
  api.add({"GET", "/api/v1/auth/households/{id}",
           [=](const http::request& req, http::responder respond) {
             if (household_path(req, respond)) ok(req, respond);
           }});
  api.add({"PUT",
           "/api/v1/auth/households/{id}",
           [=](const http::request& req, http::responder respond) {
             if (!household_path(req, respond)) return;
             api::bodies::update_household.read(req.body);
             ok(req, respond);
           },
           {.json_body = true}});
  api.add({"DELETE", "/api/v1/auth/households/{id}",
           [=](const http::request& req, http::responder respond) {
             if (household_path(req, respond)) ok(req, respond);
           }});
  api.add({"GET", "/api/v1/auth/households/{id}/members",
           [=](const http::request& req, http::responder respond) {
             if (household_path(req, respond)) ok(req, respond);
           }});
  api.add({"PUT",
           "/api/v1/auth/households/{id}/members/{accountID}",
           [](const http::request& req, http::responder respond) {
             if (!path_uuid(req, respond) || !path_uuid(req, respond, "accountID")) return;
             api::bodies::set_role.read(req.body);
             ok(req, respond);
           },
           {.json_body = true}});
  api.add({"DELETE", "/api/v1/auth/households/{id}/members/{accountID}",
           [](const http::request& req, http::responder respond) {
             if (!path_uuid(req, respond) || !path_uuid(req, respond, "accountID")) return;
             ok(req, respond);
           }});
  api.add({"POST",
           "/api/v1/auth/households/{id}/invitations",
           [](const http::request& req, http::responder respond) {
             if (!path_uuid(req, respond)) return;
             api::bodies::invite.read(req.body);
             ok(req, respond, 201);
           },
           {.json_body = true}});
  api.add({"GET", "/api/v1/auth/households/{id}/invitations",
           [=](const http::request& req, http::responder respond) {
             if (household_path(req, respond)) ok(req, respond);
           }});
  api.add({"DELETE", "/api/v1/auth/households/{id}/invitations/{invitationID}",
           [](const http::request& req, http::responder respond) {
             if (!path_uuid(req, respond) || !path_uuid(req, respond, "invitationID")) return;
             ok(req, respond);
           }});
  body("POST", "/api/v1/auth/invitations/accept", api::bodies::accept_invitation, 201);
  // api/table_api.cpp, for every table of domain/tables.cpp
  for (const auto* t : domain::household_tables()) add_table(api, *t);
  // api/sse_api.cpp
  api.add({"GET",
           "/api/v1/sse",
           [](const http::request& req, http::responder respond) {
             if (auto last = req.header("last-event-id"); !last.empty())
               if (!http::sse::decode_cursor(last))
                 throw input_error("Last-Event-ID: not a cursor sent by this server");
             ok(req, respond);
           },
           {.produces = "text/event-stream"}});
  api.add({"GET", "/api/v1/changes", [](const http::request& req, http::responder respond) {
             if (auto it = req.query.find("cursor"); it != req.query.end())
               if (!http::sse::decode_cursor(it->second))
                 throw input_error("cursor: not a cursor sent by this server");
             ok(req, respond);
           }});
  // apps/uptime/routes.cpp: a signed-in user's ping
  api.add({"GET", "/api/v1/monitor/ping", [](const http::request& req, http::responder respond) {
             for (const auto& [k, v] : req.query)
               if (k != "url") throw input_error("unknown query parameter: " + k);
             auto it = req.query.find("url");
             if (it == req.query.end() || it->second.empty()) throw input_error("url: required");
             auto url = it->second;
             if (url.find("://") == std::string::npos) url.insert(0, "https://");
             if (url.size() > 2048) throw input_error("url: longer than 2048 bytes");
             if (auto problem = http::url_problem(url)) throw input_error("url: " + *problem);
             ok(req, respond);
           }});
  // api/health_api.cpp, api/docs_api.cpp
  api.add({"GET", "/api/v1/ready", no_body()});
  api.add({"GET", "/api/v1/health", no_body()});
  api.add({"GET", "/api/docs", no_body()});
  api.add({"GET", "/api/docs/ui", no_body(), {.produces = "text/html"}});
  // api/web_api.cpp: the embedded web page (web/)
  api.add({"GET", "/", no_body(), {.produces = "text/html"}});
  api.add({"GET", "/monitor", no_body(), {.produces = "text/html"}});
  for (const char* html : {"/index.html", "/monitor.html"})
    api.add({"GET", html, no_body(), {.produces = "text/html"}});
  for (const char* js : {"/app.js", "/monitor.js"})
    api.add({"GET", js, no_body(), {.produces = "text/javascript"}});
  for (const char* css : {"/style.css", "/monitor.css"})
    api.add({"GET", css, no_body(), {.produces = "text/css"}});

  // The modules (app/modules.cpp builtin_modules()).
  add_calendar(api);
  add_notifications(api);
  // apps/uptime/status.cpp: the status page's data (public by default).
  api.add({"GET", "/api/v1/monitor/status", no_body()});
  api.add({"GET", "/api/v1/monitor/status/events", no_body(), {.produces = "text/event-stream"}});

  // The operator group (Basic auth): api/admin_api.cpp, /metrics
  // (app/observability.cpp), the uptime module (apps/uptime/routes.cpp).
  http::route_group ops(r, {http::basic_auth("operator", "fuzz-secret")});
  add_operator(ops, {"GET", "/api/v1/admin/cron", no_body()});
  for (const char* method : {"GET", "DELETE"})
    add_operator(ops, {method, "/api/v1/admin/dead-letters", no_body()});
  add_operator(ops, {"POST", "/api/v1/admin/dead-letters/retry", no_body()});
  add_operator(ops, {"GET", "/api/v1/admin/dead-letters/counts", no_body()});
  add_operator(ops, {"GET", "/metrics", no_body(), {.produces = "text/plain"}});
  add_operator(ops, {"POST",
                     "/api/v1/monitor/sites",
                     [](const http::request& req, http::responder respond) {
                       http::json_object_reader in(req.body);
                       auto url = *in.string("url", true, 1, 2048);
                       in.reject_unknown();
                       if (url.find("://") == std::string::npos) url.insert(0, "https://");
                       if (url.size() > 2048) throw input_error("url: longer than 2048 bytes");
                       if (auto problem = http::url_problem(url))
                         throw input_error("url: " + *problem);
                       ok(req, respond, 201);
                     },
                     {.json_body = true}});
  add_operator(ops, {"GET", "/api/v1/monitor/sites", no_body()});
  for (const char* method : {"GET", "DELETE"})
    add_operator(ops, {method, "/api/v1/monitor/sites/{id}",
                       [](const http::request& req, http::responder respond) {
                         if (path_uuid(req, respond)) ok(req, respond);
                       }});
  add_operator(ops, {"POST", "/api/v1/monitor/check/{siteID}",
                     [](const http::request& req, http::responder respond) {
                       if (path_uuid(req, respond, "siteID")) ok(req, respond);
                     }});
  add_operator(ops, {"POST", "/api/v1/monitor/check-all", no_body()});
  add_operator(ops, {"POST", "/api/v1/monitor/test-notification", no_body()});

  // A virtual host group (http::require_host, for modules bound to a host):
  // the mirror's own, hidden.
  http::route_group vhost(r, {http::require_host("Admin.Example")});
  vhost.add({"GET", "/vhost/{name}", no_body(), {.hidden = true}});
  return r;
}

}  // namespace hearth::fuzz
