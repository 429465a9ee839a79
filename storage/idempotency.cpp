#include "storage/idempotency.hpp"

#include <sodium.h>

#include <string>

#include "storage/errors.hpp"

namespace hearth::storage {
namespace {

// A new key, or an expired one taken over. The conflicting row of a live
// key is left alone (and locked until the end of the transaction: ON
// CONFLICT DO UPDATE locks it even when its WHERE is false); an insert that
// conflicts with another transaction's uncommitted claim waits for it.
constexpr const char* kClaim =
    "INSERT INTO idempotency_key AS k (auth_account_id, key, fingerprint, status, data_type, "
    "data_value) VALUES ($1, $2, $3, 0, '', '') "
    "ON CONFLICT (auth_account_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
    "status = 0, data_type = '', data_value = '', created = now() "
    "WHERE k.created < now() - make_interval(hours => $4) "
    "RETURNING 1";
constexpr const char* kSelect =
    "SELECT fingerprint = $3, status, data_type, data_value FROM idempotency_key "
    "WHERE auth_account_id = $1 AND key = $2";
constexpr const char* kRecord =
    "UPDATE idempotency_key SET status = $3, data_type = $4, data_value = $5 "
    "WHERE auth_account_id = $1 AND key = $2";
constexpr const char* kPurge =
    "DELETE FROM idempotency_key WHERE created < now() - make_interval(hours => $1)";

}  // namespace

std::string request_fingerprint(std::string_view method, std::string_view path,
                                std::string_view body) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  auto add = [&state](std::string_view part) {
    // Length-prefixed: ("ab","c") and ("a","bc") hash differently.
    const std::string length = std::to_string(part.size()) + ":";
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(length.data()),
                              length.size());
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size());
  };
  add(method);
  add(path);
  add(body);
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256_final(&state, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::optional<stored_response> claim_idempotency_key(pqxx::transaction_base& tx,
                                                     const idempotency& k) {
  pqxx::binarystring fingerprint(k.fingerprint);
  const int hours = static_cast<int>(kIdempotencyKeyLifetime.count());
  if (!tx.exec_params(kClaim, k.account_id, k.key, fingerprint, hours).empty()) return std::nullopt;
  auto r = tx.exec_params1(kSelect, k.account_id, k.key, fingerprint);
  if (!r[0].as<bool>())
    throw domain_error(errc::unprocessable,
                       "Idempotency-Key: already used for a different request (another method, "
                       "path or body); use a new key for a new request");
  stored_response out;
  out.status = r[1].as<unsigned>();
  if (out.status == 0)
    throw domain_error(errc::conflict,
                       "Idempotency-Key: a request with this key is still in progress");
  out.data_type = r[2].as<std::string>();
  out.data_value = r[3].as<std::string>();
  return out;
}

void record_idempotent_response(pqxx::transaction_base& tx, const idempotency& k,
                                const stored_response& r) {
  tx.exec_params0(kRecord, k.account_id, k.key, static_cast<int>(r.status), r.data_type,
                  r.data_value);
}

std::int64_t purge_idempotency_keys(pqxx::connection_base& conn) {
  pqxx::work tx{conn};
  auto r = tx.exec_params0(kPurge, static_cast<int>(kIdempotencyKeyLifetime.count()));
  tx.commit();
  return static_cast<std::int64_t>(r.affected_rows());
}

}  // namespace hearth::storage
