#pragma once
// Group commit of writes to household tables: creations (POST) and changes
// (PUT, DELETE) that arrive together commit together, in one transaction
// with one fsync, instead of one transaction and one fsync each.
//
// Creations are spread over `lanes` by household (a household always in
// the same lane, so lanes lock disjoint households); each lane runs one
// drain job at a time on the storage pool. A drain takes every queued
// creation of its lane (up to max_batch) and runs them in one transaction
// with one commit, then leaves its pool thread (the next batch is a new
// job, queued behind whatever else waits for the pool):
//   - the bulk path (a batch without an Idempotency-Key): one statement
//     reads every creation's permission; one locks the batch's households
//     in id order (when there are several); then one multi-row statement
//     per table and set of columns inserts the rows, bumps each household's
//     event_seq once by its count and records the events
//     (storage/tables.hpp, create_rows_in). A batch costs about four round
//     trips whatever its size. A creation refused by permission or by
//     `admit` fails alone, with nothing undone;
//   - a batch of one creation without an Idempotency-Key (the lone write a
//     household makes) runs as one statement in autocommit that checks the
//     permission and writes (storage/tables.hpp, create_row_if_permitted):
//     one round trip instead of four (BEGIN, permission, write, COMMIT); a
//     refused one costs a second statement to say why;
//   - a batch with a keyed creation runs one creation after another in the
//     transaction (each claims its key in its own statements).
// Changes (updates, deletes) name a row, not a household, so they queue in
// `lanes` lanes of their own, by row id. A drain looks up the households of
// the batch's rows (one statement per table) and the callers' permissions
// (one; a row not found, a non-member or a viewer fails alone), locks the
// households and every move's target in id order (one statement), locks
// the rows in id order (one per table; a row gone, moved or locked against
// changes fails alone), then changes them with one statement per table and
// column set for updates and one per table for deletes (storage/tables.hpp,
// change_rows_in). A keyed change, a move, and a second change of a row
// already in the batch run their own statements after those, in order
// (update_row_in / delete_row_in). Two change lanes may share a household:
// they wait for each other on its lock, never in a cycle (below).
//
// In both, if a statement fails (a CHECK violation, say), the transaction
// is rolled back and the batch runs again with one savepoint per write
// (SAVEPOINT, then RELEASE or ROLLBACK TO), so the failure fails only its
// own request. Then every result goes to its caller, in each household's
// seq order, each result's events published first (to the batcher's
// event_sink, storage/events.hpp: the caller never publishes). A lone
// write on an idle server is drained at once: the batch
// window is simply the time the previous commit took. Each household's
// seqs follow arrival order (for creations: within a table and column
// set). Every success is durable when its caller hears of it (the commit
// has returned; fsync and synchronous_commit as the server has them).
//
// Deadlocks: every writer takes household locks before row locks, several
// households' locks in id order in one statement (lock_households;
// update_row, delete_row and the calendar import do the same), and a row
// only while holding its household's lock. So two writers that want the
// same row are serialised on its household before either locks a row, and
// households are always locked in one order: no wait cycle.
//
// Why multi-row statements and not libpq's pipeline mode: libpqxx 6.4 has
// no pipeline API, and one statement per group does what a pipeline would
// (no round trip per write) and also saves the executor's per-statement
// work; the batch's commit saves the fsync per write (figures:
// bench/results/latest.md).

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "storage/pool.hpp"
#include "storage/tables.hpp"
#include "trace/trace.hpp"

namespace hearth::storage {

class write_batcher {
 public:
  /// What every write gets back: `done` is called exactly once, on a pool
  /// thread (or on the caller's thread when the pool refuses the drain
  /// job), with the committed result, or with null and the exception that
  /// failed it (domain_error, pqxx errors; a refused job:
  /// storage::pool_refused). A committed result's events (`moved_from`,
  /// then `event`) have been published already; a replay's were long ago.
  using callback = std::function<void(write_result*, std::exception_ptr)>;

  /// One creation (POST).
  struct create_request {
    const table_spec* table = nullptr;
    std::string account_id;
    std::string household_id;
    values v;
    write_gate admit;
    /// An Idempotency-Key: claimed and recorded inside the write's own part
    /// of the batch (its savepoint when the batch runs isolated), so a write
    /// and its key commit or roll back together. A replay comes back as a
    /// write_result with `replay` set.
    std::optional<idempotency> idem;
    callback done;
    /// The caller's span (trace/trace.hpp); when valid, the write gets a
    /// "pool.job" child span (from submit() to the end of `done`) with a
    /// "db.commit" child (its batch's transaction, shared with the batch:
    /// each write records its own copy, hearth.batch_size says how many
    /// shared it), and `done` runs with the "pool.job" span current.
    trace::context trace = {};
    std::int64_t queued_ns = 0;  // set by submit()
    /// The id the client chose (storage/tables.hpp, create_row_in): such a
    /// creation runs in its own statements, as a keyed one does.
    std::optional<std::string> client_id = std::nullopt;
  };

  /// One change (PUT or DELETE) of row `row_id`: an update of the columns
  /// in `v`, or a delete when `v` is nullopt. `household`: an update's
  /// authHouseholdID (a move when not the row's; storage/tables.hpp,
  /// update_row). Answers as update_row / delete_row.
  struct change_request {
    const table_spec* table = nullptr;
    std::string account_id;
    std::string row_id;
    std::optional<values> v;
    std::optional<std::string> household;
    write_gate admit;
    std::optional<idempotency> idem;
    callback done;
    trace::context trace = {};
    std::int64_t queued_ns = 0;
  };

  /// `publish`: where committed writes' change events go (storage/events.hpp;
  /// empty: nowhere, as in tests of the batching alone).
  explicit write_batcher(pool& db, event_sink publish = {}, std::size_t lanes = 4,
                         std::size_t max_batch = 256);
  write_batcher(const write_batcher&) = delete;
  write_batcher& operator=(const write_batcher&) = delete;

  void submit(create_request r);
  void submit(change_request r);

  std::uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  std::uint64_t creations() const { return creations_.load(std::memory_order_relaxed); }
  std::uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }
  /// Batches that had a failure and ran again with savepoints.
  std::uint64_t isolated() const { return isolated_.load(std::memory_order_relaxed); }

  /// The sink this batcher publishes to, for the writers outside it
  /// (storage::change_transaction): one place says where events go.
  const event_sink& publisher() const { return publish_; }

  struct outcome;  // a batch's results and errors (group_commit.cpp)

 private:
  template <typename Request>
  struct lane {
    std::mutex mutex;
    std::deque<Request> queue;
    bool draining = false;
  };
  template <typename Request>
  void enqueue(lane<Request>& l, Request r);
  template <typename Request>
  void schedule(lane<Request>& l);
  template <typename Request>
  void drain(lane<Request>& l, connection& conn);
  template <typename Request>
  void answer(std::deque<Request>& batch, outcome& out, std::int64_t batch_start);
  void run_batch(connection& conn, std::deque<create_request>& batch);
  void run_batch(connection& conn, std::deque<change_request>& batch);

  pool& db_;
  const event_sink publish_;
  const std::size_t max_batch_;
  std::vector<std::unique_ptr<lane<create_request>>> create_lanes_;
  std::vector<std::unique_ptr<lane<change_request>>> change_lanes_;
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> creations_{0};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<std::uint64_t> isolated_{0};
};

}  // namespace hearth::storage
