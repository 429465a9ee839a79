// GET /api/v1/health: liveness and readiness (the database answers), what
// is down (the database, the embedded PostgreSQL while its supervisor
// restarts it, peer links), and this node's view of the cluster: whether it
// leads, the leader and term, the transport of its cluster links (mutual TLS
// or plaintext) and its peer links.

#include <fmt/chrono.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <ctime>

#include "api/api.hpp"
#include "http/envelope.hpp"
#include "storage/health_probe.hpp"
#include "storage/supervisor.hpp"

namespace hearth::api {
namespace {

// How long /api/v1/health waits for the database's `SELECT 1` before it
// answers 503 "no answer within 3000 ms" (docs/operations.md). A database
// that takes longer for `SELECT 1` is not one to send traffic to; the load
// balancer's check (deploy/haproxy.cfg) is /api/v1/ready, which asks none.
constexpr std::chrono::milliseconds kHealthDeadline{3000};

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

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z", tm, us % 1'000'000);
}

boost::json::value embedded_json(const storage::postgres_supervisor* supervisor) {
  if (!supervisor) return nullptr;
  const auto st = supervisor->status();
  const bool restarting = st.state == storage::supervisor_status::state_t::restarting;
  return boost::json::object{
      {"state", storage::to_string(st.state)},
      {"pid", st.pid},
      {"restarts", st.restarts},
      {"failedAttempts", st.failed_attempts},
      {"attempt", st.attempt},
      {"lastError", st.last_error},
      {"downSince", restarting ? boost::json::value(rfc3339(st.down_since)) : nullptr}};
}

// The report; `database_error` is "" when the database answered.
http::response health_report(services& s, const std::string& rid,
                             const std::string& database_error) {
  const auto cluster = s.actors.cluster();
  auto embedded = embedded_json(s.embedded);
  boost::json::array down;
  std::string why;
  const bool restarting =
      embedded.is_object() && embedded.as_object().at("state").as_string() == "restarting";
  if (!database_error.empty()) {
    down.emplace_back("database");
    why = "database unavailable: " + database_error;
  }
  if (restarting) {
    down.emplace_back("embeddedPostgres");
    why = "database unavailable: embedded PostgreSQL is restarting";
    const auto& e = embedded.as_object();
    if (e.at("attempt").as_uint64() > 0)
      why += " (attempt " + std::to_string(e.at("attempt").as_uint64()) +
             " failed: " + std::string(e.at("lastError").as_string()) + ")";
  }
  for (const auto& p : cluster.peers)
    if (p.link == "down") down.emplace_back("peer:" + p.node_id);
  const unsigned status = database_error.empty() && !restarting ? 200 : 503;
  auto r = http::envelope(
      status, rid, "Health",
      {boost::json::object{{"nodeID", s.node_id},
                           {"database", database_error.empty() ? "ok" : "unavailable"},
                           {"databaseError", database_error},
                           {"queuedJobs", s.db.queued()},
                           {"embeddedPostgres", std::move(embedded)},
                           {"down", std::move(down)},
                           {"cluster", cluster_json(cluster)}}},
      status == 200 ? std::string() : why);
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace

void add_health_routes(http::route_group& r, services& s) {
  // The load balancer's check (deploy/haproxy.cfg): no database work, so a
  // database failover does not take every node out at once.
  r.add({"GET",
         "/api/v1/ready",
         [&s](const http::request& req, http::responder respond) {
           const bool ready = s.server.ready();
           auto r = http::envelope(ready ? 200 : 503, req.request_id, "Readiness",
                                   {boost::json::object{{"nodeID", s.node_id}, {"ready", ready}}},
                                   ready ? std::string() : "this node is draining");
           if (!ready) r.headers.emplace_back("Retry-After", "1");
           respond(std::move(r));
         },
         {.doc = {.summary = "Readiness for a load balancer: 200 while the node serves, 503 once "
                             "it drains (drainNoticeMs before it stops accepting). Does not "
                             "depend on the database (see /api/v1/health)",
                  .tag = "operations",
                  .auth = "none",
                  .data_type = "Readiness",
                  .data_schema = R"({"type":"object","properties":{
                  "nodeID":{"type":"string"},"ready":{"type":"boolean"}}})"}}});
  r.add({"GET",
         "/api/v1/health",
         [&s](const http::request& req, http::responder respond) {
           // Its own connection, answered within kHealthDeadline: never
           // behind the pool's queue or a pool connection on a dead path.
           s.probe.check(kHealthDeadline,
                         [&s, rid = req.request_id, respond = std::move(respond)](
                             std::string error) { respond(health_report(s, rid, error)); });
         },
         {.doc = {.summary = "Liveness, readiness (the database answers within 3 s; else 503 with "
                             "the same report), what is down, and the cluster as this node sees it",
                  .tag = "operations",
                  .auth = "none",
                  .data_type = "Health",
                  .data_schema = R"({"type":"object","properties":{
                  "nodeID":{"type":"string"},
                  "database":{"type":"string","enum":["ok","unavailable"]},
                  "databaseError":{"type":"string"},
                  "queuedJobs":{"type":"integer"},
                  "embeddedPostgres":{"type":"object","nullable":true,"properties":{
                  "state":{"type":"string","enum":["running","restarting","stopped"]},
                  "pid":{"type":"integer"},"restarts":{"type":"integer"},
                  "failedAttempts":{"type":"integer"},"attempt":{"type":"integer"},
                  "lastError":{"type":"string"},
                  "downSince":{"type":"string","format":"date-time","nullable":true}}},
                  "down":{"type":"array","items":{"type":"string"}},
                  "cluster":{"type":"object","properties":{
                  "leading":{"type":"boolean"},"leaderID":{"type":"string"},
                  "term":{"type":"integer"},"clusterAddr":{"type":"string"},
                  "transport":{"type":"string","enum":["tls","plaintext"]},
                  "peers":{"type":"array","items":{"type":"object","properties":{
                  "nodeID":{"type":"string"},"addr":{"type":"string"},
                  "link":{"type":"string","enum":["up","connecting","down"]},
                  "security":{"type":"string","enum":["tls","plaintext"]}}}}}}}})"}}});
}

}  // namespace hearth::api
