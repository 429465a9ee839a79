// The web page (web/): GET / is index.html, GET /<file> each embedded file.
// Served from the binary (cmake/embed_web.cmake) with no external fetch; the
// page talks to the API of the same origin only, which the
// Content-Security-Policy enforces. Conditional GETs: ETag (a hash of the
// bytes) and If-None-Match → 304; Cache-Control: no-cache makes browsers
// revalidate, so a new binary's page is picked up at once.

#include <string>
#include <string_view>

#include "api/api.hpp"
#include "api/web_assets.hpp"

namespace hearth::api {
namespace {

constexpr const char* kPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

std::string_view content_type_of(std::string_view path) {
  auto dot = path.rfind('.');
  auto ext = dot == std::string_view::npos ? std::string_view() : path.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json") return "application/json";
  return "application/octet-stream";
}

// The media type without parameters, for the route's `produces` (Accept).
std::string media_type_of(std::string_view content_type) {
  return std::string(content_type.substr(0, content_type.find(';')));
}

// If-None-Match (RFC 9110 §13.1.2): "*" or a list of entity tags, compared
// weakly (a W/ prefix is ignored).
bool none_match(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*") return true;
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

http::handler serve(const web_asset& a) {
  return [&a](const http::request& req, http::responder respond) {
    http::response res;
    res.headers = {
        {"ETag", std::string(a.etag)},         {"Cache-Control", "no-cache"},
        {"X-Content-Type-Options", "nosniff"}, {"Content-Security-Policy", kPolicy},
        {"Referrer-Policy", "no-referrer"},    {"X-Frame-Options", "DENY"},
    };
    if (none_match(req.header("if-none-match"), a.etag)) {
      res.status = 304;
      res.content_type.clear();
    } else {
      res.content_type = std::string(content_type_of(a.path));
      res.body = std::string(a.body);
    }
    respond(std::move(res));
  };
}

}  // namespace

void add_web_routes(http::route_group& r, services&) {
  for (const auto& a : embedded_web_assets()) {
    auto produces = media_type_of(content_type_of(a.path));
    if (a.path == "/index.html") {
      r.add({"GET",
             "/",
             serve(a),
             {.produces = produces,
              .doc = {.summary = "The web page (shopping list and tasks, live)",
                      .tag = "web",
                      .auth = "none"}}});
    }
    if (a.path == "/monitor.html") {
      r.add({"GET",
             "/monitor",
             serve(a),
             {.produces = produces,
              .doc = {.summary = "The uptime monitor's status page (live)",
                      .tag = "web",
                      .auth = "none"}}});
    }
    r.add({"GET",
           std::string(a.path),
           serve(a),
           {.produces = produces,
            .doc = {.summary = "The web page's file " + std::string(a.path.substr(1)),
                    .tag = "web",
                    .auth = "none"}}});
  }
}

}  // namespace hearth::api
