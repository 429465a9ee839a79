#pragma once
// Supervision of the embedded PostgreSQL (storage/embedded_postgres.hpp):
// one thread watches the postmaster and, when it exits (kill -9, OOM killer,
// a crash), starts it again with exponential backoff until it runs, without
// restarting hearth. Meanwhile requests get 503 and /api/v1/health says the
// database is restarting; after a restart, on_restarted's callback runs
// (hearth serve: storage::pool::reconnect, so no job meets a connection
// to the dead server).
//
// Watching: a pidfd of the postmaster (pidfd_open(2), Linux ≥ 5.3; the
// postmaster is not our child: pg_ctl daemonises it, so waitpid cannot see
// it), polled together with an eventfd that stop() signals; where pidfd_open
// is unavailable, the postmaster is checked every `poll` instead.
// Restarting: embedded_postgres::restart(), which removes the stale lock
// files of the killed postmaster, adopts a server another hearth process
// restarted, or runs pg_ctl start. PostgreSQL refuses to start while
// backends of the killed postmaster still hold its shared memory; they exit
// on their own once they notice the postmaster is gone, and the next attempt
// (after min_backoff, doubling up to max_backoff) succeeds.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "storage/embedded_postgres.hpp"

namespace hearth::storage {

/// Timings of the supervisor.
struct supervisor_options {
  /// Delay after the first failed restart attempt; doubles per failure.
  std::chrono::milliseconds min_backoff{100};
  /// Longest delay between two restart attempts.
  std::chrono::milliseconds max_backoff{5'000};
  /// Liveness check period when pidfd_open(2) is not available.
  std::chrono::milliseconds poll{250};
};

/// What the supervisor knows (health, metrics). A copy, taken under a lock.
struct supervisor_status {
  enum class state_t { stopped, running, restarting };
  state_t state = state_t::stopped;
  pid_t pid = 0;                      // the postmaster being watched; 0 while restarting
  std::uint64_t restarts = 0;         // successful restarts since start()
  std::uint64_t failed_attempts = 0;  // restart attempts that failed, since start()
  std::uint64_t attempt = 0;          // failed attempts of the current outage (restarting)
  std::string last_error;             // of the last failed attempt; "" once running again
  /// When the current outage was noticed (restarting only), system clock.
  std::chrono::system_clock::time_point down_since{};
};

/// "stopped", "running" or "restarting".
const char* to_string(supervisor_status::state_t state);

/// Supervises one started embedded_postgres. The server object must outlive
/// the supervisor, and its stop() must only be called after the supervisor's.
class postgres_supervisor {
 public:
  explicit postgres_supervisor(embedded_postgres& server, supervisor_options options = {});
  ~postgres_supervisor();  // stop()
  postgres_supervisor(const postgres_supervisor&) = delete;
  postgres_supervisor& operator=(const postgres_supervisor&) = delete;

  /// Starts the watching thread (the server must be running). Throws
  /// std::system_error when the eventfd or the thread cannot be created.
  void start();

  /// Stops and joins the thread; a restart attempt under way (pg_ctl start,
  /// up to 60 s while PostgreSQL recovers) finishes first. Idempotent.
  void stop() noexcept;

  /// Thread-safe snapshot.
  supervisor_status status() const;

  /// Calls `f` (on the supervisor's thread) after each successful restart,
  /// before the status says "running" again: `hearth serve` has the pool
  /// reconnect (storage::pool::reconnect). Replaces the previous callback;
  /// nullptr removes it, waiting for a call under way to return.
  void on_restarted(std::function<void()> f);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::storage
