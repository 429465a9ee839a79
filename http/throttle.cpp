#include "http/throttle.hpp"

#include <algorithm>

namespace hearth::http {

failure_throttle::failure_throttle(throttle_options options) : options_(options) {
  options_.base_wait_ms = std::max<std::int64_t>(options_.base_wait_ms, 1);
  options_.max_wait_ms = std::max(options_.max_wait_ms, options_.base_wait_ms);
  options_.max_entries = std::max<std::size_t>(options_.max_entries, 1);
}

bool failure_throttle::expired(const entry& e, clock::time_point now) const {
  return now >= std::max(e.last, e.until) + std::chrono::milliseconds(options_.window_ms);
}

void failure_throttle::strike(entry& e, clock::time_point now) {
  ++e.failures;
  e.last = now;
  if (e.failures < options_.limit) return;
  // base · 2^(failures − limit − 1), the exponent clamped at 0 and the
  // product at max_wait_ms (without overflowing on the way).
  auto doublings = std::max<std::int64_t>(e.failures - options_.limit - 1, 0);
  std::int64_t wait = options_.base_wait_ms;
  for (std::int64_t i = 0; i < doublings && wait < options_.max_wait_ms; ++i) wait *= 2;
  wait = std::min(wait, options_.max_wait_ms);
  e.until = now + std::chrono::milliseconds(wait);
}

void failure_throttle::touch(std::unordered_map<std::string, entry>::iterator it) {
  order_.splice(order_.end(), order_, it->second.order);
}

void failure_throttle::prune(clock::time_point now) {
  // The order is by last failure; a key's expiry may lie a wait beyond it,
  // so this stops at the first key still in force (it is bounded anyway).
  while (!order_.empty()) {
    auto it = entries_.find(order_.front());
    if (!expired(it->second, now) && entries_.size() < options_.max_entries) break;
    entries_.erase(it);
    order_.pop_front();
  }
}

std::int64_t failure_throttle::admit(const std::string& key, clock::time_point now) {
  if (options_.limit <= 0) return 0;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  auto& e = it->second;
  if (expired(e, now)) {
    order_.erase(e.order);
    entries_.erase(it);
    return 0;
  }
  if (now >= e.until) return 0;
  strike(e, now);
  touch(it);
  auto left = std::chrono::ceil<std::chrono::milliseconds>(e.until - now).count();
  return std::max<std::int64_t>(left, 1);
}

void failure_throttle::fail(const std::string& key, clock::time_point now) {
  if (options_.limit <= 0) return;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it != entries_.end() && expired(it->second, now)) {
    it->second.failures = 0;
    it->second.until = {};
  }
  if (it == entries_.end()) {
    prune(now);
    order_.push_back(key);
    it = entries_.emplace(key, entry{}).first;
    it->second.order = std::prev(order_.end());
  } else {
    touch(it);
  }
  strike(it->second, now);
}

void failure_throttle::reset(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  order_.erase(it->second.order);
  entries_.erase(it);
}

std::size_t failure_throttle::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace hearth::http
