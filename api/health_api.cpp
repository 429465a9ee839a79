// GET /api/v1/health: liveness and readiness (the database answers) and this
// node's view of the cluster: whether it leads, the leader and term, the
// transport of its cluster links (mutual TLS or plaintext) and its peer links.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <pqxx/pqxx>

#include "api/api.hpp"
#include "http/envelope.hpp"

namespace hearth::api {
namespace {

boost::json::object cluster_json(const actors::cluster_status& c) {
  boost::json::array peers;
  for (const auto& p : c.peers)
    peers.push_back(boost::json::object{
        {"nodeID", p.node_id}, {"addr", p.addr}, {"link", p.link}, {"security", p.security}});
  boost::json::object out;
  out["leading"] = c.leading;
  out["leaderID"] = c.leader_id;
  out["term"] = c.term;
  out["clusterAddr"] = c.cluster_addr;
  out["transport"] = c.transport;  // of this node's cluster links: "tls" | "plaintext"
  out["peers"] = std::move(peers);
  return out;
}

}  // namespace

void add_health_routes(http::route_group& r, services& s) {
  r.add(
      {"GET",
       "/api/v1/health",
       [&s](const http::request& req, http::responder respond) {
         run_db(s, req, std::move(respond), [&s, rid = req.request_id](storage::connection& conn) {
           pqxx::nontransaction tx{conn};
           tx.exec1("SELECT 1");
           return http::ok(200, rid, "Health",
                           {boost::json::object{{"nodeID", s.node_id},
                                                {"database", "ok"},
                                                {"queuedJobs", s.db.queued()},
                                                {"cluster", cluster_json(s.actors.cluster())}}});
         });
       },
       {.doc = {.summary = "Liveness, readiness (the database answers) and the cluster as this "
                           "node sees it",
                .tag = "operations",
                .auth = "none",
                .data_type = "Health",
                .data_schema = R"({"type":"object","properties":{
                  "nodeID":{"type":"string"},"database":{"type":"string"},
                  "queuedJobs":{"type":"integer"},"cluster":{"type":"object","properties":{
                  "leading":{"type":"boolean"},"leaderID":{"type":"string"},
                  "term":{"type":"integer"},"clusterAddr":{"type":"string"},
                  "transport":{"type":"string","enum":["tls","plaintext"]},
                  "peers":{"type":"array","items":{"type":"object","properties":{
                  "nodeID":{"type":"string"},"addr":{"type":"string"},
                  "link":{"type":"string","enum":["up","connecting","down"]},
                  "security":{"type":"string","enum":["tls","plaintext"]}}}}}}}})"}}});
}

}  // namespace hearth::api
