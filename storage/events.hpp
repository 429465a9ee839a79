#pragma once
// The change_event outbox. Every write to a household table calls
// record_change() inside its own transaction: it takes the next sequence
// number of the household (locking its row, so sequence order is commit order
// within a household) and inserts the outbox row. After commit the returned
// event is handed to the notifier actor. The outbox is the source of truth
// for SSE replay (Last-Event-ID) and for gap backfill.

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
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

/// Appends the outbox row for a change inside `tx` and returns it.
change_event record_change(pqxx::transaction_base& tx, const std::string& household_id,
                           const std::string& table, const std::string& row_id,
                           const std::string& operation, const std::string& updated);

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
