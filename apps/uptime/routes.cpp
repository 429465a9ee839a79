// The uptime monitor's operator API under /api/v1/monitor (Basic auth):
// sites to watch (add, list, remove) and checks on demand (one site, all);
// and the status page's routes (apps/uptime/status.cpp).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <utility>

#include "apps/uptime/monitor_impl.hpp"
#include "http/json_input.hpp"
#include "http/url.hpp"
#include "storage/errors.hpp"

namespace hearth::apps::uptime::detail {
namespace {

namespace json = boost::json;

constexpr const char* kInsertSite =
    "INSERT INTO uptime_site (url) VALUES ($1) "
    "RETURNING id::text, url, state, hearth_ts(last_checked), hearth_ts(created)";
constexpr const char* kDeleteSite = "DELETE FROM uptime_site WHERE id = $1 RETURNING id";
constexpr const char* kGetSite =
    "SELECT id::text, url, state, hearth_ts(last_checked), hearth_ts(created) "
    "FROM uptime_site WHERE id = $1";

// A URL as given, or, for a bare host ("google.com", "example.com/health":
// no scheme), https:// and it, as Encore's uptime tutorial does.
std::string with_scheme(std::string url) {
  if (url.find("://") == std::string::npos) url.insert(0, "https://");
  return url;
}

// What is wrong with `url` (after with_scheme) as a site or ping URL, as the
// 400's message ("url: …"), or nullopt.
std::optional<std::string> url_input_problem(const std::string& url) {
  if (url.size() > 2048) return "url: longer than 2048 bytes";
  if (auto problem = http::url_problem(url)) return "url: " + *problem;
  return std::nullopt;
}

// The site id of the path parameter `name`, or nullopt after answering 404
// (not a UUID: no such site).
std::optional<std::string> site_id(const http::request& req, const http::responder& respond,
                                   const char* name = "id") {
  auto id = req.params.at(name);
  if (http::is_uuid(id)) return id;
  respond(http::error(404, req.request_id, "MonitorSite not found"));
  return std::nullopt;
}

constexpr const char* kSiteSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},
  "url":{"type":"string","format":"uri","maxLength":2048},
  "state":{"type":"string","enum":["up","down"],"nullable":true,
    "description":"the latest check's result; null before the first check"},
  "lastChecked":{"type":"string","format":"date-time","nullable":true},
  "created":{"type":"string","format":"date-time"}}})";
constexpr const char* kCheckSchema = R"({"type":"object","properties":{
  "siteID":{"type":"string","format":"uuid"},
  "url":{"type":"string","format":"uri"},
  "up":{"type":"boolean","description":"HTTP status 2xx or 3xx"},
  "status":{"type":"integer","nullable":true,"description":"null when no response came"},
  "error":{"type":"string","nullable":true,
    "description":"why no response came: timeout, connection refused, ..."},
  "durationMs":{"type":"integer"},
  "checkedAt":{"type":"string","format":"date-time"},
  "transition":{"type":"string","enum":["up","down"],"nullable":true,
    "description":"the new state when this check changed it and published a site.transition"
}
}
})";

json::value nullable(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

// A row of kInsertSite or kListSites as the API shows it.
json::object site_json(const pqxx::row& r) {
  auto text = [&](int i) {
    return r[i].is_null() ? std::optional<std::string>() : r[i].as<std::string>();
  };
  return {{"id", r[0].as<std::string>()},
          {"url", r[1].as<std::string>()},
          {"state", nullable(text(2))},
          {"lastChecked", nullable(text(3))},
          {"created", r[4].as<std::string>()}};
}

// POST /api/v1/monitor/sites: monitor a new URL (409 when it is already).
http::route add_site(api::services& s) {
  return {"POST",
          "/api/v1/monitor/sites",
          [&s](const http::request& req, http::responder respond) {
            http::json_object_reader in(req.body);
            auto url = with_scheme(*in.string("url", true, 1, 2048));
            in.reject_unknown();
            if (auto problem = url_input_problem(url)) throw http::input_error(*problem);
            api::run_db(
                s, req, std::move(respond), [url, rid = req.request_id](storage::connection& conn) {
                  pqxx::work tx(conn);
                  json::array out;
                  try {
                    out.push_back(site_json(tx.exec_params1(kInsertSite, url)));
                  } catch (const pqxx::unique_violation&) {
                    throw storage::domain_error(storage::errc::conflict, "url: already monitored");
                  }
                  tx.commit();
                  return http::ok(201, rid, kSite, std::move(out));
                });
          },
          {.json_body = true,
           .doc = {.summary = "Monitor a site: its URL is checked on uptimeCheckSchedule",
                   .tag = "monitor",
                   .auth = "operator",
                   .request_schema = R"({"type":"object","additionalProperties":false,
                        "required":["url"],"properties":{"url":{"type":"string","format":"uri",
                        "maxLength":2048,"description":"http or https, without user:password@; a bare host (example.com) means https://"}}})",
                   .data_type = kSite,
                   .data_schema = kSiteSchema,
                   .success = 201}}};
}

// GET /api/v1/monitor/sites: every monitored site with its state.
http::route list_sites(api::services& s) {
  return {"GET",
          "/api/v1/monitor/sites",
          [&s](const http::request& req, http::responder respond) {
            api::run_db(s, req, std::move(respond),
                        [rid = req.request_id](storage::connection& conn) {
                          pqxx::read_transaction tx(conn);
                          json::array out;
                          for (const auto& r : tx.exec(kListSites)) out.push_back(site_json(r));
                          return http::ok(200, rid, kSite, std::move(out));
                        });
          },
          {.doc = {.summary = "The monitored sites with their current state",
                   .tag = "monitor",
                   .auth = "operator",
                   .data_type = kSite,
                   .data_schema = kSiteSchema}}};
}

// GET /api/v1/monitor/sites/{id}: one site with its state.
http::route get_site(api::services& s) {
  return {"GET",
          "/api/v1/monitor/sites/{id}",
          [&s](const http::request& req, http::responder respond) {
            auto id = site_id(req, respond);
            if (!id) return;
            api::run_db(s, req, std::move(respond),
                        [id = *id, rid = req.request_id](storage::connection& conn) {
                          pqxx::read_transaction tx(conn);
                          auto r = tx.exec_params(kGetSite, id);
                          if (r.empty())
                            throw storage::domain_error(storage::errc::not_found,
                                                        "MonitorSite not found");
                          json::array out;
                          out.push_back(site_json(r[0]));
                          return http::ok(200, rid, kSite, std::move(out));
                        });
          },
          {.doc = {.summary = "One monitored site with its current state",
                   .tag = "monitor",
                   .auth = "operator",
                   .data_type = kSite,
                   .data_schema = kSiteSchema}}};
}

// DELETE /api/v1/monitor/sites/{id}: stop monitoring a site.
http::route delete_site(api::services& s) {
  return {"DELETE",
          "/api/v1/monitor/sites/{id}",
          [&s](const http::request& req, http::responder respond) {
            auto id = site_id(req, respond);
            if (!id) return;
            api::run_db(s, req, std::move(respond),
                        [id = *id, rid = req.request_id](storage::connection& conn) {
                          pqxx::work tx(conn);
                          if (tx.exec_params(kDeleteSite, id).empty())
                            throw storage::domain_error(storage::errc::not_found,
                                                        "MonitorSite not found");
                          tx.commit();
                          return http::ok(200, rid, kSite, {});
                        });
          },
          {.doc = {.summary = "Stop monitoring a site (its checks are deleted too)",
                   .tag = "monitor",
                   .auth = "operator",
                   .data_type = kSite,
                   .data_schema = kSiteSchema}}};
}

// POST /api/v1/monitor/check/{siteID}: check one site now.
http::route check_site(std::weak_ptr<monitor> weak) {
  return {"POST",
          "/api/v1/monitor/check/{siteID}",
          [weak](const http::request& req, http::responder respond) {
            auto id = site_id(req, respond, "siteID");
            if (!id) return;
            auto self = weak.lock();
            if (!self) return respond(not_running(req.request_id));
            self->check_one(std::move(*id), req.request_id, std::move(respond));
          },
          {.doc = {.summary = "Check one site now (publishes a site.transition when its "
                              "state changes)",
                   .tag = "monitor",
                   .auth = "operator",
                   .data_type = kCheck,
                   .data_schema = kCheckSchema}}};
}

// POST /api/v1/monitor/check-all: check every site now.
http::route check_all_sites(std::weak_ptr<monitor> weak) {
  return {"POST",
          "/api/v1/monitor/check-all",
          [weak](const http::request& req, http::responder respond) {
            auto self = weak.lock();
            if (!self) return respond(not_running(req.request_id));
            self->check_all(req.request_id, std::move(respond));
          },
          {.doc = {.summary = "Check every site now, at most 8 at once",
                   .tag = "monitor",
                   .auth = "operator",
                   .data_type = kCheck,
                   .data_schema = kCheckSchema}}};
}

// GET /api/v1/monitor/ping?url=: is a URL up now (any signed-in user; Encore's
// GET /ping/:url). Nothing is recorded.
http::route ping(api::services& s, std::weak_ptr<monitor> weak) {
  return {
      "GET",
      "/api/v1/monitor/ping",
      [&s, weak](const http::request& req, http::responder respond) {
        // The caller first (401 before any 400), then the query.
        std::string problem, url;
        for (const auto& [k, v] : req.query)
          if (k != "url" && problem.empty()) problem = "unknown query parameter: " + k;
        if (auto it = req.query.find("url"); problem.empty()) {
          if (it == req.query.end() || it->second.empty()) {
            problem = "url: required";
          } else {
            url = with_scheme(it->second);
            problem = url_input_problem(url).value_or("");
          }
        }
        api::with_principal(s, req, respond,
                            [weak, url, problem, rid = req.request_id, respond](const auto&) {
                              if (!problem.empty()) return respond(http::error(400, rid, problem));
                              auto self = weak.lock();
                              if (!self) return respond(not_running(rid));
                              self->ping(url, rid, respond);
                            });
      },
      {.doc = {.summary = "Whether a URL answers 2xx or 3xx now (GET, the probe timeout; "
                          "internal addresses refused as for every user's fetch). Query "
                          "`url`; a bare host means https://. Nothing is recorded",
               .tag = "monitor",
               .data_type = "MonitorPing",
               .data_schema = R"({"type":"object","properties":{
                    "url":{"type":"string","format":"uri"},"up":{"type":"boolean"},
                    "status":{"type":"integer","nullable":true},
                    "error":{"type":"string","nullable":true},
                    "durationMs":{"type":"integer"}}})",
               .query = {{"url", "the URL to fetch (http or https; a bare host means https)"}}}}};
}

// POST /api/v1/monitor/test-notification: the webhook, tried now.
http::route test_notification(std::weak_ptr<monitor> weak) {
  return {"POST",
          "/api/v1/monitor/test-notification",
          [weak](const http::request& req, http::responder respond) {
            auto self = weak.lock();
            if (!self) return respond(not_running(req.request_id));
            self->test_notification(req.request_id, std::move(respond));
          },
          {.doc = {.summary = "Send a test text to the configured webhook now (no retries, "
                              "nothing recorded); 409 when no UPTIME_WEBHOOK_URL is set",
                   .tag = "monitor",
                   .auth = "operator",
                   .data_type = "MonitorTestNotification",
                   .data_schema = R"({"type":"object","properties":{
                    "delivered":{"type":"boolean","description":"the webhook answered 2xx"},
                    "status":{"type":"integer","nullable":true},
                    "error":{"type":"string","nullable":true},
                    "durationMs":{"type":"integer"}}})"}}};
}

}  // namespace

void routes(http::route_group& open, http::route_group& ops, api::services& s,
            std::weak_ptr<monitor> state) {
  std::weak_ptr<status_feed> feed;
  if (auto self = state.lock()) feed = self->serve_status(s.fanout);
  status_routes(s.cfg.uptime_status_public ? open : ops, s, std::move(feed));
  open.add(ping(s, state));
  ops.add(add_site(s));
  ops.add(list_sites(s));
  ops.add(get_site(s));
  ops.add(delete_site(s));
  ops.add(check_site(state));
  ops.add(test_notification(state));
  ops.add(check_all_sites(std::move(state)));
}

}  // namespace hearth::apps::uptime::detail
