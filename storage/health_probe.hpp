#pragma once
// The database check of GET /api/v1/health: `SELECT 1` on a connection of
// its own, answered within a deadline. It never queues behind the pool's
// jobs, so a node whose pool is busy, or whose every pool connection waits
// on a dead network path (TCP keepalives take about 11 s to notice,
// storage/pool.hpp with_network_timeouts), still answers its health check
// at once: 503 "no answer within N ms" instead of a hanging request that a
// load balancer or an operator's curl gives up on.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hearth::storage {

/// One prober thread (owning one lazy libpqxx connection) and one deadline
/// thread. Thread-safe; check() never blocks its caller on the database.
class health_probe {
 public:
  /// What a check found: "" when the database answered `SELECT 1`, else
  /// why not (the server's or libpq's error, or "no answer within N ms").
  using callback = std::function<void(std::string error)>;

  /// `url`: the node's database URL; the probe adds the network timeouts of
  /// with_network_timeouts (connect 5 s, keepalives). Connects at the
  /// first check, and again after any failure.
  explicit health_probe(std::string url);
  /// Answers the checks still waiting with "stopping", then joins both
  /// threads (a probe under way may take up to its network timeouts).
  ~health_probe();
  /// The same, before destruction (callbacks that need what dies with the
  /// probe's owner run now). Idempotent.
  void stop();
  health_probe(const health_probe&) = delete;
  health_probe& operator=(const health_probe&) = delete;

  /// Calls `done` exactly once, on one of the probe's threads (on the
  /// caller's, with "stopping", once the probe stops): with the
  /// result of a `SELECT 1` that started after this call, or with
  /// "no answer within <deadline> ms" once `deadline` passed first. A check
  /// that arrives while a probe is under way waits for the next one (not
  /// the current one, whose result may be older than the caller's view).
  void check(std::chrono::milliseconds deadline, callback done);

  /// Probes run so far (tests).
  std::uint64_t probes() const;

 private:
  struct waiter {
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds budget;
    std::uint64_t round;  // the probe round that answers it
    callback done;
  };
  void run_prober();
  void run_deadlines();
  std::string probe_once();

  const std::string url_;
  mutable std::mutex mutex_;
  std::condition_variable prober_wake_, deadline_wake_;
  std::vector<waiter> waiters_;
  std::uint64_t next_round_ = 1;  // the round a new waiter is answered by
  std::uint64_t probes_ = 0;
  bool stopping_ = false;
  struct conn_holder;
  std::unique_ptr<conn_holder> conn_;  // the prober thread's only
  std::thread prober_, deadlines_;
};

}  // namespace hearth::storage
