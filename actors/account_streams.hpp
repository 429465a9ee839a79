#pragma once
// account_streams: which SSE streams of this node belong to which account,
// so that a change to the account's households or sessions (a household
// created, joined, left or deleted, a role changed, a sign-out) ends them.
// The client reconnects (EventSource does so by itself, with Last-Event-ID)
// and its new stream carries the account's current households: a removed
// household's events stop, a joined one's start at its current head. The
// SSE contract is in docs/api.md ("The reconnect event").
//
// Thread-safe (one mutex; streams open and close on the I/O threads, ends
// come from pool threads and the notifier).

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/fanout.hpp"

namespace hearth::actors {

class account_streams {
 public:
  /// `hub` must outlive this.
  explicit account_streams(http::fanout_hub& hub);

  /// How many times `account`'s streams were ended so far. A stream reads it
  /// before it reads the account's households, and passes it to add().
  std::uint64_t revocations(const std::string& account);
  /// Stream `ref` belongs to `account` until remove(). False (and not
  /// registered) when the account was revoked since `seen` was read: the
  /// stream's households may be stale, so the caller ends it at once.
  bool add(const std::string& account, http::stream_ref ref, std::uint64_t seen);
  void remove(const std::string& account, http::stream_ref ref);

  /// Every stream of `account` on this node gets the `reconnect` event
  /// (`event: reconnect`, `data: {"reason":"account"}`) and ends after what
  /// it has queued. Returns how many streams it ended.
  std::size_t end(const std::string& account);

  /// Sends stream `ref` the `reconnect` event and ends it.
  void end(http::stream_ref ref);

  /// The `reconnect` event's bytes.
  static std::string_view reconnect_frame();

 private:
  http::fanout_hub& hub_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<http::stream_ref>> by_account_;
  std::unordered_map<std::string, std::uint64_t> revoked_;  // account → end() calls
};

}  // namespace hearth::actors
