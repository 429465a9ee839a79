#pragma once
// A failure throttle: counts failures per key (an account, a client IP) and,
// once a key has `limit` of them, makes it wait an exponentially growing
// time before its next attempt (README.md, "Security"). In memory, per
// node, bounded in entries, thread-safe (one small mutex, O(1) per call,
// no I/O under it).
//
//   failure_throttle t({.limit = 10, .window_ms = 900'000});
//   if (auto wait = t.admit(key)) return too_many(wait);   // counted as a failure
//   ok ? t.reset(key) : t.fail(key);

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hearth::http {

/// The rules of one throttle. Durations in milliseconds.
struct throttle_options {
  /// Failures of one key before it must wait; 0 = never throttled.
  std::int64_t limit = 10;
  /// A key is forgotten (its count back to 0) after this long without a
  /// failure and without a wait in force.
  std::int64_t window_ms = 900'000;
  /// The wait after the limit-th failure and after the first refused
  /// attempt; each further attempt (refused or failed) doubles it.
  std::int64_t base_wait_ms = 1'000;
  /// The longest wait.
  std::int64_t max_wait_ms = 900'000;
  /// Keys kept at most; beyond it the least recently failed key is
  /// forgotten (memory stays bounded under a spray of keys).
  std::size_t max_entries = 10'000;
};

class failure_throttle {
 public:
  using clock = std::chrono::steady_clock;

  explicit failure_throttle(throttle_options options);

  /// 0 when `key` may attempt now. Otherwise the milliseconds it must wait
  /// (> 0, for `Retry-After`): the refused attempt counts as a failure and
  /// sets the wait to base_wait_ms · 2^(failures − limit − 1), at most
  /// max_wait_ms, from `now`.
  std::int64_t admit(const std::string& key, clock::time_point now = clock::now());

  /// Records a failed attempt of `key`. From the limit-th failure on, the
  /// key must wait (as admit() describes; base_wait_ms after the limit-th).
  void fail(const std::string& key, clock::time_point now = clock::now());

  /// Forgets `key` (a success).
  void reset(const std::string& key);

  /// Keys currently remembered.
  std::size_t size() const;

  const throttle_options& options() const { return options_; }

 private:
  struct entry {
    std::int64_t failures = 0;
    clock::time_point last;   // last failure or refused attempt
    clock::time_point until;  // no attempt before this
    std::list<std::string>::iterator order;
  };
  // Counts one more failure of `e` at `now` and sets its wait.
  void strike(entry& e, clock::time_point now);
  // Moves `it` to the most recent end of the order.
  void touch(std::unordered_map<std::string, entry>::iterator it);
  // Drops keys whose window has passed, oldest first, and beyond max_entries.
  void prune(clock::time_point now);
  bool expired(const entry& e, clock::time_point now) const;

  throttle_options options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  std::list<std::string> order_;  // least recently failed first
};

}  // namespace hearth::http
