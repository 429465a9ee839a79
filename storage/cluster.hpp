#pragma once
// The cluster's tables (migrations/002_cluster.up.sql): node registry with
// heartbeats, the leader advisory lock and its fencing term, and the fenced
// record of scheduled runs. All calls block on PostgreSQL: they run on the
// election thread's dedicated connection or on the storage pool, never on a
// network or actor thread.
//
// Leader election (docs/architecture.md, "The cluster"): the leader is the node whose election
// connection holds the session-level advisory lock kLeaderLockKey.
// PostgreSQL frees it when that session ends (process killed, connection
// lost, or terminated by a peer that saw the leader's heartbeat go stale).
// Each new leader increments cluster_leader.term first; scheduled runs are
// only recorded under the current term, so a stale leader's run is refused.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace hearth::storage {

/// Advisory lock key of the leader ("hearthl1"); migrations use kMigrationLockKey.
constexpr long long kLeaderLockKey = 0x6865617274686c31LL;

/// What a node publishes about itself on every heartbeat.
struct node_registration {
  std::string node_id;
  std::string cluster_addr;  // host:port peers connect to (CAF middleman)
  std::string http_addr;     // host:port of its REST/SSE listener
  std::string links_json;    // its view of its peer links: {"node-b":"up",...}
  std::string started_at;    // when the process started, RFC 3339 UTC
};

/// One row of cluster_node as seen now.
struct node_row {
  std::string node_id;
  std::string cluster_addr;
  std::string http_addr;
  std::string started_at;  // RFC 3339 UTC
  std::int64_t heartbeat_age_ms = 0;
  bool alive = false;  // heartbeat younger than the stale limit
  std::string links_json;
};

/// The current leadership term (term 0 and node "" before the first leader).
struct leader_row {
  std::int64_t term = 0;
  std::string node_id;
  std::string elected_at;  // RFC 3339 UTC
};

/// Upserts the node's row (heartbeat_at = now(), db_pid = this session's
/// backend pid) and returns that pid. Throws pqxx errors.
int heartbeat(pqxx::connection_base& conn, const node_registration& self);

/// Every registered node, ordered by id; `alive` means its heartbeat is
/// younger than `stale`.
std::vector<node_row> list_nodes(pqxx::connection_base& conn, std::chrono::milliseconds stale);

/// Tries to take the leader lock on this session without waiting. On success
/// starts a new term (term + 1, leader = node_id) and returns it; nullopt when
/// another session holds the lock.
std::optional<std::int64_t> try_lead(pqxx::connection_base& conn, const std::string& node_id);

/// The current term and leader.
leader_row current_leader(pqxx::connection_base& conn);

/// When the current leader's heartbeat is older than `stale` (a frozen or
/// partitioned node), terminates the backend holding the leader lock
/// (pg_terminate_backend) so that PostgreSQL frees the lock. So too when
/// the lock is held by an orphaned session: one whose own process now
/// heartbeats from another session (it reconnected after a network
/// partition; PostgreSQL has not noticed the old one is dead). Returns the
/// deposed node's id, or nullopt when the leader is healthy or absent.
std::optional<std::string> depose_stale_leader(pqxx::connection_base& conn,
                                               std::chrono::milliseconds stale);

/// Fences off every node (other than `self_id`) whose heartbeat is older
/// than `stale`: terminates all its database sessions, found by the unique
/// application_name its process gives every connection (see
/// process_application_name). A frozen node's pool may hold row locks (the
/// term row, a household row) that would otherwise block the cluster until
/// it wakes. Returns the ids of the nodes that had sessions terminated.
std::vector<std::string> fence_stale_nodes(pqxx::connection_base& conn, const std::string& self_id,
                                           std::chrono::milliseconds stale);

/// The application_name for every PostgreSQL session of this process:
/// "hearth/<node_id>/<random incarnation>", at most 63 bytes (PostgreSQL's
/// limit). serve() exports it as PGAPPNAME before opening any connection.
std::string process_application_name(const std::string& node_id);

/// Releases the leader lock if this session holds it (a no-op otherwise).
void release_leadership(pqxx::connection_base& conn);

/// Clean stop: releases the leader lock if this session holds it and deletes
/// the node's row, so the next leader can take over at once.
void deregister(pqxx::connection_base& conn, const std::string& node_id);

/// Deletes rows of nodes silent for longer than `older_than`; returns how many.
std::int64_t purge_dead_nodes(pqxx::connection_base& conn, std::chrono::milliseconds older_than);

}  // namespace hearth::storage
