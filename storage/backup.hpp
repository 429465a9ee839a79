#pragma once
// What `hearth backup` and `hearth restore` (app/backup_cli.cpp) need from
// the database besides pg_dump and pg_restore: version checks, the empty
// check, and the fix-ups after a restore. A restore takes the database back
// in time while clients and nodes remember later state:
//   - SSE cursors name household seqs the restored database will issue
//     again for other changes. Every household's event_seq moves forward by
//     kRestoreSeqGap (more than the largest sseReplayWindow, 2^24), so any
//     cursor from before the restore is beyond the replay window and gets
//     `resync` (docs/api.md), never a wrong event;
//   - the leader's fencing term moves forward, past any term a node from
//     before the restore can hold, so such a node's claims are refused;
//   - cluster_node rows of the backup's nodes go (they re-register).
// Pub/Sub messages that were pending at the backup are in it and are
// delivered again (at least once); sessions opened after it are gone.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

namespace hearth::storage {

/// The seq gap a restore opens in every household: 2^32.
inline constexpr std::int64_t kRestoreSeqGap = std::int64_t{1} << 32;

/// The server's major version (server_version_num / 10000, e.g. 15).
int server_major(pqxx::connection_base& conn);

/// The major version in a tool's `--version` line ("pg_dump (PostgreSQL)
/// 15.8 (Debian ...)" → 15); 0 when there is none.
int postgres_major_of(const std::string& version_text);

/// Why pg_dump of major `tool` must not dump a server of major `server`
/// (a pg_dump older than the server refuses or writes a dump that misses
/// what it does not know), or nullopt when it may.
std::optional<std::string> dump_refusal(int server, int tool);

/// True when the database has no table, view or sequence in schema public.
bool database_is_empty(pqxx::connection_base& conn);

/// What after_restore changed.
struct restore_fixups {
  std::int64_t households = 0;  // event_seq moved by kRestoreSeqGap
  std::int64_t term = 0;        // the leader term now
};

/// The fix-ups above, in one transaction; throws what libpqxx throws.
restore_fixups after_restore(pqxx::connection_base& conn);

}  // namespace hearth::storage
