#include "actors/read_replica.hpp"

#include <boost/asio/post.hpp>
#include <functional>

#include "http/io_thread.hpp"

namespace hearth::actors {
namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void release(std::unordered_map<std::string, int>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it != counts.end() && --it->second <= 0) counts.erase(it);
}

}  // namespace

namespace {
constexpr std::size_t kStripes = 1 << 16;
}

household_versions::household_versions()
    : stripes_(std::make_unique<std::atomic<std::uint64_t>[]>(kStripes)) {}

std::size_t household_versions::stripe(const std::string& household) const {
  return std::hash<std::string>{}(household) & (kStripes - 1);
}

void household_versions::bump(const std::string& household) {
  stripes_[stripe(household)].fetch_add(1, std::memory_order_seq_cst);
}

std::uint64_t household_versions::current(const std::string& household) const {
  return stripes_[stripe(household)].load(std::memory_order_seq_cst);
}

bool grant_usable(const cached_grant& g) {
  return g.grant.expires_ms > wall_ms() &&
         std::chrono::steady_clock::now() - g.loaded <= kGrantMaxAge;
}

std::string list_key(const std::string& household, const storage::table_spec& t) {
  std::string key;
  key.reserve(household.size() + 1 + t.sql_name.size());
  key += household;
  key += '/';
  key += t.sql_name;
  return key;
}

const storage::principal_grant* read_replica::try_authenticate(const std::string& key) const {
  auto g = grants_.find(key);
  if (g == grants_.end() || !grant_usable(g->second)) return nullptr;
  return &g->second.grant;
}

std::optional<list_result> read_replica::try_answer(const list_query& q) const {
  const auto* grant = try_authenticate(q.session_key);
  if (!grant || !q.table) return std::nullopt;
  auto view = storage::build_list_view(
      *grant, q.household, q.updated_after, [&](const std::string& h) -> list_ptr {
        auto it = lists_.find(list_key(h, *q.table));
        if (it == lists_.end() || it->second.version != versions_.current(h)) return nullptr;
        return it->second.list;
      });
  if (!view) return std::nullopt;
  list_result r;
  r.view = std::move(*view);
  return r;
}

void read_replica::put_grant(const std::string& key, const cached_grant& g) {
  if (revoking_.count(g.grant.account_id)) return;  // may predate a sign-out
  grants_.insert_or_assign(key, g);
}

void read_replica::put_list(const std::string& key, versioned_list list) {
  lists_.insert_or_assign(key, std::move(list));
}

void read_replica::erase_grant(const std::string& key) { grants_.erase(key); }

void read_replica::erase_list(const std::string& key) { lists_.erase(key); }

void read_replica::revoke(const std::string& account, bool block) {
  std::erase_if(grants_, [&](const auto& e) { return e.second.grant.account_id == account; });
  if (block) ++revoking_[account];
}

void read_replica::settle_revoke(const std::string& account) { release(revoking_, account); }

void read_replica::flush() {
  grants_.clear();
  lists_.clear();
}

read_replicas::read_replicas(std::vector<boost::asio::io_context*> threads,
                             const household_versions& versions)
    : threads_(std::move(threads)) {
  for (std::size_t i = 0; i < threads_.size(); ++i)
    replicas_.push_back(std::make_unique<read_replica>(versions));
}

const read_replica* read_replicas::local() const {
  const int i = http::current_io_thread();
  if (i < 0 || static_cast<std::size_t>(i) >= replicas_.size()) return nullptr;
  return replicas_[static_cast<std::size_t>(i)].get();
}

template <class F>
void read_replicas::post_all(F f) {
  for (std::size_t i = 0; i < threads_.size(); ++i)
    boost::asio::post(*threads_[i], [r = replicas_[i].get(), f] { f(*r); });
}

void read_replicas::put_grant(const std::string& key, const cached_grant& g) {
  post_all([key, g](read_replica& r) { r.put_grant(key, g); });
}

void read_replicas::put_list(const std::string& key, versioned_list list) {
  post_all([key, list = std::move(list)](read_replica& r) { r.put_list(key, list); });
}

void read_replicas::erase_grant(const std::string& key) {
  post_all([key](read_replica& r) { r.erase_grant(key); });
}

void read_replicas::erase_list(const std::string& key) {
  post_all([key](read_replica& r) { r.erase_list(key); });
}

void read_replicas::revoke(const std::string& account, bool block) {
  post_all([account, block](read_replica& r) { r.revoke(account, block); });
}

void read_replicas::settle_revoke(const std::string& account) {
  post_all([account](read_replica& r) { r.settle_revoke(account); });
}

void read_replicas::flush() {
  post_all([](read_replica& r) { r.flush(); });
}

}  // namespace hearth::actors
