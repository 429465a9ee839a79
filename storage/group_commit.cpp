#include "storage/group_commit.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/errors.hpp"
#include "storage/households.hpp"

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

// The common path: the whole batch in a handful of statements, whatever its
// size: the permissions of every creation (one statement), the households'
// locks in id order (one, when there are several), then one multi-row
// statement per table and column set (storage/tables.hpp, create_rows_in).
// A creation refused by permission or admission fails alone, with no
// database work undone. False when a statement failed (a CHECK violation,
// say): the transaction is rolled back, and the batch runs again one
// creation at a time with savepoints.
bool run_bulk(connection& conn, const std::deque<create_batcher::request>& batch, outcome& out) {
  pqxx::work tx{conn};
  try {
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
    pairs.reserve(batch.size());
    for (const auto& r : batch) pairs.emplace_back(r.account_id, r.household_id);
    const auto permissions = permissions_of(tx, pairs);
    std::vector<std::string_view> households;  // admitted, in id order (the batch is sorted)
    std::vector<bool> admitted(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& r = batch[i];
      try {
        if (!permissions[i])
          throw domain_error(errc::not_found, "authHouseholdID: household not found");
        if (*permissions[i] == "view")
          throw domain_error(errc::forbidden, "view-only members cannot change this household");
        if (r.admit) r.admit(r.household_id);
      } catch (...) {
        out.errors[i] = std::current_exception();
        continue;
      }
      admitted[i] = true;
      if (households.empty() || households.back() != r.household_id)
        households.push_back(r.household_id);
    }
    if (households.size() > 1) lock_households(tx, households);
    // Groups of one table and one set of columns, in order of first arrival.
    struct group {
      const table_spec* table;
      std::vector<std::size_t> members;
      std::vector<creation> rows;
    };
    std::vector<group> groups;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!admitted[i]) continue;
      const auto& r = batch[i];
      auto same = [&](const group& g) {
        if (g.table != r.table) return false;
        const auto& v = *g.rows.front().v;
        return v.size() == r.v.size() &&
               std::equal(v.begin(), v.end(), r.v.begin(),
                          [](const auto& a, const auto& b) { return a.first == b.first; });
      };
      auto g = std::find_if(groups.begin(), groups.end(), same);
      if (g == groups.end()) g = groups.insert(groups.end(), group{r.table, {}, {}});
      g->members.push_back(i);
      g->rows.push_back(creation{&r.household_id, &r.v});
    }
    for (auto& g : groups) {
      auto results = create_rows_in(tx, *g.table, g.rows);
      for (std::size_t k = 0; k < g.members.size(); ++k)
        out.results[g.members[k]] = std::move(results[k]);
    }
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (...) {
    return false;  // tx rolls back; the batch runs again with savepoints
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
  // A keyed creation claims its Idempotency-Key in its own statements: such
  // a batch runs one creation at a time (still one transaction, one commit).
  const bool keyed =
      std::any_of(batch.begin(), batch.end(), [](const request& r) { return r.idem.has_value(); });
  try {
    if (keyed ? !run_optimistic(conn, batch, out) : !run_bulk(conn, batch, out)) {
      ++isolated_;
      out = outcome(batch.size());
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
  // Answers in each household's seq order (the callers publish the events
  // as they hear of them): with several tables or column sets in one
  // household, batch order and seq order can differ.
  std::vector<std::size_t> order(batch.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto seq_of = [&](std::size_t i) {
    return out.results[i] && !out.results[i]->replay ? out.results[i]->event.seq : 0;
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (batch[a].household_id != batch[b].household_id)
      return batch[a].household_id < batch[b].household_id;
    return seq_of(a) < seq_of(b);
  });
  for (std::size_t i : order) {
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
