#pragma once
// read replicas: each I/O thread's own copy of the read cache (actors/
// cache.hpp), so that a cached list read, and the session check of every
// authenticated request, is answered on the I/O thread that parsed the
// request: no hop to the cache actor and back, no lock.
//
// The cache actor stays the only writer: whenever it stores or evicts an
// entry it posts the change to every I/O thread (read_replicas::put_*,
// erase_*); each replica is touched only by its own thread. Entries are
// shared immutable objects (a household_list is shared by the actor and all
// replicas), so a replica costs its maps, not the rows.
//
// Invalidation keeps the cache's contract (a writer reads its own write,
// sign-out revokes at once):
//   - a local write (actor_runtime::publish) posts `invalidate h` to every
//     I/O thread at once, from the pool thread, before the write's response
//     is posted: on every I/O thread it runs before anything that follows
//     the response (an io_context runs handlers in the order they were
//     queued). It erases h's lists and BLOCKS h: the replica takes no list
//     of h until the cache actor has seen the same invalidation (it then
//     posts `settle h`). A read that started before the write may finish in
//     the actor before the actor sees the invalidation; its list is refused
//     while h is blocked, and erased by the actor once it sees it.
//   - sign-out (actor_runtime::revoke_account) does the same for an
//     account's sessions (`revoke a` blocks, `settle_revoke a` unblocks).
//   - invalidations the actor learns itself (peers' writes, links that
//     changed) are posted by the actor, in order with its puts: no block.
// The actor's LRU order does not see replica hits: an entry read only
// through replicas ages as if unread (it is read again after eviction).

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/system.hpp"
#include "storage/accounts.hpp"
#include "storage/tables.hpp"

namespace hearth::actors {

using list_ptr = std::shared_ptr<const storage::household_list>;

/// A session as cached: its grant and when it was read (steady clock).
struct cached_grant {
  storage::principal_grant grant;
  std::chrono::steady_clock::time_point loaded;
};

/// A cached session is read again at least this often even without a
/// revoke: a safety net for revokes lost with a peer link (links that drop
/// also flush).
inline constexpr std::chrono::minutes kGrantMaxAge{5};

/// The cache key of (household, table): "<household>/<sql_name>".
std::string list_key(const std::string& household, const storage::table_spec& t);

/// True when `g` may still be used now (not expired, not read too long ago).
bool grant_usable(const cached_grant& g);

/// One I/O thread's replica. Not thread-safe: used only on its thread.
class read_replica {
 public:
  /// The answer for `q` from this replica alone, or nullopt when anything it
  /// needs is missing (the caller then asks the cache actor).
  std::optional<list_result> try_answer(const list_query& q) const;

  void put_grant(const std::string& key, const cached_grant& g);
  void put_list(const std::string& household, const std::string& key, list_ptr list);
  void erase_grant(const std::string& key);
  void erase_list(const std::string& key);
  /// Erases `household`'s lists; `block`: refuse its lists until settle().
  void invalidate(const std::string& household, bool block);
  void settle(const std::string& household);
  /// Erases `account`'s sessions; `block`: refuse them until settle_revoke().
  void revoke(const std::string& account, bool block);
  void settle_revoke(const std::string& account);
  void flush();

  std::size_t grants() const { return grants_.size(); }
  std::size_t lists() const { return lists_.size(); }

 private:
  std::unordered_map<std::string, cached_grant> grants_;  // session key → grant
  std::unordered_map<std::string, list_ptr> lists_;       // list_key → rows
  std::unordered_map<std::string, int> blocked_;          // household → invalidations unsettled
  std::unordered_map<std::string, int> revoking_;         // account → revokes unsettled
};

/// The replicas of one node, one per I/O thread. Thread-safe: every call
/// posts to each I/O thread.
class read_replicas {
 public:
  /// One replica per io_context (each run by exactly one thread, which
  /// must have called http::set_io_thread with its index).
  explicit read_replicas(std::vector<boost::asio::io_context*> threads);

  /// The calling I/O thread's replica; null on any other thread.
  const read_replica* local() const;

  void put_grant(const std::string& key, const cached_grant& g);
  void put_list(const std::string& household, const std::string& key, list_ptr list);
  void erase_grant(const std::string& key);
  void erase_list(const std::string& key);
  void invalidate(const std::string& household, bool block);
  void settle(const std::string& household);
  void revoke(const std::string& account, bool block);
  void settle_revoke(const std::string& account);
  void flush();

 private:
  template <class F>
  void post_all(F f);

  std::vector<boost::asio::io_context*> threads_;
  std::vector<std::unique_ptr<read_replica>> replicas_;
};

}  // namespace hearth::actors
