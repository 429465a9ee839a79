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

  /// Stream `ref` belongs to `account` until remove().
  void add(const std::string& account, http::stream_ref ref);
  void remove(const std::string& account, http::stream_ref ref);

  /// Every stream of `account` on this node gets the `reconnect` event
  /// (`event: reconnect`, `data: {"reason":"account"}`) and ends after what
  /// it has queued. Returns how many streams it ended.
  std::size_t end(const std::string& account);

  /// The `reconnect` event's bytes.
  static std::string_view reconnect_frame();

 private:
  http::fanout_hub& hub_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<http::stream_ref>> by_account_;
};

}  // namespace hearth::actors
