#pragma once
// An application built on hearth's engine (the uptime monitor in
// apps/uptime is the worked example): it declares its topics, subscriptions
// and cron jobs in an engine::registry when the node starts, then adds its
// routes. A module uses only the public engine API: engine/pubsub.hpp,
// api/request.hpp (services, run_db, run_authenticated, failure_response), http/ types
// (http/fanout.hpp's fanout_hub::send for streams of its own) and storage::pool.

#include <functional>
#include <string>
#include <vector>

#include "api/api.hpp"
#include "engine/pubsub.hpp"

namespace hearth::api {

struct module {
  std::string name;
  /// Called once at start-up, before the node serves. Handlers and jobs may
  /// capture `db` (it outlives them) and run database work with
  /// storage::run_sync (they run on the engine's handler threads, which may
  /// block). Throws to abort start-up.
  std::function<void(engine::registry&, const config::config&, storage::pool& db)> declare;
  /// Adds the module's routes: `api` (CORS, rate and concurrency limits;
  /// session auth by run_authenticated) and `ops` (operator Basic auth).
  std::function<void(http::route_group& api, http::route_group& ops, services& s)> routes;
};

}  // namespace hearth::api
