#pragma once
// The route table of the HTTP fuzz harness (fuzz/http_request.cpp): a mirror
// of the real server's, which needs PostgreSQL and CAF the fuzz build does
// not link. It is compiled into the integration tests too:
// tests/integration/fuzz_routes_test.cpp checks it against the routes a
// running server documents (GET /api/docs), so that it cannot drift.

#include "http/router.hpp"

namespace hearth::fuzz {

/// Every documented route of the real server (api/routes.cpp add_routes()
/// with the built-in modules of app/modules.cpp, /metrics of
/// app/observability.cpp) with the same method, path pattern, json_body and
/// produces, in the same group: the API group's middleware as configured
/// with corsOrigins "https://app.example, http://localhost:8080" and a rate
/// limit; the operator group (Basic auth operator:fuzz-secret), whose routes
/// say doc.auth = "operator". Each handler validates what the real one
/// validates before any database work (JSON bodies and their fields, path
/// ids, query parameters, the Idempotency-Key header of keyed writes, the
/// URLs of monitored sites and calendar subscriptions, the SSE
/// Last-Event-ID), in the same order, then answers 200 or 201 with an empty
/// envelope; a refusal is an http::input_error (400) or a 404. A broken
/// invariant aborts (FUZZ_CHECK).
///
/// Hidden routes (left out of /api/docs) are the CORS preflights, as in the
/// real table, and the mirror's own virtual-host group (GET /vhost/{name},
/// http::require_host("Admin.Example")), which no built-in route uses yet.
http::router make_routes();

}  // namespace hearth::fuzz
