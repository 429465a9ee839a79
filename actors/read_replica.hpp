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
//   - lists are versioned, not invalidated by message: every household has
//     a version (household_versions, striped atomic counters shared by the
//     pool threads, the cache actor and the I/O threads). A write bumps it
//     (actor_runtime::publish, on the pool thread, before the write's
//     response is posted); a peer's write bumps it when the cache actor
//     learns of it. A list carries the version its read started at, and is
//     answered only while that is still the household's version. So a
//     write costs one atomic increment, not a post to every I/O thread and
//     a round through the cache actor; a stale list is refused where it is
//     looked up and replaced by the next read (or expires).
//   - sign-out (actor_runtime::revoke_account) posts `revoke a` to every
//     I/O thread before its response: it erases a's sessions and BLOCKS a
//     (a session read that raced the sign-out is refused) until the cache
//     actor has seen the same revoke (it then posts `settle_revoke a`).
//   - the entries the actor stores, evicts and expires, its flushes and the
//     revokes it learns from peers are posted by the actor, in order.
// The actor's LRU order does not see replica hits: an entry read only
// through replicas ages as if unread (it is read again after eviction).

#include <atomic>
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

/// The version of every household's lists: 65 536 striped atomic counters
/// (512 KiB), a household's stripe chosen by the hash of its id. Two
/// households that share a stripe only cost each other a cache miss.
/// Thread-safe, lock-free.
class household_versions {
 public:
  household_versions();
  /// The household's lists read before now are stale (a write committed).
  void bump(const std::string& household);
  /// The household's current version (a list read that starts now is
  /// current while this does not change).
  std::uint64_t current(const std::string& household) const;

 private:
  std::size_t stripe(const std::string& household) const;
  std::unique_ptr<std::atomic<std::uint64_t>[]> stripes_;
};

/// A cached list and the version of its household when its read started.
struct versioned_list {
  list_ptr list;
  std::uint64_t version = 0;
};

/// The cache key of (household, table): "<household>/<sql_name>".
std::string list_key(const std::string& household, const storage::table_spec& t);

/// True when `g` may still be used now (not expired, not read too long ago).
bool grant_usable(const cached_grant& g);

/// One I/O thread's replica. Not thread-safe: used only on its thread.
class read_replica {
 public:
  /// `versions`: the node's household versions (shared, outlives this).
  explicit read_replica(const household_versions& versions) : versions_(versions) {}

  /// The answer for list read `q` (q.table set) from this replica alone, or
  /// nullopt when anything it needs is missing or stale (the caller then
  /// asks the cache actor).
  std::optional<list_result> try_answer(const list_query& q) const;

  /// The usable session of `key` held by this replica, or null (the
  /// caller then asks the cache actor). Valid until this replica changes.
  const storage::principal_grant* try_authenticate(const std::string& key) const;

  void put_grant(const std::string& key, const cached_grant& g);
  /// Stores `list` (key `key`) of `household`, read at `version`.
  void put_list(const std::string& key, versioned_list list);
  void erase_grant(const std::string& key);
  void erase_list(const std::string& key);
  /// Erases `account`'s sessions; `block`: refuse them until settle_revoke().
  void revoke(const std::string& account, bool block);
  void settle_revoke(const std::string& account);
  void flush();

  std::size_t grants() const { return grants_.size(); }
  std::size_t lists() const { return lists_.size(); }

 private:
  const household_versions& versions_;
  std::unordered_map<std::string, cached_grant> grants_;   // session key → grant
  std::unordered_map<std::string, versioned_list> lists_;  // list_key → rows
  std::unordered_map<std::string, int> revoking_;          // account → revokes unsettled
};

/// The replicas of one node, one per I/O thread. Thread-safe: every call
/// posts to each I/O thread.
class read_replicas {
 public:
  /// One replica per io_context (each run by exactly one thread, which
  /// must have called http::set_io_thread with its index). `versions`
  /// outlives the replicas.
  read_replicas(std::vector<boost::asio::io_context*> threads, const household_versions& versions);

  /// The calling I/O thread's replica; null on any other thread.
  const read_replica* local() const;

  void put_grant(const std::string& key, const cached_grant& g);
  void put_list(const std::string& key, versioned_list list);
  void erase_grant(const std::string& key);
  void erase_list(const std::string& key);
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
