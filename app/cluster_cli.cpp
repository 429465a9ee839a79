// `hearth cluster status`: the cluster as recorded in the database (nodes
// with their heartbeat age and peer links, the leader and its term), for
// operators; no running node is needed.

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <optional>
#include <pqxx/pqxx>

#include "app/serve.hpp"
#include "config/logging.hpp"
#include "storage/cluster.hpp"
#include "storage/embedded_postgres.hpp"

namespace hearth::app {
namespace {

std::string links_text(const std::string& json) {
  std::string out;
  try {
    auto v = boost::json::parse(json);
    for (const auto& [peer, link] : v.as_object()) {
      if (!out.empty()) out += ' ';
      out += fmt::format("{}={}", std::string_view(peer),
                         link.is_string() ? link.as_string().c_str() : "?");
    }
  } catch (const std::exception&) {
    out = json;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

int cluster_status(const config::config& cfg) {
  log::init("warn");  // stdout is the report
  std::optional<storage::embedded_postgres> embedded;
  auto url = database_url(cfg, embedded);
  pqxx::connection conn{url};
  auto stale = std::chrono::milliseconds(cfg.cluster_stale_ms);
  storage::leader_row leader;
  std::vector<storage::node_row> nodes;
  try {
    leader = storage::current_leader(conn);
    nodes = storage::list_nodes(conn, stale);
  } catch (const pqxx::undefined_table&) {
    fmt::print(
        stderr,
        "hearth: no cluster tables in this database yet: start a node or run `hearth migrate`\n");
    return 1;
  }
  // cluster_leader keeps the last leader and its term (terms never go
  // back); it leads only while its node is registered and alive.
  const bool leader_alive = std::any_of(nodes.begin(), nodes.end(), [&](const auto& n) {
    return n.alive && n.node_id == leader.node_id;
  });
  if (leader.node_id.empty()) {
    fmt::print("leader: none yet\n");
  } else if (!leader_alive) {
    fmt::print("leader: none (the last was {}, term {}, elected {}; it is not running)\n",
               leader.node_id, leader.term, leader.elected_at);
  } else {
    fmt::print("leader: {} (term {}, elected {})\n", leader.node_id, leader.term,
               leader.elected_at);
  }
  fmt::print("{:<20} {:<6} {:>10}  {:<22} {:<22} {:<28} {}\n", "NODE", "STATE", "HEARTBEAT",
             "CLUSTER ADDR", "HTTP ADDR", "STARTED", "LINKS");
  for (const auto& n : nodes) {
    fmt::print("{:<20} {:<6} {:>7} ms  {:<22} {:<22} {:<28} {}\n", n.node_id,
               n.alive ? "alive" : "dead", n.heartbeat_age_ms, n.cluster_addr, n.http_addr,
               n.started_at, links_text(n.links_json));
  }
  if (nodes.empty()) fmt::print("(no nodes registered)\n");
  return 0;
}

}  // namespace hearth::app
