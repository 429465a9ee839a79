// GET /api/docs: the OpenAPI 3 document generated from the route table
// (http/openapi.hpp); GET /api/docs/ui: a page that renders it, served from
// the binary with no external fetch.

#include <boost/json/serialize.hpp>
#include <mutex>

#include "api/api.hpp"
#include "http/openapi.hpp"

namespace hearth::api {

void add_docs_routes(http::route_group& r, const http::router& routes) {
  // Built on first request, when every route is in the table.
  auto cached = std::make_shared<std::pair<std::once_flag, std::string>>();
  r.add({"GET",
         "/api/docs",
         [&routes, cached](const http::request&, http::responder respond) {
           std::call_once(cached->first, [&] {
             cached->second = boost::json::serialize(
                 http::openapi_document(routes, "hearth API", HEARTH_API_VERSION));
           });
           http::response res;
           res.body = cached->second;
           respond(std::move(res));
         },
         {.doc = {.summary = "This OpenAPI 3 document", .tag = "docs", .auth = "none"}}});
  r.add({"GET",
         "/api/docs/ui",
         [](const http::request&, http::responder respond) {
           http::response res;
           res.content_type = "text/html; charset=utf-8";
           res.body = http::openapi_viewer_html();
           respond(std::move(res));
         },
         {.produces = "text/html",
          .doc = {.summary = "A viewer of the API document", .tag = "docs", .auth = "none"}}});
}

}  // namespace hearth::api
