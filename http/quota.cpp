#include "http/quota.hpp"

#include <utility>

namespace hearth::http {

// Gives its slot back when the last copy of the slot goes.
struct keyed_quota::releaser {
  std::shared_ptr<state> st;
  std::string key;
  releaser(std::shared_ptr<state> s, std::string k) : st(std::move(s)), key(std::move(k)) {}
  releaser(const releaser&) = delete;
  releaser& operator=(const releaser&) = delete;
  ~releaser() {
    std::lock_guard lock(st->mutex);
    auto it = st->held.find(key);
    if (it != st->held.end() && --it->second == 0) st->held.erase(it);
  }
};

keyed_quota::keyed_quota(std::size_t limit) : state_(std::make_shared<state>()) {
  state_->limit = limit;
}

keyed_quota::slot keyed_quota::acquire(const std::string& key) {
  {
    std::lock_guard lock(state_->mutex);
    auto& n = state_->held[key];
    if (state_->limit != 0 && n >= state_->limit) {
      state_->refused.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    ++n;
  }
  return std::make_shared<releaser>(state_, key);
}

std::size_t keyed_quota::held(const std::string& key) const {
  std::lock_guard lock(state_->mutex);
  auto it = state_->held.find(key);
  return it == state_->held.end() ? 0 : it->second;
}

}  // namespace hearth::http
