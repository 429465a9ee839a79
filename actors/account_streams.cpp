#include "actors/account_streams.hpp"

#include <algorithm>
#include <memory>

#include "http/sse.hpp"

namespace hearth::actors {

account_streams::account_streams(http::fanout_hub& hub) : hub_(hub) {}

std::uint64_t account_streams::revocations(const std::string& account) {
  std::lock_guard lock(mutex_);
  auto it = revoked_.find(account);
  return it == revoked_.end() ? 0 : it->second;
}

bool account_streams::add(const std::string& account, http::stream_ref ref, std::uint64_t seen) {
  std::lock_guard lock(mutex_);
  if (auto it = revoked_.find(account); it != revoked_.end() && it->second != seen) return false;
  by_account_[account].push_back(ref);
  return true;
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
    ++revoked_[account];  // a stream still opening with older households is ended in add()
    auto it = by_account_.find(account);
    if (it == by_account_.end()) return 0;
    refs = it->second;  // removed by each stream's own end
  }
  for (const auto& ref : refs) end(ref);
  return refs.size();
}

void account_streams::end(http::stream_ref ref) {
  static const auto frame = std::make_shared<const std::string>(reconnect_frame());
  hub_.send(ref, frame);
  hub_.close(ref);
}

}  // namespace hearth::actors
