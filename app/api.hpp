#pragma once
// What the API handlers share: the node's services and the two ways a
// handler runs database work on the storage pool (never on the network
// thread): run_db for anonymous endpoints, run_authenticated for the rest
// (the session key is checked in the same pool job as the work).

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "actors/system.hpp"
#include "config/config.hpp"
#include "http/middleware.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "storage/accounts.hpp"
#include "storage/pool.hpp"

namespace hearth::engine {
class registry;
}

namespace hearth::app {

class observability;

/// The node's long-lived services, owned by serve().
struct services {
  const config::config& cfg;
  storage::pool& db;
  actors::actor_runtime& actors;
  std::string node_id;
  observability& obs;
  const http::server& server;
  const engine::registry& registry;  // topics, subscriptions, cron jobs
};

/// Work that produces the response on a pool thread.
using db_work = std::function<http::response(storage::connection&)>;
using authed_work = std::function<http::response(storage::connection&, const storage::principal&)>;

/// The session key from `Authorization: Bearer <key>` or the
/// `hearth_session` cookie, or nullopt when there is none or it cannot be a
/// key (empty, or over 200 bytes): the caller answers 401.
std::optional<std::string> session_key(const http::request& req);

/// Runs `work` on the pool and responds with its result. Failures become
/// envelopes: domain_error → 400/401/403/404/409, input_error → 400,
/// pqxx::broken_connection or a full queue → 503, anything else → 500.
void run_db(services& s, const http::request& req, http::responder respond, db_work work);

/// Like run_db, after authenticating the caller (401 when the key is
/// missing, unknown or expired).
void run_authenticated(services& s, const http::request& req, http::responder respond,
                       authed_work work);

/// The routes of each part of the API, added to the API group.
void add_auth_routes(http::route_group& r, services& s);
void add_household_routes(http::route_group& r, services& s);
void add_table_routes(http::route_group& r, services& s);
void add_sse_routes(http::route_group& r, services& s);
void add_health_routes(http::route_group& r, services& s);
/// GET /api/v1/admin/cron (operator group): the cron jobs with their next
/// and last runs.
void add_admin_routes(http::route_group& r, services& s);
/// GET /metrics (operator group).
void add_metrics_routes(http::route_group& r, services& s);
/// GET /api/docs (OpenAPI of `routes`) and /api/docs/ui.
void add_docs_routes(http::route_group& r, const http::router& routes);
/// GET / (the web page, web/index.html) and GET /<file> for each file of web/.
void add_web_routes(http::route_group& r, services& s);

/// All routes: the API group (CORS when configured, per-IP rate limit,
/// concurrency limit) and the operator group (Basic auth).
struct module;
void add_routes(http::router& r, services& s, const std::vector<module>& modules = {});

}  // namespace hearth::app
