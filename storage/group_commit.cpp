#include "storage/group_commit.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <vector>

namespace hearth::storage {
namespace {

struct outcome {
  std::vector<std::optional<write_result>> results;
  std::vector<std::exception_ptr> errors;
  explicit outcome(std::size_t n) : results(n), errors(n) {}
};

// The fast path: every creation of the batch in one transaction with no
// savepoint (two statements fewer each). False when one failed: the
// transaction is then rolled back and nothing of it was committed.
bool run_optimistic(connection& conn, const std::deque<create_batcher::request>& batch,
                    outcome& out) {
  pqxx::work tx{conn};
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& r = batch[i];
    try {
      out.results[i] = create_row_in(tx, *r.table, r.account_id, r.household_id, r.v, r.admit,
                                     r.idem ? &*r.idem : nullptr);
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (...) {
      return false;  // tx rolls back; the batch runs again with savepoints
    }
  }
  tx.commit();
  return true;
}

// The careful path: one savepoint per creation (SAVEPOINT, then RELEASE or
// ROLLBACK TO, as plain statements), so a failure fails only its request.
void run_isolated(connection& conn, const std::deque<create_batcher::request>& batch,
                  outcome& out) {
  pqxx::work tx{conn};
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& r = batch[i];
    out.results[i].reset();
    tx.exec0("SAVEPOINT creation");
    try {
      out.results[i] = create_row_in(tx, *r.table, r.account_id, r.household_id, r.v, r.admit,
                                     r.idem ? &*r.idem : nullptr);
      tx.exec0("RELEASE SAVEPOINT creation");
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (...) {
      out.results[i].reset();
      out.errors[i] = std::current_exception();
      tx.exec0("ROLLBACK TO SAVEPOINT creation");
    }
  }
  tx.commit();
}

}  // namespace

create_batcher::create_batcher(pool& db, std::size_t lanes, std::size_t max_batch)
    : db_(db), max_batch_(std::max<std::size_t>(max_batch, 1)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(lanes, 1); ++i)
    lanes_.push_back(std::make_unique<lane>());
}

void create_batcher::submit(request r) {
  if (r.trace.valid()) r.queued_ns = trace::now_ns();
  auto& l = *lanes_[std::hash<std::string>{}(r.household_id) % lanes_.size()];
  {
    std::lock_guard lock(l.mutex);
    l.queue.push_back(std::move(r));
    if (l.draining) return;  // the drain under way takes it in its next batch
    l.draining = true;
  }
  bool queued = false;
  {
    trace::scope none(trace::context{});  // the drain serves many requests: no one's child
    queued = db_.submit([this, &l](connection& conn) { drain(l, conn); });
  }
  if (queued) return;
  // Refused (stopping or full): everything queued in the lane fails, as a refused job.
  std::deque<request> refused;
  {
    std::lock_guard lock(l.mutex);
    refused.swap(l.queue);
    l.draining = false;
  }
  auto why = std::make_exception_ptr(std::runtime_error(kRefused));
  for (auto& q : refused) q.done(nullptr, why);
}

void create_batcher::drain(lane& l, connection& conn) {
  for (;;) {
    std::deque<request> batch;
    {
      std::lock_guard lock(l.mutex);
      if (l.queue.empty()) {
        l.draining = false;
        return;
      }
      const auto n = std::min(l.queue.size(), max_batch_);
      batch.insert(batch.end(), std::make_move_iterator(l.queue.begin()),
                   std::make_move_iterator(l.queue.begin() + static_cast<std::ptrdiff_t>(n)));
      l.queue.erase(l.queue.begin(), l.queue.begin() + static_cast<std::ptrdiff_t>(n));
    }
    run_batch(conn, batch);
  }
}

void create_batcher::run_batch(connection& conn, std::deque<request>& batch) {
  std::stable_sort(batch.begin(), batch.end(), [](const request& a, const request& b) {
    return a.household_id < b.household_id;
  });
  outcome out(batch.size());
  const std::int64_t batch_start = trace::enabled() ? trace::now_ns() : 0;
  try {
    if (!run_optimistic(conn, batch, out)) {
      ++isolated_;
      run_isolated(conn, batch, out);
    }
  } catch (...) {  // the connection broke or the commit failed: in doubt, all fail
    auto why = std::current_exception();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      out.results[i].reset();
      if (!out.errors[i]) out.errors[i] = why;
    }
  }
  ++batches_;
  creations_ += batch.size();
  const std::int64_t batch_end = batch_start ? trace::now_ns() : 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    trace::span job;
    if (batch_start && batch[i].trace.valid()) {
      job = trace::span("pool.job", trace::kind::internal, batch[i].trace, batch[i].queued_ns);
      job.set("hearth.group_commit", true);
      trace::span commit("db.commit", trace::kind::internal, job.ctx(), batch_start);
      commit.set("hearth.batch_size", static_cast<std::int64_t>(batch.size()));
      if (!out.results[i]) commit.set_error("creation failed");
      commit.end(batch_end);
    }
    trace::scope in(job.ctx());
    try {
      batch[i].done(out.results[i] ? &*out.results[i] : nullptr, out.errors[i]);
    } catch (...) {
      // A caller's callback must not take the batch's other answers down.
    }
  }
}

}  // namespace hearth::storage
