#pragma once
// election: the node's heartbeat, peer discovery and leader election, on a
// thread and PostgreSQL connection of their own (not the pool: this
// connection's session holds the leader advisory lock, and its queries must
// not queue behind request traffic). Blocking here is fine: it is neither a
// network nor an actor thread.
//
// Every `heartbeat` period (and at once when poked):
//   1. upsert this node's cluster_node row (heartbeat_at, db_pid, links);
//   2. follower: pg_try_advisory_lock(kLeaderLockKey); on success start a new
//      term. Leader: the session must be the one that took the lock — if the
//      connection broke (killed by a peer that saw us frozen, or lost), the
//      lock is gone and we step down at once;
//   3. follower: depose a leader whose heartbeat is older than `stale`
//      (pg_terminate_backend on its lock session);
//   4. read every node and the current term, and report both to the
//      cluster actor (members_atom, leading_atom).
// stop() releases the lock and deletes the row, so a clean stop hands over
// leadership within one follower period (peers are poked by the link drop).
// A leader that is the only live node runs its rounds every quarter of
// `stale` instead (750 ms by default; a peer's link drop still pokes it at
// once): nobody needs its heartbeat sooner, and an idle node stays quiet. A
// joining node is seen within that period.
// Facts copied: Homechart polls its lock every 10 s; here the default period
// is 250 ms and stale is 3 s.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "storage/cluster.hpp"

namespace hearth::actors {

class status_board;

struct election_options {
  std::string database_url;
  std::chrono::milliseconds heartbeat{config::defaults().cluster_heartbeat_ms};
  std::chrono::milliseconds stale{config::defaults().cluster_stale_ms};
  std::chrono::minutes purge_after{10};  // dead nodes' rows (by the leader)
};

/// What the election reports after each round (called on its thread).
struct election_report {
  bool leading = false;
  std::int64_t term = 0;
  std::string leader_id;
  std::vector<storage::node_row> nodes;  // empty when the database was unreachable
  bool database_ok = false;
};

class election {
 public:
  election(election_options options, const status_board& board);
  ~election();  // stop()
  election(const election&) = delete;
  election& operator=(const election&) = delete;

  /// Starts the thread, registering the node as `self` (its links are
  /// filled from the status board); `report` is called after every round.
  void start(storage::node_registration self, std::function<void(election_report)> report);
  /// Runs the next round now (e.g. a peer link dropped: it may have led).
  void poke();
  /// Clean stop: releases leadership, deregisters the node, joins. Idempotent.
  void stop();

 private:
  void run();
  void round();
  void step_down(const char* why);

  election_options options_;
  const status_board& board_;
  storage::node_registration self_;
  std::function<void(election_report)> report_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stopping_ = false;
  std::thread thread_;
  // Owned by the election thread only.
  std::unique_ptr<pqxx::connection> conn_;
  bool leading_ = false;
  bool alone_ = false;  // leading, and no other live node in the last round
  std::int64_t term_ = 0;
  int lock_pid_ = 0;
  std::int64_t last_term_ = 0;
  std::string last_leader_;
  std::chrono::steady_clock::time_point next_purge_{};
};

}  // namespace hearth::actors
