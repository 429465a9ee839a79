#pragma once
// Concurrent holders per key: at most `limit` connections of one client
// address, SSE streams of one account or one address (README.md,
// "Security"). A holder gets a slot that frees itself when its last copy
// is destroyed, so a slot kept in a stream's close callback lasts exactly
// as long as the stream. In memory, per node, thread-safe (one small mutex,
// O(1) per call, no I/O under it); a key is forgotten when it holds
// nothing, so memory follows the holders.
//
//   keyed_quota per_account(64);
//   auto slot = per_account.acquire(account_id);
//   if (!slot) return too_many();   // 429 with Retry-After
//   keep(slot);                     // freed with the last copy

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hearth::http {

class keyed_quota {
 public:
  /// A held place; null when refused.
  using slot = std::shared_ptr<void>;

  /// At most `limit` slots per key at once; 0 = no limit (slots are still
  /// counted).
  explicit keyed_quota(std::size_t limit);

  /// A slot of `key`, or null when `key` holds `limit` slots already (the
  /// refusal is counted).
  slot acquire(const std::string& key);
  /// Slots `key` holds now.
  std::size_t held(const std::string& key) const;
  /// Refusals since start.
  std::uint64_t refused() const { return state_->refused.load(std::memory_order_relaxed); }
  std::size_t limit() const { return state_->limit; }

 private:
  struct state {
    std::size_t limit = 0;
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::size_t> held;
    std::atomic<std::uint64_t> refused{0};
  };
  struct releaser;
  std::shared_ptr<state> state_;  // slots keep it alive
};

}  // namespace hearth::http
