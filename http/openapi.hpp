#pragma once
// The OpenAPI 3.0 description of a router's routes (GET /api/docs),
// generated from the route table, never written by hand: every non-hidden
// route becomes an operation with its path parameters ({id} → a required
// path parameter), request body (routes with json_body), media type,
// security (route_doc::auth) and responses: the success envelope with its
// dataValue schema, and the error envelope for the statuses every route of
// that kind can give (400/401/403/404/406/413/415/429/503).
// Spec: https://spec.openapis.org/oas/v3.0.3

#include <boost/json/object.hpp>
#include <string>

#include "http/router.hpp"

namespace hearth::http {

/// The document for `routes`. Throws std::invalid_argument when a route's
/// schema text is not a JSON object.
boost::json::object openapi_document(const router& routes, const std::string& title,
                                     const std::string& version);

/// A self-contained HTML page that renders the document at `doc_path`
/// (no external fetch: plain JavaScript in the page).
const std::string& openapi_viewer_html();

}  // namespace hearth::http
