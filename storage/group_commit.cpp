#include "storage/group_commit.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/errors.hpp"
#include "storage/households.hpp"

namespace hearth::storage {

struct write_batcher::outcome {
  std::vector<std::optional<write_result>> results;
  std::vector<std::exception_ptr> errors;
  explicit outcome(std::size_t n) : results(n), errors(n) {}
};

namespace {

using write_batcher_outcome = write_batcher::outcome;
using create_request = write_batcher::create_request;
using change_request = write_batcher::change_request;

// One write's own statements (keyed creations, every change).
write_result run_one(pqxx::transaction_base& tx, const create_request& r, const std::string*) {
  return create_row_in(tx, *r.table, r.account_id, r.household_id, r.v, r.admit,
                       r.idem ? &*r.idem : nullptr, r.client_id ? &*r.client_id : nullptr);
}
write_result run_one(pqxx::transaction_base& tx, const change_request& r,
                     const std::string* locked) {
  const auto* idem = r.idem ? &*r.idem : nullptr;
  if (!r.v) return delete_row_in(tx, *r.table, r.account_id, r.row_id, *locked, r.admit, idem);
  return update_row_in(tx, *r.table, r.account_id, r.row_id, *r.v, *locked, r.admit, r.household,
                       idem);
}

// Write i of a batch in a savepoint of `tx`: its result, or its error with
// the savepoint rolled back, so a failure fails only that write (a broken
// connection fails the transaction).
template <typename Request>
void run_in_savepoint(pqxx::transaction_base& tx, const Request& r, const std::string* locked,
                      std::size_t i, write_batcher_outcome& out) {
  tx.exec0("SAVEPOINT write");
  try {
    out.results[i] = run_one(tx, r, locked);
    tx.exec0("RELEASE SAVEPOINT write");
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (...) {
    out.results[i].reset();
    out.errors[i] = std::current_exception();
    tx.exec0("ROLLBACK TO SAVEPOINT write");
  }
}

// Whether two writes give the same set of columns (one multi-row statement
// serves both).
bool same_columns(const values& a, const values& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](const auto& x, const auto& y) { return x.first == y.first; });
}

// The writes of a batch one after another in one transaction, in `order`
// (indices into batch; `locked[i]`: the household lock held for write i,
// changes only). Without savepoints (`isolated` false): false as soon as
// one fails, the transaction rolled back and nothing of it committed.
// With a savepoint per write: a failure fails only its write. Writes with
// an error already (refused before any statement) are skipped.
template <typename Request>
bool run_each(connection& conn, const std::deque<Request>& batch,
              const std::vector<std::size_t>& order, const std::vector<std::string>& locked,
              bool isolated, write_batcher_outcome& out,
              const std::function<void(pqxx::transaction_base&)>& prologue) {
  pqxx::work tx{conn};
  if (prologue) prologue(tx);
  for (std::size_t i : order) {
    if (out.errors[i]) continue;
    const std::string* lock = locked.empty() ? nullptr : &locked[i];
    if (isolated) {
      run_in_savepoint(tx, batch[i], lock, i, out);
      continue;
    }
    try {
      out.results[i] = run_one(tx, batch[i], lock);
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
bool run_bulk(connection& conn, const std::deque<write_batcher::create_request>& batch,
              write_batcher_outcome& out) {
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
        authorize(permissions[i], domain::household_action::write, kViewOnly,
                  kWriteHouseholdNotFound);
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
        return g.table == r.table && same_columns(*g.rows.front().v, r.v);
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

// A batch of one creation without an Idempotency-Key (a lone write:
// households write one at a time): one statement that checks the
// permission and writes, in autocommit. One round trip where run_bulk takes
// four (BEGIN, permission, write, COMMIT); durable as soon as the statement
// returns, as a commit is. The admission check (memory only) runs first;
// only a refusal costs a second statement, which tells a non-member (404)
// from a viewer (403) before an admission refusal is told, as run_bulk does.
void run_lone(connection& conn, const write_batcher::create_request& r,
              write_batcher_outcome& out) {
  pqxx::nontransaction tx{conn};
  try {
    std::exception_ptr not_admitted;
    if (r.admit) {
      try {
        r.admit(r.household_id);
      } catch (...) {
        not_admitted = std::current_exception();
      }
    }
    if (!not_admitted) {
      auto w = create_row_if_permitted(tx, *r.table, r.account_id, creation{&r.household_id, &r.v});
      if (w) {
        out.results[0] = std::move(*w);
        return;
      }
    }
    authorize(permissions_of(tx, {{r.account_id, r.household_id}}).front(),
              domain::household_action::write, kViewOnly, kWriteHouseholdNotFound);
    if (not_admitted) std::rethrow_exception(not_admitted);
    // Refused, yet owner or edit now: the membership changed during the write.
    throw domain_error(errc::busy, "household membership changed during the write, try again");
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (...) {
    out.errors[0] = std::current_exception();
  }
}

// The common path for changes: after the prologue (households looked up,
// refusals, their locks), the rows' locks in id order (one statement per
// table), then one statement per table and set of columns for the updates
// and one per table for the deletes (storage/tables.hpp, change_rows_in).
// A keyed change, a move, and a second change of a row already in the
// batch run their own statements after those, in order, each in a
// savepoint. A row gone, moved or locked against changes fails alone. False when a statement failed
// (the transaction rolled back): the batch runs again with savepoints.
bool run_bulk_changes(connection& conn, const std::deque<change_request>& batch,
                      const std::vector<std::size_t>& order, const std::vector<std::string>& locked,
                      write_batcher_outcome& out,
                      const std::function<void(pqxx::transaction_base&)>& prologue) {
  pqxx::work tx{conn};
  try {
    prologue(tx);
    std::vector<std::size_t> bulk, each;
    std::set<std::pair<const table_spec*, std::string_view>> seen;
    for (std::size_t i : order) {
      if (out.errors[i]) continue;
      const auto& r = batch[i];
      const bool plain = !r.idem && !(r.household && *r.household != locked[i]);
      const bool first = seen.emplace(r.table, r.row_id).second;
      (plain && first ? bulk : each).push_back(i);
    }
    std::map<const table_spec*, std::vector<std::string_view>> ids;
    for (std::size_t i : bulk) ids[batch[i].table].push_back(batch[i].row_id);
    std::map<const table_spec*, std::map<std::string, row_lock>> rows;
    for (const auto& [t, list] : ids) rows[t] = lock_rows(tx, *t, list);
    struct group {
      const table_spec* table;
      const values* v;  // the first member's (null: deletes)
      std::vector<std::size_t> members;
      std::vector<change> changes;
    };
    std::vector<group> groups;
    for (std::size_t i : bulk) {
      const auto& r = batch[i];
      const auto& found = rows[r.table];
      auto it = found.find(r.row_id);
      try {
        if (it == found.end())
          throw domain_error(errc::not_found, r.table->data_type + " not found");
        if (it->second.household_id != locked[i])
          throw domain_error(errc::busy,
                             r.table->data_type + " moved to another household meanwhile");
        if (it->second.locked) throw domain_error(errc::conflict, r.table->locked_message);
        if (r.admit) r.admit(locked[i]);
      } catch (...) {
        out.errors[i] = std::current_exception();
        continue;
      }
      const values* v = r.v ? &*r.v : nullptr;
      auto same = [&](const group& g) {
        if (g.table != r.table || (g.v == nullptr) != (v == nullptr)) return false;
        return !v || same_columns(*g.v, *v);
      };
      auto g = std::find_if(groups.begin(), groups.end(), same);
      if (g == groups.end()) g = groups.insert(groups.end(), group{r.table, v, {}, {}});
      g->members.push_back(i);
      g->changes.push_back(change{&r.row_id, v});
    }
    for (auto& g : groups) {
      auto results = change_rows_in(tx, *g.table, g.changes);
      for (std::size_t k = 0; k < g.members.size(); ++k)
        out.results[g.members[k]] = std::move(results[k]);
    }
    // The others one by one, each in a savepoint (they are few: a failure
    // fails only its own).
    for (std::size_t i : each) run_in_savepoint(tx, batch[i], &locked[i], i, out);
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (...) {
    return false;  // tx rolls back; the batch runs again with savepoints
  }
  tx.commit();
  return true;
}

}  // namespace

write_batcher::write_batcher(pool& db, event_sink publish, std::size_t lanes, std::size_t max_batch)
    : db_(db), publish_(std::move(publish)), max_batch_(std::max<std::size_t>(max_batch, 1)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(lanes, 1); ++i) {
    create_lanes_.push_back(std::make_unique<lane<create_request>>());
    change_lanes_.push_back(std::make_unique<lane<change_request>>());
  }
}

void write_batcher::submit(create_request r) {
  auto& l = *create_lanes_[std::hash<std::string>{}(r.household_id) % create_lanes_.size()];
  enqueue(l, std::move(r));
}

void write_batcher::submit(change_request r) {
  auto& l = *change_lanes_[std::hash<std::string>{}(r.row_id) % change_lanes_.size()];
  enqueue(l, std::move(r));
}

template <typename Request>
void write_batcher::enqueue(lane<Request>& l, Request r) {
  if (r.trace.valid()) r.queued_ns = trace::now_ns();
  {
    std::lock_guard lock(l.mutex);
    l.queue.push_back(std::move(r));
    if (l.draining) return;  // the drain under way takes it in its next batch
    l.draining = true;
  }
  schedule(l);
}

// Queues lane l's drain job (l.draining is set). One job runs one batch and
// queues the next job if writes are waiting, so under load a lane holds a
// pool thread only batch by batch, and other jobs queued meanwhile (reads,
// sessions, the engine's) run in between.
template <typename Request>
void write_batcher::schedule(lane<Request>& l) {
  bool queued = false;
  {
    trace::scope none(trace::context{});  // the drain serves many requests: no one's child
    queued = db_.submit([this, &l](connection& conn) { drain(l, conn); });
  }
  if (queued) return;
  // Refused (stopping or full): everything queued in the lane fails, as a refused job.
  std::deque<Request> refused;
  {
    std::lock_guard lock(l.mutex);
    refused.swap(l.queue);
    l.draining = false;
  }
  auto why = std::make_exception_ptr(pool_refused());
  for (auto& q : refused) q.done(nullptr, why);
}

template <typename Request>
void write_batcher::drain(lane<Request>& l, connection& conn) {
  std::deque<Request> batch;
  {
    std::lock_guard lock(l.mutex);
    const auto n = std::min(l.queue.size(), max_batch_);
    batch.insert(batch.end(), std::make_move_iterator(l.queue.begin()),
                 std::make_move_iterator(l.queue.begin() + static_cast<std::ptrdiff_t>(n)));
    l.queue.erase(l.queue.begin(), l.queue.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (!batch.empty()) run_batch(conn, batch);
  {
    std::lock_guard lock(l.mutex);
    if (l.queue.empty()) {
      l.draining = false;
      return;
    }
  }
  schedule(l);
}

void write_batcher::run_batch(connection& conn, std::deque<create_request>& batch) {
  std::stable_sort(batch.begin(), batch.end(),
                   [](const create_request& a, const create_request& b) {
                     return a.household_id < b.household_id;
                   });
  outcome out(batch.size());
  const std::int64_t batch_start = trace::enabled() ? trace::now_ns() : 0;
  // A keyed creation claims its Idempotency-Key in its own statements, and
  // one with a client's id looks for its row first: such a batch runs one
  // creation at a time (still one transaction, one commit).
  const bool keyed = std::any_of(batch.begin(), batch.end(), [](const create_request& r) {
    return r.idem.has_value() || r.client_id.has_value();
  });
  std::vector<std::size_t> order(batch.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  try {
    if (batch.size() == 1 && !keyed) {
      run_lone(conn, batch.front(), out);
    } else if (keyed ? !run_each(conn, batch, order, {}, false, out, nullptr)
                     : !run_bulk(conn, batch, out)) {
      ++isolated_;
      out = outcome(batch.size());
      run_each(conn, batch, order, {}, true, out, nullptr);
    }
  } catch (...) {  // the connection broke or the commit failed: in doubt, all fail
    auto why = std::current_exception();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      out.results[i].reset();
      if (!out.errors[i]) out.errors[i] = why;
    }
  }
  creations_ += batch.size();
  answer(batch, out, batch_start);
}

void write_batcher::run_batch(connection& conn, std::deque<change_request>& batch) {
  outcome out(batch.size());
  const std::int64_t batch_start = trace::enabled() ? trace::now_ns() : 0;
  // Each change's household, looked up before the transaction's locks (a
  // row not found fails alone), then the order the changes run in: by
  // household, in arrival order within one.
  std::vector<std::string> locked(batch.size());
  std::vector<std::size_t> order;
  // Looks the households up and locks them with every move's target, in id
  // order: the start of each attempt's transaction.
  auto prologue = [&](pqxx::transaction_base& tx) {
    std::map<const table_spec*, std::vector<std::string_view>> ids;
    for (const auto& r : batch) ids[r.table].push_back(r.row_id);
    std::map<const table_spec*, std::map<std::string, std::string>> found;
    for (const auto& [t, list] : ids) found[t] = households_of(tx, *t, list);
    // Refusals before any lock (as update_row_in would refuse them, but
    // without failing the batch's transaction): a row not found, a caller
    // not a member (not_found) or view-only (forbidden) in the row's
    // household or a move's target.
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
    std::vector<std::size_t> asked;
    std::vector<std::string_view> households;
    order.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& r = batch[i];
      const auto& of = found[r.table];
      auto it = of.find(r.row_id);
      if (r.idem) {
        // A keyed change claims its key before any check (a retry of a
        // delete finds no row but must get its first answer): its own
        // statements refuse it, and a row not found locks nothing.
        locked[i] = it == of.end() ? std::string() : it->second;
        if (!locked[i].empty()) {
          households.push_back(locked[i]);
          if (r.household) households.push_back(*r.household);
        }
        order.push_back(i);
        continue;
      }
      if (it == of.end()) {
        out.errors[i] = std::make_exception_ptr(
            domain_error(errc::not_found, r.table->data_type + " not found"));
        continue;
      }
      locked[i] = it->second;
      pairs.emplace_back(r.account_id, locked[i]);
      if (r.household && *r.household != locked[i]) pairs.emplace_back(r.account_id, *r.household);
      asked.push_back(i);
    }
    const auto permissions = permissions_of(tx, pairs);
    std::size_t p = 0;
    for (std::size_t i : asked) {
      const auto& r = batch[i];
      const bool move = r.household && *r.household != locked[i];
      const auto& mine = permissions[p++];
      const std::optional<domain::permission>* target = move ? &permissions[p++] : nullptr;
      // In update_row's order: the row's household, then the target.
      try {
        authorize(mine, domain::household_action::write, kViewOnly,
                  r.table->data_type + " not found");
        if (target)
          authorize(*target, domain::household_action::write, kViewOnly, kWriteHouseholdNotFound);
      } catch (...) {
        out.errors[i] = std::current_exception();
        continue;
      }
      households.push_back(locked[i]);
      if (move) households.push_back(*r.household);
      order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return locked[a] < locked[b]; });
    std::sort(households.begin(), households.end());
    households.erase(std::unique(households.begin(), households.end()), households.end());
    if (!households.empty()) lock_households(tx, households);
  };
  try {
    if (!run_bulk_changes(conn, batch, order, locked, out, prologue)) {
      ++isolated_;
      out = outcome(batch.size());
      run_each(conn, batch, order, locked, true, out, prologue);
    }
  } catch (...) {  // the connection broke, a lookup or the commit failed: in doubt, all fail
    auto why = std::current_exception();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      out.results[i].reset();
      if (!out.errors[i]) out.errors[i] = why;
    }
  }
  changes_ += batch.size();
  answer(batch, out, batch_start);
}

// Hands every result to its caller, each household's in seq order (the
// callers publish the events as they hear of them: with several tables or
// column sets in one household, or changes, batch order and seq order can
// differ), each inside its own trace spans.
template <typename Request>
void write_batcher::answer(std::deque<Request>& batch, outcome& out, std::int64_t batch_start) {
  ++batches_;
  const std::int64_t batch_end = batch_start ? trace::now_ns() : 0;
  std::vector<std::size_t> order(batch.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key = [&](std::size_t i) {
    const auto& w = out.results[i];
    if (!w || w->replay) return std::pair<std::string_view, std::int64_t>{{}, 0};
    // A move's answer publishes the previous household's delete first.
    const auto& e = w->moved_from ? *w->moved_from : w->event;
    return std::pair<std::string_view, std::int64_t>{e.household_id, e.seq};
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  for (std::size_t i : order) {
    trace::span job;
    if (batch_start && batch[i].trace.valid()) {
      job = trace::span("pool.job", trace::kind::internal, batch[i].trace, batch[i].queued_ns);
      job.set("hearth.group_commit", true);
      trace::span commit("db.commit", trace::kind::internal, job.ctx(), batch_start);
      commit.set("hearth.batch_size", static_cast<std::int64_t>(batch.size()));
      if (!out.results[i]) commit.set_error("write failed");
      commit.end(batch_end);
    }
    trace::scope in(job.ctx());
    try {
      // Published before the caller hears of it (its answer may reach the
      // client first otherwise): a move's previous household's delete
      // first, so a client in both sees the row leave, then arrive. A
      // replay published nothing new.
      if (auto& w = out.results[i]; w && !w->replay && publish_) {
        if (w->moved_from) publish_(*w->moved_from);
        publish_(w->event);
      }
      batch[i].done(out.results[i] ? &*out.results[i] : nullptr, out.errors[i]);
    } catch (...) {
      // A caller's callback must not take the batch's other answers down.
    }
  }
}

}  // namespace hearth::storage
