#include "actors/cache.hpp"

#include <chrono>
#include <list>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "domain/tables.hpp"
#include "storage/accounts.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {
namespace {

/// Entries in least-recently-used order with their sizes in bytes.
template <class V>
class lru {
 public:
  V* find(const std::string& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.pos);
    return &it->second.value;
  }

  void put(const std::string& key, V value, std::size_t bytes) {
    erase(key);
    order_.push_front(key);
    map_.emplace(key, slot{std::move(value), bytes, order_.begin()});
    bytes_ += bytes;
  }

  bool erase(const std::string& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    bytes_ -= it->second.bytes;
    order_.erase(it->second.pos);
    map_.erase(it);
    return true;
  }

  /// Erases the entries for which p(key, value) is true.
  template <class Predicate>
  void erase_if(Predicate p) {
    for (auto it = map_.begin(); it != map_.end();) {
      if (p(it->first, it->second.value)) {
        bytes_ -= it->second.bytes;
        order_.erase(it->second.pos);
        it = map_.erase(it);
      } else {
        ++it;
      }
    }
  }

  /// Drops the least recently used entry and returns its key; nullopt
  /// when empty.
  std::optional<std::string> evict_oldest() {
    if (order_.empty()) return std::nullopt;
    std::string key = order_.back();
    erase(key);
    return key;
  }

  void clear() {
    map_.clear();
    order_.clear();
    bytes_ = 0;
  }

  std::size_t bytes() const { return bytes_; }
  std::size_t size() const { return map_.size(); }

 private:
  struct slot {
    V value;
    std::size_t bytes;
    std::list<std::string>::iterator pos;
  };
  std::list<std::string> order_;
  std::unordered_map<std::string, slot> map_;
  std::size_t bytes_ = 0;
};

struct cache_state {
  static inline const char* name = "cache";
  storage::pool* db = nullptr;
  std::size_t max_bytes = 0;
  runtime_counters* counters = nullptr;
  read_replicas* replicas = nullptr;             // the I/O threads' copies (may be null)
  std::shared_ptr<household_versions> versions;  // shared with the replicas and publish()

  // Interest routing (actors/notifier.hpp): with a notifier attached, a
  // household's lists are stored only once the notifier confirmed that
  // every peer forwards its events here; they live at most `ttl` after
  // their read, and the interest is released when none is left.
  notifier_actor notifier;  // invalid: single node, nothing to confirm
  std::chrono::milliseconds ttl{60'000};
  std::unordered_set<std::string> confirmed;
  struct awaiting_read {
    std::string key;
    const storage::table_spec* table;
  };
  std::unordered_map<std::string, std::vector<awaiting_read>> awaiting_interest;  // household →
  std::unordered_map<std::string, caf::actor_clock::time_point> held;  // household → last read

  struct cached_list {
    list_ptr list;
    caf::actor_clock::time_point read_at;
    std::uint64_t version = 0;  // the household's version when its read started
  };
  lru<cached_list> lists;    // household + '/' + table → rows
  lru<cached_grant> grants;  // session key → grant
  // Logical clock of flushes and revokes: a read that started at `clock` is
  // stored only when nothing it covers was flushed or revoked after that.
  // (Lists are also checked against their household's version.)
  std::uint64_t clock = 0;
  std::uint64_t flushed_at = 0;
  std::uint64_t revoked_at = 0;  // any session revoke

  struct pending {
    cache_request request;
    std::optional<storage::principal_grant> who;
    std::map<std::string, list_ptr> resolved;  // household → its list
    bool missed = false;
  };
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, pending> queries;
  // Queries waiting for a read under way, with the clock (and, for lists,
  // the household's version) when each joined: a read that turns out stale
  // (a write, revoke or flush after it started) may answer only the queries
  // that joined before that; later ones start
  // a fresh read (so a writer's next read never gets the pre-write list).
  struct waiter {
    std::uint64_t id;
    std::uint64_t joined;
    std::uint64_t version = 0;  // lists: the household's version when it joined
  };
  std::unordered_map<std::string, std::vector<waiter>> waiting_grant;  // key → queries
  std::unordered_map<std::string, std::vector<waiter>> waiting_list;   // list key → queries
};

using self_ptr = cache_actor::stateful_pointer<cache_state>;

std::size_t grant_bytes(const std::string& key, const storage::principal_grant& g) {
  return 160 + key.size() + g.account_id.size() + g.session_id.size() + 64 * g.households.size();
}

void publish_sizes(cache_state& st) {
  if (!st.counters) return;
  st.counters->cache_bytes = st.lists.bytes() + st.grants.bytes();
  st.counters->cache_entries = st.lists.size() + st.grants.size();
}

void enforce_bound(cache_state& st) {
  while (st.lists.bytes() + st.grants.bytes() > st.max_bytes) {
    if (auto key = st.lists.evict_oldest()) {
      if (st.replicas) st.replicas->erase_list(*key);
    } else if (auto session = st.grants.evict_oldest()) {
      if (st.replicas) st.replicas->erase_grant(*session);
    } else {
      break;
    }
    if (st.counters) ++st.counters->cache_evictions;
  }
  publish_sizes(st);
}

void answer(cache_state& st, std::uint64_t id, list_result r) {
  auto it = st.queries.find(id);
  if (it == st.queries.end()) return;
  auto done = std::move(it->second.request.done);
  st.queries.erase(it);
  try {
    done(std::move(r));
  } catch (const std::exception& e) {
    log::error("cache: a list callback failed: {}", e.what());
  }
}

void fail(cache_state& st, std::uint64_t id, list_result::outcome why) {
  list_result r;
  r.result = why;
  answer(st, id, std::move(r));
}

void load_grant(self_ptr self, const std::string& key, std::uint64_t id) {
  auto& st = self->state;
  auto& waiters = st.waiting_grant[key];
  waiters.push_back({id, st.clock});
  if (waiters.size() > 1) return;  // a read of this key is under way
  cache_actor me = self;
  auto started = st.clock;
  storage::run_on_pool(
      *st.db, [key](storage::connection& conn) { return storage::load_principal(conn, key); },
      [me, key, started](auto outcome) {
        grant_result r;
        if (outcome.ok()) {
          r.grant = std::move(*outcome.value);
        } else {
          log::warn_once("cache.session",
                         "cache: cannot read a session: " + log::first_line(outcome.error));
          r.failed = true;
        }
        caf::anon_send(me, grant_atom::value, key, started, std::move(r));
      });
}

// Reads list `key` on the pool; the answer comes back as listload.
void start_read(self_ptr self, const std::string& key, const std::string& household,
                const storage::table_spec* table) {
  auto& st = self->state;
  st.held[household] = self->clock().now();
  cache_actor me = self;
  auto started = st.clock;
  // Before the read: a write that commits during it bumps the version past this.
  const auto version = st.versions->current(household);
  storage::run_on_pool(
      *st.db,
      [household, table](storage::connection& conn) {
        return std::make_shared<const storage::household_list>(
            storage::load_household_list(conn, *table, household));
      },
      [me, key, household, table, started, version](auto outcome) {
        list_load r;
        r.version = version;
        if (outcome.ok())
          r.list = std::move(*outcome.value);
        else
          log::warn_once(
              "cache.list",
              fmt::format("cannot read {}: {}", table->sql_name, log::first_line(outcome.error)),
              "cache: household " + household);
        caf::anon_send(me, loaded_list_atom::value, key, started, std::move(r));
      });
}

void load_list(self_ptr self, const std::string& household, const storage::table_spec& t,
               std::uint64_t id) {
  auto& st = self->state;
  auto key = list_key(household, t);
  auto& waiters = st.waiting_list[key];
  for (const auto& w : waiters)
    if (w.id == id) return;  // already waiting for this read
  waiters.push_back({id, st.clock, st.versions->current(household)});
  if (waiters.size() > 1) return;
  if (st.counters) ++st.counters->cache_misses;
  if (!st.notifier || st.confirmed.count(household)) return start_read(self, key, household, &t);
  // The peers may not forward this household's events here yet: ask the
  // notifier first (on_interest starts the read).
  auto& awaiting = st.awaiting_interest[household];
  awaiting.push_back({key, &t});
  if (awaiting.size() == 1) self->send(st.notifier, interest_atom::value, household, true);
}

// The notifier's answer to interest h: with `ok`, every peer forwards h's
// events here from now on, so reads started now may be stored; without,
// the reads waiting for it still answer their queries but are not stored.
void on_interest(self_ptr self, const std::string& household, bool ok) {
  auto& st = self->state;
  auto it = st.awaiting_interest.find(household);
  if (ok) st.confirmed.insert(household);
  if (it == st.awaiting_interest.end()) return;
  auto reads = std::move(it->second);
  st.awaiting_interest.erase(it);
  for (const auto& r : reads) start_read(self, r.key, household, r.table);
  // Reads started before this count as stale, so they are not stored;
  // the queries that joined them before now still get their answer.
  if (!ok) st.versions->bump(household);
}

// Every ttl/4: lists read more than ttl ago go, and the interest in
// households with nothing left (and no read under way) is released.
void on_expire(self_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, std::max(st.ttl / 4, std::chrono::milliseconds(250)), sweep_atom::value);
  const auto cutoff = self->clock().now() - st.ttl;
  std::vector<std::string> expired;
  st.lists.erase_if([&](const std::string& key, const cache_state::cached_list& l) {
    if (l.read_at > cutoff) return false;
    expired.push_back(key);
    return true;
  });
  if (st.replicas)
    for (const auto& key : expired) st.replicas->erase_list(key);
  for (auto it = st.held.begin(); it != st.held.end();) {
    const auto& household = it->first;
    if (it->second > cutoff || st.awaiting_interest.count(household)) {
      ++it;
      continue;
    }
    bool reading = false;
    for (const auto* t : domain::household_tables())
      if (st.waiting_list.count(list_key(household, *t))) reading = true;
    if (reading) {
      ++it;
      continue;
    }
    st.confirmed.erase(household);
    if (st.notifier) self->send(st.notifier, interest_atom::value, household, false);
    it = st.held.erase(it);
  }
  if (!expired.empty()) publish_sizes(st);
}

// Answers query `id` when everything it needs is known; otherwise starts
// the reads it lacks (the answer then comes from their completion).
void advance(self_ptr self, std::uint64_t id) {
  auto& st = self->state;
  auto it = st.queries.find(id);
  if (it == st.queries.end()) return;
  auto& q = it->second;
  const auto& query = q.request.query;
  if (!q.who) {
    auto* cached = st.grants.find(query.session_key);
    if (cached && !grant_usable(*cached)) {
      st.grants.erase(query.session_key);
      if (st.replicas) st.replicas->erase_grant(query.session_key);
      cached = nullptr;
    }
    if (!cached) return load_grant(self, query.session_key, id);
    q.who = cached->grant;
  }
  if (!query.table) {  // authentication only
    list_result r;
    r.who = std::move(q.who);
    return answer(st, id, std::move(r));
  }
  auto households = q.who->visible_households(query.household);
  bool complete = true;
  for (const auto& h : households) {
    if (q.resolved.count(h)) continue;
    if (auto* cached = st.lists.find(list_key(h, *query.table));
        cached && cached->version == st.versions->current(h)) {
      q.resolved.emplace(h, cached->list);
      continue;
    }  // a stale list stays until its re-read replaces it, or it expires
    q.missed = true;
    complete = false;
    load_list(self, h, *query.table, id);
  }
  if (!complete) return;
  if (st.counters && !q.missed) ++st.counters->cache_hits;
  list_result r;
  r.view = *storage::build_list_view(*q.who, query.household, query.updated_after,
                                     [&](const std::string& h) { return q.resolved.at(h); });
  r.who = std::move(q.who);
  answer(st, id, std::move(r));
}

// Queries still waiting when the cache stops are answered 503.
void on_exit(self_ptr self, caf::exit_msg& msg) {
  auto& st = self->state;
  while (!st.queries.empty())
    fail(st, st.queries.begin()->first, list_result::outcome::unavailable);
  self->quit(msg.reason);
}

// A new query: answered now from the cache, or once its reads are done.
void on_lookup(self_ptr self, cache_request& r) {
  auto& st = self->state;
  auto id = st.next_id++;
  st.queries.emplace(id, cache_state::pending{std::move(r), {}, {}, false});
  advance(self, id);
}

// A peer's write: the household's cached lists are stale here and on every
// I/O thread (its version moves on; they stay until re-read or expired).
void on_invalidate(self_ptr self, const std::string& household) {
  auto& st = self->state;
  st.versions->bump(household);
  if (st.counters) ++st.counters->cache_invalidations;
}

// An account's sessions were revoked: its cached grants go. `local`: a
// sign-out on this node, whose replicas revoke_account already revoked
// and blocked; they may take its sessions again from now on.
void on_revoke(self_ptr self, const std::string& account, bool local) {
  auto& st = self->state;
  st.revoked_at = ++st.clock;
  st.grants.erase_if(
      [&](const std::string&, const cached_grant& g) { return g.grant.account_id == account; });
  if (st.replicas) {
    if (local)
      st.replicas->settle_revoke(account);
    else
      st.replicas->revoke(account, false);
  }
  publish_sizes(st);
}

// A peer link changed: everything goes.
void on_flush(self_ptr self) {
  auto& st = self->state;
  st.flushed_at = ++st.clock;
  st.confirmed.clear();  // a peer came or went: the notifier confirms again
  st.lists.clear();
  st.grants.clear();
  if (st.replicas) st.replicas->flush();
  publish_sizes(st);
}

// The answer of load_grant(): stored when no revoke came after the read
// started, then handed to the queries waiting for it.
void on_grant(self_ptr self, const std::string& key, std::uint64_t started, grant_result& r) {
  auto& st = self->state;
  auto waiters = std::move(st.waiting_grant[key]);
  st.waiting_grant.erase(key);
  const auto stale_since = std::max(st.revoked_at, st.flushed_at);
  const bool fresh = started >= stale_since;
  if (r.grant && fresh) {
    cached_grant g{*r.grant, std::chrono::steady_clock::now()};
    if (st.replicas) st.replicas->put_grant(key, g);
    st.grants.put(key, std::move(g), grant_bytes(key, *r.grant));
    enforce_bound(st);
  }
  for (const auto& [id, joined, unused] : waiters) {
    if (!fresh && joined >= stale_since) {
      advance(self, id);  // joined after a revoke: read the session again
    } else if (r.failed) {
      fail(st, id, list_result::outcome::unavailable);
    } else if (!r.grant) {
      fail(st, id, list_result::outcome::unauthorized);
    } else if (auto q = st.queries.find(id); q != st.queries.end()) {
      q->second.who = *r.grant;
      advance(self, id);
    }
  }
}

// The answer of load_list(): stored when no write (version) or flush came
// after the read started, then handed to the queries waiting for it.
void on_loaded_list(self_ptr self, const std::string& key, std::uint64_t started, list_load& r) {
  auto& st = self->state;
  auto waiters = std::move(st.waiting_list[key]);
  st.waiting_list.erase(key);
  const auto household = key.substr(0, key.find('/'));
  const bool flushed = started < st.flushed_at;
  const bool fresh = !flushed && r.version == st.versions->current(household);
  if (r.list && fresh) {
    if (st.replicas) st.replicas->put_list(key, versioned_list{r.list, r.version});
    st.lists.put(key, cache_state::cached_list{r.list, self->clock().now(), r.version},
                 r.list->bytes);
    enforce_bound(st);
  }
  for (const auto& [id, joined, version] : waiters) {
    // Joined after a write or a flush that the read may predate: read again.
    if ((flushed && joined >= st.flushed_at) || version != r.version) {
      if (auto q = st.queries.find(id); q != st.queries.end()) q->second.resolved.erase(household);
      advance(self, id);
    } else if (!r.list) {
      fail(st, id, list_result::outcome::unavailable);
    } else if (auto q = st.queries.find(id); q != st.queries.end()) {
      q->second.resolved.emplace(r.list->household_id, r.list);
      advance(self, id);
    }
  }
}

cache_actor::behavior_type cache(self_ptr self, storage::pool* db, std::size_t max_bytes,
                                 runtime_counters* counters, read_replicas* replicas,
                                 std::chrono::milliseconds ttl,
                                 std::shared_ptr<household_versions> versions) {
  self->set_default_handler(engine::drop_unexpected);  // never print a peer's values
  auto& st = self->state;
  st.ttl = ttl;
  st.versions = versions ? std::move(versions) : std::make_shared<household_versions>();
  self->delayed_send(self, std::max(ttl / 4, std::chrono::milliseconds(250)), sweep_atom::value);
  st.db = db;
  st.replicas = replicas;
  st.max_bytes = max_bytes;
  st.counters = counters;
  self->set_exit_handler([self](caf::exit_msg& msg) { on_exit(self, msg); });
  return {
      [=](lookup_atom, cache_request& r) { on_lookup(self, r); },
      [=](invalidate_atom, const std::string& household) { on_invalidate(self, household); },
      [=](revoke_atom, const std::string& account) { on_revoke(self, account, false); },
      [=](revoke_atom, const std::string& account, bool local) { on_revoke(self, account, local); },
      [=](flush_atom) { on_flush(self); },
      [=](attach_atom, notifier_actor& n) { self->state.notifier = std::move(n); },
      [=](interest_atom, const std::string& household, bool ok) {
        on_interest(self, household, ok);
      },
      [=](sweep_atom) { on_expire(self); },
      [=](grant_atom, const std::string& key, std::uint64_t started, grant_result& r) {
        on_grant(self, key, started, r);
      },
      [=](loaded_list_atom, const std::string& key, std::uint64_t started, list_load& r) {
        on_loaded_list(self, key, started, r);
      },
  };
}

}  // namespace

cache_actor spawn_cache(caf::actor_system& sys, storage::pool* db, std::size_t max_bytes,
                        runtime_counters* counters, read_replicas* replicas,
                        std::chrono::milliseconds ttl,
                        std::shared_ptr<household_versions> versions) {
  return sys.spawn(cache, db, max_bytes, counters, replicas, ttl, std::move(versions));
}

}  // namespace hearth::actors
