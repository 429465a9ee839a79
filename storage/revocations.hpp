#pragma once
// Durable revocations (migrations/011_account_revocation.up.sql). A change
// that shrinks an account's grants records the account in its own
// transaction (record_revocation). Linked peers learn of it at once through
// the cluster; a node that was not linked reads it here
// (read_revocations) at its next sweep or link change and ends the
// account's streams and cached grants then (actors/notifier.cpp), so a
// revocation is never lost with a cluster link. Functions run on a pool
// thread and throw what libpqxx throws.

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace hearth::storage {

/// How far before the previous read a read looks back, in seconds: a
/// revocation is stamped when its row is inserted and becomes visible at
/// commit, so a transaction that commits up to this long after its insert
/// is still read.
inline constexpr int kRevocationLookbackSeconds = 30;

/// At most this many revocations are returned by one read (the newest are
/// dropped and `truncated` says so).
inline constexpr std::int64_t kRevocationReadLimit = 50'000;

/// Records that `account_id`'s grants shrank, inside `tx` (committed with
/// the change that shrank them); returns the revocation's seq (> 0).
std::int64_t record_revocation(pqxx::transaction_base& tx, const std::string& account_id);

/// The revocations recorded less than kRevocationLookbackSeconds before
/// `since` or later, oldest first, and the database's clock at the read.
struct revocation_window {
  std::string read_at;  // timestamptz text: the next read's `since`
  std::vector<std::int64_t> seqs;
  std::vector<std::string> account_ids;  // parallel to seqs
  bool truncated = false;                // kRevocationReadLimit reached
};

/// Reads the revocations since `since` (a timestamptz text: an earlier
/// read_at, or this node's start time in UTC). Throws what libpqxx throws,
/// including for a malformed `since`.
revocation_window read_revocations(pqxx::connection_base& conn, const std::string& since);

/// Housekeeping: deletes revocations older than a day, inside `tx`;
/// returns how many.
std::int64_t purge_revocations(pqxx::transaction_base& tx);

}  // namespace hearth::storage
