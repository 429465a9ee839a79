#pragma once
// The change feed by cursor (GET /api/v1/changes, docs/api.md): what
// changed in an account's households since a cursor, read from the
// change_event outbox, with each changed row as it is now. What an offline
// client reads to catch up: its cost follows what changed, not what is
// stored. The cursor is the SSE stream's (http/sse.hpp): per household,
// the last sequence number the client has.

#include <cstdint>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace hearth::storage {

/// One changed row: its last change since the cursor (earlier changes of
/// the same row are folded into it).
struct feed_change {
  std::string household_id, table, row_id;
  std::string operation;  // "create" | "update" | "delete"
  std::int64_t seq = 0;   // of that last change
  /// The row as it is now (JSON object text, as GET returns it) for a
  /// create or update of a household table; nullopt for a delete, and for
  /// rows of other tables (notifications: read them from their own route).
  std::optional<std::string> row_json;
};

/// The changes after `since`, and where the next read starts.
struct change_feed {
  std::vector<feed_change> changes;  // by seq within a household
  /// household id → last seq covered: every household of the account.
  std::map<std::string, std::int64_t> cursor;
  /// Households the client must read whole (GET each table): absent from
  /// the cursor (joined since), or the cursor is beyond their head or older
  /// than the outbox keeps (sseReplayWindow; a restore). Their cursor entry
  /// is their head.
  std::vector<std::string> resync;
  bool more = false;  // `limit` events were read: read again from `cursor`
};

/// Reads the feed of `account_id`'s households after `since` (household id
/// → seq), at most `limit` events, in one repeatable-read snapshot.
change_feed read_changes(pqxx::connection_base& conn, const std::string& account_id,
                         const std::map<std::string, std::int64_t>& since, std::int64_t limit);

}  // namespace hearth::storage
