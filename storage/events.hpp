#pragma once
// The change_event outbox. Every write to a household table records its
// change inside its own transaction: the next sequence number of the
// household (locking its row, so sequence order is commit order within a
// household) and the outbox row. Once committed, the write path publishes
// the events itself: the group commit (storage/group_commit.hpp) and, for
// every other transaction, change_transaction below, each hand them to the
// node's event_sink (app/serve.cpp: the notifier actor). No caller
// publishes by hand. The outbox is the source of truth for SSE replay
// (Last-Event-ID) and for gap backfill, and the notifier's periodic sweep
// re-reads it as a safety net.

#include <cstdint>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trace/trace.hpp"

namespace hearth::storage {

/// One committed change of one row. `seq` counts from 1 per household;
/// `updated` is RFC 3339 UTC.
struct change_event {
  std::string household_id;
  std::int64_t seq = 0;
  std::string table;  // "shop_item", "plan_task", ...
  std::string row_id;
  std::string operation;  // "create" | "update" | "delete"
  std::string updated;
  /// The span that handed the event on (trace/trace.hpp): the writer's pool
  /// job, then at each hop (notifier, forward to a peer, household session)
  /// that hop's span, so the next hop is its child. Not stored in the
  /// outbox: events read back (replay, backfill) have none.
  trace::context trace = {};
};

/// A hop's span of `e`: a child of `e.trace` named `name`, with
/// hearth.household_id and hearth.seq set; an empty span (nothing recorded)
/// when `e` carries no trace. The caller adds its own attributes and, to
/// make the next hop its child, sets `e.trace = span.ctx()`.
trace::span change_span(std::string_view name, trace::kind k, const change_event& e);

/// Where committed change events go: app/serve.cpp gives the node's
/// notifier (actors::actor_runtime::publish). Called on the committing
/// thread, after the commit, in the order the events were recorded; must
/// not block. An empty sink publishes nothing (the notifier's sweep still
/// finds the events in the outbox, seconds later).
using event_sink = std::function<void(const change_event&)>;

/// Appends the outbox row for a change inside `tx` and returns it. Not
/// published: for the group commit's statements (storage/tables.hpp), whose
/// batcher publishes; any other writer uses change_transaction.
change_event record_change(pqxx::transaction_base& tx, const std::string& household_id,
                           const std::string& table, const std::string& row_id,
                           const std::string& operation, const std::string& updated);

/// A read-committed transaction whose change events publish themselves:
/// record() appends each to the outbox inside it, commit() commits and then
/// hands every recorded event to the sink, in order. Without commit() (an
/// exception, say) the transaction rolls back and nothing is published.
/// Throws what pqxx throws; a failed commit publishes nothing.
class change_transaction {
 public:
  change_transaction(pqxx::connection_base& conn, event_sink publish)
      : tx_(conn), publish_(std::move(publish)) {}
  change_transaction(const change_transaction&) = delete;
  change_transaction& operator=(const change_transaction&) = delete;

  /// The transaction, for the writer's own statements.
  pqxx::work& tx() { return tx_; }
  pqxx::work* operator->() { return &tx_; }

  /// record_change() inside the transaction; the event is published at commit.
  const change_event& record(const std::string& household_id, const std::string& table,
                             const std::string& row_id, const std::string& operation,
                             const std::string& updated);

  /// Commits, then publishes the recorded events.
  void commit();

  /// The events recorded so far (published once committed).
  const std::vector<change_event>& events() const { return events_; }

 private:
  pqxx::work tx_;
  event_sink publish_;
  std::vector<change_event> events_;
};

/// Events of `household_id` with after_seq < seq <= up_to_seq, in order,
/// at most `limit` of them.
std::vector<change_event> load_events(pqxx::connection_base& conn, const std::string& household_id,
                                      std::int64_t after_seq, std::int64_t up_to_seq,
                                      std::int64_t limit);

/// The household's last sequence number (0 when it has no events).
std::int64_t head_seq(pqxx::connection_base& conn, const std::string& household_id);

/// The last sequence numbers of several households (ids must be UUIDs);
/// households that no longer exist are left out.
std::vector<std::pair<std::string, std::int64_t>> head_seqs(pqxx::connection_base& conn,
                                                            const std::vector<std::string>& ids);

}  // namespace hearth::storage
