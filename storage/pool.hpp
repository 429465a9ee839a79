#pragma once
// The database pool: N worker threads, each owning one libpqxx connection.
// Every PostgreSQL call in hearth runs here, never on an Asio network thread
// or a CAF scheduler thread: callers submit a job and get the result back by
// their own means (a post to their strand, a message to their actor).

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
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace hearth::storage {

/// A unit of database work. It runs on a pool thread with that thread's
/// connection; exceptions it throws are caught and logged by the pool (a job
/// that must answer someone catches them itself). The connection is lazy
/// and reconnects by itself after a loss (libpqxx 6 reactivation), so a job
/// always runs and sees pqxx::broken_connection while the server is away.
using connection = pqxx::connection_base;
using job = std::function<void(connection&)>;

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
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// Queues `j`. Returns false (and does not run it) once stop() was called
  /// or when more than `max_queue` jobs wait (the caller answers 503).
  bool submit(job j);

  /// Runs the queued jobs, then joins the threads. Idempotent.
  void stop();

  /// Jobs waiting for a connection (for health and metrics).
  std::size_t queued() const;

  pool_stats stats() const;

  static constexpr std::size_t max_queue = 10'000;

 private:
  void run(int index);

  std::string url_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  struct queued_job {
    job run;
    std::chrono::steady_clock::time_point queued_at;
  };
  std::deque<queued_job> jobs_;
  std::atomic<std::size_t> busy_{0};
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
  if (!queued) throw std::runtime_error("database pool is stopping or full");
  return future.get();
}

}  // namespace hearth::storage
