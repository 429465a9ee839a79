#include "storage/group_commit.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <vector>

namespace hearth::storage {

create_batcher::create_batcher(pool& db, std::size_t max_batch)
    : db_(db), max_batch_(std::max<std::size_t>(max_batch, 1)) {}

void create_batcher::submit(request r) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(r));
    if (draining_) return;  // the drain under way takes it in its next batch
    draining_ = true;
  }
  if (db_.submit([this](connection& conn) { drain(conn); })) return;
  // Refused (stopping or full): everything queued fails, as a refused job.
  std::deque<request> refused;
  {
    std::lock_guard lock(mutex_);
    refused.swap(queue_);
    draining_ = false;
  }
  auto why = std::make_exception_ptr(std::runtime_error(kRefused));
  for (auto& q : refused) q.done(nullptr, why);
}

void create_batcher::drain(connection& conn) {
  for (;;) {
    std::deque<request> batch;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) {
        draining_ = false;
        return;
      }
      const auto n = std::min(queue_.size(), max_batch_);
      batch.insert(batch.end(), std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    run_batch(conn, batch);
  }
}

void create_batcher::run_batch(connection& conn, std::deque<request>& batch) {
  std::stable_sort(batch.begin(), batch.end(), [](const request& a, const request& b) {
    return a.household_id < b.household_id;
  });
  std::vector<std::optional<write_result>> results(batch.size());
  std::vector<std::exception_ptr> errors(batch.size());
  try {
    pqxx::work tx{conn};
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& r = batch[i];
      // One savepoint per creation (SAVEPOINT / RELEASE / ROLLBACK TO, as
      // plain statements on the batch's transaction).
      tx.exec0("SAVEPOINT creation");
      try {
        results[i] = create_row_in(tx, *r.table, r.account_id, r.household_id, r.v, r.admit);
        tx.exec0("RELEASE SAVEPOINT creation");
      } catch (const pqxx::broken_connection&) {
        throw;  // the whole batch is lost (in doubt)
      } catch (...) {
        results[i].reset();
        errors[i] = std::current_exception();
        tx.exec0("ROLLBACK TO SAVEPOINT creation");  // the others go on
      }
    }
    tx.commit();
  } catch (...) {
    auto why = std::current_exception();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (results[i]) results[i].reset();
      if (!errors[i]) errors[i] = why;
    }
  }
  ++batches_;
  creations_ += batch.size();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    try {
      batch[i].done(results[i] ? &*results[i] : nullptr, errors[i]);
    } catch (...) {
      // A caller's callback must not take the batch's other answers down.
    }
  }
}

}  // namespace hearth::storage
