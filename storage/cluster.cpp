#include "storage/cluster.hpp"

#include <fmt/format.h>

#include <random>

namespace hearth::storage {
namespace {

// pg_locks shows a bigint advisory key as classid (high 32 bits), objid (low
// 32 bits) and objsubid 1.
constexpr auto kLeaderKeyHigh = static_cast<std::uint32_t>(kLeaderLockKey >> 32);
constexpr auto kLeaderKeyLow = static_cast<std::uint32_t>(kLeaderLockKey & 0xffffffffLL);

constexpr const char* kHeartbeat =
    "INSERT INTO cluster_node "
    "(node_id, cluster_addr, http_addr, db_pid, app_name, links, started_at) "
    "VALUES ($1, $2, $3, pg_backend_pid(), current_setting('application_name'), $4::jsonb, "
    "$5::timestamptz) "
    "ON CONFLICT (node_id) DO UPDATE SET cluster_addr = EXCLUDED.cluster_addr, "
    "http_addr = EXCLUDED.http_addr, db_pid = EXCLUDED.db_pid, app_name = EXCLUDED.app_name, "
    "links = EXCLUDED.links, "
    "heartbeat_at = now(), started_at = EXCLUDED.started_at "
    "RETURNING db_pid";
constexpr const char* kListNodes =
    "SELECT node_id, cluster_addr, http_addr, hearth_ts(started_at), "
    "(extract(epoch FROM now() - heartbeat_at) * 1000)::bigint, "
    "heartbeat_at > now() - $1 * interval '1 millisecond', links::text "
    "FROM cluster_node ORDER BY node_id";
constexpr const char* kTryLock = "SELECT pg_try_advisory_lock($1)";
constexpr const char* kUnlock = "SELECT pg_advisory_unlock($1)";
constexpr const char* kNewTerm =
    "UPDATE cluster_leader SET term = term + 1, node_id = $1, elected_at = now() "
    "WHERE id = 1 RETURNING term";
// A silent node's open transaction may hold the term row (run_fenced): never
// wait for it longer than this; it is fenced off meanwhile.
constexpr const char* kTermLockTimeout = "SET LOCAL lock_timeout = '1s'";
constexpr const char* kCurrentLeader =
    "SELECT term, node_id, hearth_ts(elected_at) FROM cluster_leader WHERE id = 1";
// Only the lock holder whose node is the recorded leader and whose heartbeat
// is stale: a recycled pid of a long-dead node never matches a live leader.
constexpr const char* kDeposeStaleLeader =
    "SELECT n.node_id, pg_terminate_backend(l.pid) FROM pg_locks l "
    "JOIN cluster_node n ON n.db_pid = l.pid "
    "JOIN cluster_leader c ON c.id = 1 AND c.node_id = n.node_id "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.objid = $2::oid AND l.objsubid = 1 "
    "AND n.heartbeat_at < now() - $3 * interval '1 millisecond'";
// The lock held by a session its own process has replaced: the process
// (its unique "hearth/..." application_name) heartbeats from another
// session now (db_pid). That happens when a network partition cut the old
// session off: the process gave it up and reconnected, but PostgreSQL does
// not know the old one is gone (its keepalives may take hours), so it
// still holds the lock and nobody, the same process included, could lead.
// A zero-downtime successor has its own application_name: never matched;
// nor is a name several nodes share (one set in the database URL).
constexpr const char* kDeposeOrphanedLock =
    "SELECT n.node_id, pg_terminate_backend(l.pid) FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "JOIN cluster_node n ON n.app_name = a.application_name AND n.db_pid <> l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.objid = $2::oid AND l.objsubid = 1 AND n.app_name LIKE 'hearth/%' "
    "AND NOT EXISTS (SELECT 1 FROM cluster_node o WHERE o.app_name = n.app_name "
    "AND o.node_id <> n.node_id)";
// Every session of every silent node, found by its process's unique
// application_name (only "hearth/..." names owned by exactly one row, so a
// name set by the operator for all nodes never matches).
constexpr const char* kFenceStaleNodes =
    "SELECT DISTINCT n.node_id, pg_terminate_backend(a.pid) FROM cluster_node n "
    "JOIN pg_stat_activity a ON a.application_name = n.app_name "
    "AND a.datname = current_database() AND a.pid <> pg_backend_pid() "
    "WHERE n.heartbeat_at < now() - $1 * interval '1 millisecond' AND n.node_id <> $2 "
    "AND n.app_name LIKE 'hearth/%' "
    "AND NOT EXISTS (SELECT 1 FROM cluster_node o WHERE o.app_name = n.app_name "
    "AND o.node_id <> n.node_id)";
// Only while the row is still ours: a successor with the same node id
// (zero-downtime restart) may have taken it over.
constexpr const char* kDeleteNode =
    "DELETE FROM cluster_node WHERE node_id = $1 AND db_pid = pg_backend_pid()";
constexpr const char* kPurgeDeadNodes =
    "DELETE FROM cluster_node WHERE heartbeat_at < now() - $1 * interval '1 millisecond'";
}  // namespace

int heartbeat(pqxx::connection_base& conn, const node_registration& self) {
  pqxx::nontransaction tx{conn};
  return tx
      .exec_params1(kHeartbeat, self.node_id, self.cluster_addr, self.http_addr,
                    self.links_json.empty() ? std::string("{}") : self.links_json,
                    self.started_at)[0]
      .as<int>();
}

std::vector<node_row> list_nodes(pqxx::connection_base& conn, std::chrono::milliseconds stale) {
  pqxx::nontransaction tx{conn};
  std::vector<node_row> out;
  for (const auto& r : tx.exec_params(kListNodes, static_cast<std::int64_t>(stale.count())))
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<std::int64_t>(), r[5].as<bool>(),
                   r[6].as<std::string>()});
  return out;
}

std::optional<std::int64_t> try_lead(pqxx::connection_base& conn, const std::string& node_id) {
  {
    pqxx::nontransaction tx{conn};
    if (!tx.exec_params1(kTryLock, kLeaderLockKey)[0].as<bool>()) return std::nullopt;
  }
  try {
    pqxx::work tx{conn};
    tx.exec0(kTermLockTimeout);
    auto term = tx.exec_params1(kNewTerm, node_id)[0].as<std::int64_t>();
    tx.commit();
    return term;
  } catch (...) {
    // Never keep the lock without a term: leading without fencing is worse
    // than not leading.
    try {
      release_leadership(conn);
    } catch (...) {
    }
    throw;
  }
}

leader_row current_leader(pqxx::connection_base& conn) {
  pqxx::nontransaction tx{conn};
  auto r = tx.exec1(kCurrentLeader);
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>()};
}

std::optional<std::string> depose_stale_leader(pqxx::connection_base& conn,
                                               std::chrono::milliseconds stale) {
  pqxx::nontransaction tx{conn};
  auto r = tx.exec_params(kDeposeStaleLeader, std::to_string(kLeaderKeyHigh),
                          std::to_string(kLeaderKeyLow), static_cast<std::int64_t>(stale.count()));
  if (r.empty())
    r = tx.exec_params(kDeposeOrphanedLock, std::to_string(kLeaderKeyHigh),
                       std::to_string(kLeaderKeyLow));
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

std::vector<std::string> fence_stale_nodes(pqxx::connection_base& conn, const std::string& self_id,
                                           std::chrono::milliseconds stale) {
  pqxx::nontransaction tx{conn};
  std::vector<std::string> out;
  for (const auto& r :
       tx.exec_params(kFenceStaleNodes, static_cast<std::int64_t>(stale.count()), self_id)) {
    auto id = r[0].as<std::string>();
    if (out.empty() || out.back() != id) out.push_back(id);
  }
  return out;
}

void release_leadership(pqxx::connection_base& conn) {
  pqxx::nontransaction tx{conn};
  tx.exec_params(kUnlock, kLeaderLockKey);  // false (and a notice) when not held
}

void deregister(pqxx::connection_base& conn, const std::string& node_id) {
  release_leadership(conn);
  pqxx::nontransaction tx{conn};
  tx.exec_params0(kDeleteNode, node_id);
}

std::int64_t purge_dead_nodes(pqxx::connection_base& conn, std::chrono::milliseconds older_than) {
  pqxx::nontransaction tx{conn};
  return static_cast<std::int64_t>(
      tx.exec_params0(kPurgeDeadNodes, static_cast<std::int64_t>(older_than.count()))
          .affected_rows());
}

std::string process_application_name(const std::string& node_id) {
  std::random_device rd;
  auto incarnation = fmt::format("{:08x}", rd());
  // 63 bytes at most: "hearth/" (7) + node + "/" (1) + 8 hex.
  return "hearth/" + node_id.substr(0, 63 - 7 - 1 - 8) + "/" + incarnation;
}

}  // namespace hearth::storage
