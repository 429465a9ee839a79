#pragma once
// The database pool: N worker threads, each owning one libpqxx connection.
// Every PostgreSQL call in hearth runs here, never on an Asio network thread
// or a CAF scheduler thread: callers submit a job and get the result back by
// their own means (a post to their I/O thread), or, for actors, through
// run_on_pool below (a message to the actor that asked).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace hearth::storage {

/// A unit of database work. It runs on a pool thread with that thread's
/// connection; exceptions it throws are caught and logged by the pool (a job
/// that must answer someone catches them itself). The connection is lazy
/// and reconnects by itself after a loss (libpqxx 6 reactivation), so a job
/// always runs and sees pqxx::broken_connection while the server is away.
using connection = pqxx::connection_base;
using job = std::function<void(connection&)>;

/// Runs `sql` as the prepared statement `name` of tx's connection: parsed
/// and planned once per connection rather than per run (libpqxx 6 sends
/// PQprepare on first use, and again after a reconnect). For statements a
/// hot path runs over and over (the group commit's). A `name` must always
/// name the same `sql` (pqxx::argument_error otherwise).
template <typename... Args>
pqxx::result exec_prepared_sql(pqxx::transaction_base& tx, const std::string& name,
                               const std::string& sql, Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

/// `url` (a libpq URI, postgres[ql]://…, or a key=value string) with the
/// TCP keepalives and timeouts of a network connection added, each unless
/// the URL sets it: connect_timeout=5 (s), keepalives=1,
/// keepalives_idle=5 (s), keepalives_interval=2 (s), keepalives_count=3,
/// tcp_user_timeout=10000 (ms). Without them a silent network partition
/// between a node and PostgreSQL (packets dropped, no reset) blocks every
/// query of the node until the kernel gives up on the connection, about
/// 15 minutes (tcp_retries2), and a leader cut off from the database keeps
/// believing it leads. With them, a query on a dead path fails within about
/// 11 s (keepalives: 5 + 3 × 2 s) and a connection attempt within 5 s.
/// libpq ignores them on Unix-domain sockets (the embedded PostgreSQL).
/// Source: libpq "Parameter Key Words" (PostgreSQL 15 manual, 34.1.2).
std::string with_network_timeouts(const std::string& url);

/// The error text of a job the pool refused (stopping, or full).
inline constexpr const char* kRefused = "database pool is stopping or full";

/// The exception of a job the pool refused (stopping, or max_queue jobs
/// waiting): callers answer 503 with Retry-After, recognising it by type.
struct pool_refused : std::runtime_error {
  pool_refused() : std::runtime_error(kRefused) {}
};

/// Live figures of the pool (metrics).
struct pool_stats {
  std::size_t size = 0;    // connections (threads)
  std::size_t busy = 0;    // running a job now
  std::size_t queued = 0;  // waiting for a connection
  std::uint64_t jobs_total = 0;
  double wait_seconds_total = 0;  // summed time jobs waited in the queue
};

class pool {
 public:
  /// Opens `size` connections to `url` (throws pqxx::broken_connection when
  /// the first cannot be opened) and starts their threads.
  pool(std::string url, int size);
  ~pool();  // stop(): waits for queued jobs to finish

  /// A pool with no threads, for deterministic tests: submit() only queues,
  /// and run_pending() runs the queued jobs on the caller's thread with one
  /// connection to `url`. Never used by `hearth serve`.
  static std::unique_ptr<pool> manual(std::string url);

  /// Manual pools only: runs up to `max` queued jobs (including jobs they
  /// queue meanwhile) on this thread; returns how many ran.
  std::size_t run_pending(std::size_t max = static_cast<std::size_t>(-1));
  // stop(): waits for queued jobs to finish
  /// The URL the connections were opened with.
  const std::string& url() const { return url_; }

  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// Queues `j`. With tracing on and a current span on the calling thread
  /// (trace::current()), `j` runs inside a child span "pool.job" (queue
  /// wait + run; trace/trace.hpp). Returns false (and does not run it) once stop() was called
  /// or when more than `max_queue` jobs wait (the caller answers 503).
  bool submit(job j);

  /// Marks every connection stale: each pool thread (and a manual pool's
  /// connection) closes its connection before its next job, which then
  /// opens a new one. For a server known to have restarted (the embedded
  /// PostgreSQL's supervisor, storage/supervisor.hpp): otherwise each
  /// connection opened before the restart fails its next job once
  /// (pqxx::broken_connection: a 503 to a client). Thread-safe.
  void reconnect() { generation_.fetch_add(1); }

  /// Runs the queued jobs, then joins the threads. Idempotent.
  void stop();

  /// Jobs waiting for a connection (for health and metrics).
  std::size_t queued() const;

  pool_stats stats() const;

  static constexpr std::size_t max_queue = 10'000;

 private:
  void run(int index);
  bool next(job& j);  // pops the next job (lock held inside); false when none

  std::unique_ptr<pqxx::lazyconnection> manual_conn_;  // manual pools only

  std::string url_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  struct queued_job {
    job run;
    std::chrono::steady_clock::time_point queued_at;
  };
  std::deque<queued_job> jobs_;
  std::atomic<std::size_t> busy_{0};
  std::atomic<std::uint64_t> generation_{0};  // reconnect() calls
  std::uint64_t manual_generation_ = 0;       // the manual connection's
  std::atomic<std::uint64_t> jobs_total_{0};
  std::atomic<std::uint64_t> wait_ns_total_{0};
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// Runs `work(connection)` on the pool and waits for its result (or
/// rethrows its exception). Only for threads that may block (the engine's
/// handler threads, tests): never on an HTTP or CAF thread. Throws
/// std::runtime_error when the pool refuses the job (stopping or full).
template <class Work>
auto run_sync(pool& p, Work work) -> decltype(work(std::declval<connection&>())) {
  using result = decltype(work(std::declval<connection&>()));
  auto promise = std::make_shared<std::promise<result>>();
  auto future = promise->get_future();
  bool queued = p.submit([promise, work = std::move(work)](connection& conn) mutable {
    try {
      if constexpr (std::is_void_v<result>) {
        work(conn);
        promise->set_value();
      } else {
        promise->set_value(work(conn));
      }
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  if (!queued) throw pool_refused();
  return future.get();
}

/// What a pool job produced: its value, or why there is none.
///   value    set when the work returned (for void work: std::monostate{})
///   error    the exception's what(), or kRefused when the pool took no job
///   refused  the pool was stopping or full (the work never ran)
template <class T>
struct pool_outcome {
  std::optional<T> value;
  std::string error;
  bool refused = false;

  bool ok() const { return value.has_value(); }
};

namespace detail {
template <class Work>
using work_result_t = std::invoke_result_t<Work&, connection&>;
template <class Work>
using outcome_value_t =
    std::conditional_t<std::is_void_v<work_result_t<Work>>, std::monostate, work_result_t<Work>>;
}  // namespace detail

/// Runs `work(connection&)` on a pool thread, then calls `done(outcome)`
/// with its result or its exception's message. When the pool refuses the
/// job (stopping, or max_queue jobs waiting), `done` is called at once on
/// the caller's thread with `refused` set, so every caller handles a
/// refusal exactly like a failure: nothing is silently dropped.
///
/// `done` runs on a pool thread (or, refused, on the caller's): it must only
/// send messages (caf::anon_send to the actor that asked), never touch actor
/// state. Both callables are copied into the job. Returns false when refused.
template <class Work, class Done>
bool run_on_pool(pool& db, Work work, Done done) {
  using value_type = detail::outcome_value_t<Work>;
  bool queued = db.submit([work, done](connection& conn) mutable {
    pool_outcome<value_type> outcome;
    try {
      if constexpr (std::is_void_v<detail::work_result_t<Work>>) {
        work(conn);
        outcome.value.emplace();
      } else {
        outcome.value.emplace(work(conn));
      }
    } catch (const std::exception& e) {
      outcome.error = e.what();
    } catch (...) {
      outcome.error = "unknown error";
    }
    done(std::move(outcome));
  });
  if (queued) return true;
  pool_outcome<value_type> outcome;
  outcome.error = kRefused;
  outcome.refused = true;
  done(std::move(outcome));
  return false;
}

}  // namespace hearth::storage
