#pragma once
// Idempotency keys of writes (the Idempotency-Key request header,
// draft-ietf-httpapi-idempotency-key-header; docs/api.md): the first
// successful response of a keyed write is stored in the same transaction as
// the write (table idempotency_key, migrations/007_idempotency_keys.up.sql),
// so a retry with the same key gets that response back without writing
// again, even when the first response was lost after the commit (a timeout,
// a kill -9 of the node).
//
// In a write's transaction: claim_idempotency_key() first; a stored response
// means "replay, do not write"; otherwise write, then
// record_idempotent_response(), then commit. A failed write rolls the claim
// back with it, so only successes are kept and a failed request may be
// retried with its key. Two requests with one key at once: the second's
// claim waits on the primary key until the first's transaction ends, then
// replays its response (or, if it rolled back, claims the key itself).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>

namespace hearth::storage {

/// How long a key is kept: an older one counts as unused.
inline constexpr std::chrono::hours kIdempotencyKeyLifetime{24};

/// A keyed write: who sent it, the key, what it asked for, and the status
/// of its success (stored with the response).
struct idempotency {
  std::string account_id;   // keys are per account
  std::string key;          // 1–255 visible ASCII characters (checked by the API)
  std::string fingerprint;  // request_fingerprint(): 32 raw bytes
  unsigned success_status = 200;
};

/// The stored first response: status and the envelope's dataType and
/// dataValue (a JSON array text). The envelope is rebuilt around them with
/// the retry's own request id.
struct stored_response {
  unsigned status = 0;
  std::string data_type;
  std::string data_value = "[]";
};

/// SHA-256 (libsodium) of `method`, `path` and `body`, separated so that no
/// two different requests share an input: 32 raw bytes.
std::string request_fingerprint(std::string_view method, std::string_view path,
                                std::string_view body);

/// Claims `k` in `tx`, before the write. nullopt: the key is new (or older
/// than kIdempotencyKeyLifetime): write, then record_idempotent_response().
/// A stored response: the same request succeeded before: answer it, write
/// nothing. Throws domain_error(unprocessable) when the key was used for a
/// different request (another fingerprint), domain_error(conflict) when its
/// first request is still running in this same transaction (cannot happen
/// with the callers of this repository; defensive). Waits while another
/// transaction holds the key.
std::optional<stored_response> claim_idempotency_key(pqxx::transaction_base& tx,
                                                     const idempotency& k);

/// Stores the response of the write that claimed `k`, in its transaction.
void record_idempotent_response(pqxx::transaction_base& tx, const idempotency& k,
                                const stored_response& r);

/// What a keyed write gives back: the value it wrote, or, for a retry of a
/// request that succeeded before, only the stored answer (nothing written).
template <class T>
struct keyed_result {
  std::optional<T> value;
  std::optional<stored_response> replay;
};

/// A keyed write inside `tx`: claims `k`; a replay returns it without
/// calling `write`; else `write()` runs and `answer(value)` is recorded as
/// the key's response. The caller commits. Throws what claim and write throw.
template <class T>
keyed_result<T> keyed_write(pqxx::transaction_base& tx, const idempotency& k,
                            const std::function<T()>& write,
                            const std::function<stored_response(const T&)>& answer) {
  if (auto prior = claim_idempotency_key(tx, k)) return {std::nullopt, std::move(prior)};
  keyed_result<T> out{write(), std::nullopt};
  record_idempotent_response(tx, k, answer(*out.value));
  return out;
}

/// Housekeeping (cron engine.purge-idempotency-keys): deletes keys older
/// than kIdempotencyKeyLifetime; returns how many.
std::int64_t purge_idempotency_keys(pqxx::connection_base& conn);

}  // namespace hearth::storage
