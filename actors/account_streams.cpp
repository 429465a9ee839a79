#include "actors/account_streams.hpp"

#include <algorithm>
#include <memory>

#include "http/sse.hpp"

namespace hearth::actors {

account_streams::account_streams(http::fanout_hub& hub) : hub_(hub) {}

void account_streams::add(const std::string& account, http::stream_ref ref) {
  std::lock_guard lock(mutex_);
  by_account_[account].push_back(ref);
}

void account_streams::remove(const std::string& account, http::stream_ref ref) {
  std::lock_guard lock(mutex_);
  auto it = by_account_.find(account);
  if (it == by_account_.end()) return;
  auto& refs = it->second;
  refs.erase(std::remove_if(
                 refs.begin(), refs.end(),
                 [&](const http::stream_ref& r) { return r.shard == ref.shard && r.id == ref.id; }),
             refs.end());
  if (refs.empty()) by_account_.erase(it);
}

std::string_view account_streams::reconnect_frame() {
  static const std::string frame = http::sse::event_body("reconnect", R"({"reason":"account"})");
  return frame;
}

std::size_t account_streams::end(const std::string& account) {
  std::vector<http::stream_ref> refs;
  {
    std::lock_guard lock(mutex_);
    auto it = by_account_.find(account);
    if (it == by_account_.end()) return 0;
    refs = it->second;  // removed by each stream's own end
  }
  static const auto frame = std::make_shared<const std::string>(reconnect_frame());
  for (const auto& ref : refs) {
    hub_.send(ref, frame);
    hub_.close(ref);
  }
  return refs.size();
}

}  // namespace hearth::actors
