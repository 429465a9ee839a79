#pragma once
// The REST API's controllers (api/*_api.cpp) and what they share: the
// node's services and the request layer (api/request.hpp: run_db for
// anonymous endpoints, run_authenticated for the rest, one error mapping).

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "actors/system.hpp"
#include "api/guard.hpp"
#include "api/request.hpp"
#include "config/config.hpp"
#include "http/middleware.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "storage/accounts.hpp"
#include "storage/group_commit.hpp"
#include "storage/pool.hpp"

namespace hearth::engine {
class registry;
}
namespace hearth::storage {
class postgres_supervisor;
class health_probe;
}  // namespace hearth::storage

namespace hearth::api {

/// The node's long-lived services, owned by serve().
struct services {
  const config::config& cfg;
  storage::pool& db;
  storage::write_batcher& writes;  // group commit of row writes (storage/group_commit.hpp)
  actors::actor_runtime& actors;
  std::string node_id;
  const http::server& server;
  const engine::registry& registry;  // topics, subscriptions, cron jobs
  auth_guard& guard;                 // throttles of failed sign-ins, sign-ups, keys
  /// The SSE fan-out of the HTTP engine: a module that serves its own
  /// streams (no households) sends them frames with fanout.send().
  http::fanout_hub& fanout;
  /// The embedded PostgreSQL's supervisor; nullptr with a databaseURL.
  const storage::postgres_supervisor* embedded = nullptr;
  /// The database check of /api/v1/health (its own connection, with a
  /// deadline; storage/health_probe.hpp).
  storage::health_probe& probe;
};

/// The routes of each part of the API, added to the API group.
void add_auth_routes(http::route_group& r, services& s);
void add_household_routes(http::route_group& r, services& s);
void add_table_routes(http::route_group& r, services& s);
void add_sse_routes(http::route_group& r, services& s);
void add_health_routes(http::route_group& r, services& s);
/// GET /api/v1/admin/cron (operator group): the cron jobs with their next
/// and last runs.
void add_admin_routes(http::route_group& r, services& s);
/// GET /api/docs (OpenAPI of `routes`) and /api/docs/ui.
void add_docs_routes(http::route_group& r, const http::router& routes);
/// GET / (the web page, web/index.html), GET /monitor (the uptime status
/// page, web/monitor.html) and GET /<file> for each file of web/.
void add_web_routes(http::route_group& r, services& s);

/// All routes: the API group (CORS when configured, the cross-site check of
/// cookie-authenticated writes, per-IP rate limit, concurrency limit) and
/// the operator group (Basic auth).
struct module;
void add_routes(http::router& r, services& s, const std::vector<module>& modules = {});

}  // namespace hearth::api
