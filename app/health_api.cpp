// GET /api/v1/health: liveness and readiness (the database answers).

#include <boost/json/object.hpp>
#include <pqxx/pqxx>

#include "app/api.hpp"
#include "http/envelope.hpp"

namespace hearth::app {

void add_health_routes(http::router& r, services& s) {
  r.add(
      {"GET", "/api/v1/health", [&s](const http::request& req, http::responder respond) {
         run_db(s, req, std::move(respond), [&s, rid = req.request_id](storage::connection& conn) {
           pqxx::nontransaction tx{conn};
           tx.exec1("SELECT 1");
           return http::ok(
               200, rid, "Health",
               {boost::json::object{
                   {"nodeID", s.node_id}, {"database", "ok"}, {"queuedJobs", s.db.queued()}}});
         });
       }});
}

}  // namespace hearth::app
