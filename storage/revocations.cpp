#include "storage/revocations.hpp"

namespace hearth::storage {
namespace {

constexpr const char* kInsertRevocation =
    "INSERT INTO account_revocation (account_id) VALUES ($1) RETURNING seq";
// The limit is one more than returned, to tell a full window from a truncated one.
constexpr const char* kSelectRevocations =
    "SELECT seq, account_id::text, now()::text FROM account_revocation "
    "WHERE revoked_at > $1::timestamptz - make_interval(secs => $2) ORDER BY seq LIMIT $3";
constexpr const char* kNow = "SELECT now()::text";
constexpr const char* kPurgeRevocations =
    "DELETE FROM account_revocation WHERE revoked_at < now() - interval '1 day'";

}  // namespace

std::int64_t record_revocation(pqxx::transaction_base& tx, const std::string& account_id) {
  return tx.exec_params1(kInsertRevocation, account_id)[0].as<std::int64_t>();
}

revocation_window read_revocations(pqxx::connection_base& conn, const std::string& since) {
  pqxx::read_transaction tx{conn};
  revocation_window out;
  auto rows = tx.exec_params(kSelectRevocations, since, kRevocationLookbackSeconds,
                             kRevocationReadLimit + 1);
  for (const auto& row : rows) {
    if (static_cast<std::int64_t>(out.seqs.size()) == kRevocationReadLimit) {
      out.truncated = true;
      break;
    }
    out.seqs.push_back(row[0].as<std::int64_t>());
    out.account_ids.push_back(row[1].as<std::string>());
  }
  // now() is the transaction's start: no later than the snapshot read above.
  out.read_at = rows.empty() ? tx.exec1(kNow)[0].as<std::string>() : rows[0][2].as<std::string>();
  return out;
}

std::int64_t purge_revocations(pqxx::transaction_base& tx) {
  return static_cast<std::int64_t>(tx.exec0(kPurgeRevocations).affected_rows());
}

}  // namespace hearth::storage
