#pragma once
// cache: one actor per node that answers list reads (GET <table path>) from
// memory. It keeps
//   - per session key, the principal_grant (account, expiry, households),
//   - per (household, table), the serialised household_list (rows + ETag),
// both in LRU order under one memory bound (runtime_options::cache_bytes),
// and reads what it lacks from the database on the storage pool, never on
// its own thread. Concurrent misses of one key share one read.
//
// Each I/O thread answers hits from its own replica of these entries
// (actors/read_replica.hpp); this actor is the only writer of the replicas
// and answers what they miss.
//
// Invalidation (why a reader never sees a list older than its own write):
//   invalidate h   from actor_runtime::publish() before a write's response
//                  is sent (local writes), and from the notifier for every
//                  event a peer forwards (cluster-wide; stale at most for the
//                  fan-out latency);
//   revoke a       drop the cached sessions of account `a` (sign-out,
//                  membership change), on this node and, via the notifier,
//                  on every peer;
//   flush          drop everything: a peer link came up or went down, so
//                  forwarded invalidations may have been missed.
// A read that started before an invalidation of its key still answers the
// request waiting for it but is not stored (per-household generation
// numbers), so a stale list never enters the cache.
//
// Cluster: peers forward a household's events only to nodes interested in
// it (actors/notifier.hpp). Before it stores a list of a household, the
// cache asks the notifier (interest h, on) and waits for its answer: only
// reads started after every peer knows the interest are stored, so a peer's
// commit is either visible to the read or forwarded here as an
// invalidation. A list lives at most the ttl after its read; a household
// with no list left and no read under way is released (interest h, off).
//
// Homechart keeps its cache in an UNLOGGED PostgreSQL table invalidated by
// triggers; hearth keeps it in each node's memory because the hit path is
// then free of any database round trip (the point of the read benchmark),
// and the change events the node receives for the households it caches are
// exactly the invalidation signal the cache needs.

#include "actors/messages.hpp"
#include "actors/read_replica.hpp"
#include "actors/stats.hpp"
#include "actors/system.hpp"
#include "storage/accounts.hpp"

namespace hearth::actors {

using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using invalidate_atom = caf::atom_constant<caf::atom("invalid")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using grant_atom = caf::atom_constant<caf::atom("grant")>;
using loaded_list_atom = caf::atom_constant<caf::atom("listload")>;

/// A list read waiting for its answer (local messages only).
struct cache_request {
  list_query query;
  list_callback done;
};

/// The result of a session read on the pool: the grant, or none (unknown or
/// expired key), or failed (database error).
struct grant_result {
  std::optional<storage::principal_grant> grant;
  bool failed = false;
};

/// The result of a household list read on the pool (null when it failed).
struct list_load {
  std::shared_ptr<const storage::household_list> list;
  std::uint64_t version = 0;  // the household's version when the read started
};

/// The cache actor's interface.
///   attach notifier                the notifier that confirms interest (cluster)
///   interest household, ok         the notifier's answer: every peer forwards
///                                  the household's events here (ok)
///   sweep                          (timer) expire lists older than the ttl
///   lookup r                       answer r.done for r.query
///   invalidate household           a peer's write: bump the household's version
///                                  (a local write bumps it in actor_runtime::publish)
///   revoke account                 forget that account's sessions (from a peer)
///   revoke account, true           a local sign-out (replicas blocked): settle them
///   flush                          forget everything
///   grant key epoch result         (from the pool) a session read finished
///   listload key generation load   (from the pool) a household list read finished
using cache_actor = caf::typed_actor<
    caf::reacts_to<lookup_atom, cache_request>, caf::reacts_to<invalidate_atom, std::string>,
    caf::reacts_to<revoke_atom, std::string>, caf::reacts_to<revoke_atom, std::string, bool>,
    caf::reacts_to<flush_atom>, caf::reacts_to<attach_atom, notifier_actor>,
    caf::reacts_to<interest_atom, std::string, bool>, caf::reacts_to<sweep_atom>,
    caf::reacts_to<grant_atom, std::string, std::uint64_t, grant_result>,
    caf::reacts_to<loaded_list_atom, std::string, std::uint64_t, list_load>>;

class read_replicas;
class household_versions;

/// Spawns the cache with a memory bound of `max_bytes`; `counters` gets
/// hits, misses, evictions, invalidations and the bytes held. With
/// `replicas` (actors/read_replica.hpp; may be null), every entry it stores
/// or drops, and every revoke and flush it receives, is mirrored to each
/// I/O thread's replica, in order. `versions`: the households' versions
/// shared with the replicas and actor_runtime::publish (null: the cache's
/// own, for tests that send `invalidate` themselves). A list is answered
/// only while its household's version is the one its read started at. A
/// household list lives at most `ttl` after its read (cacheTtlMs), so a
/// node that served one read of a household stops receiving its events
/// within ttl + 10 s.
cache_actor spawn_cache(caf::actor_system& sys, storage::pool* db, std::size_t max_bytes,
                        runtime_counters* counters, read_replicas* replicas = nullptr,
                        std::chrono::milliseconds ttl = std::chrono::milliseconds(60'000),
                        std::shared_ptr<household_versions> versions = nullptr);

}  // namespace hearth::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hearth::actors::cache_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hearth::actors::grant_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hearth::actors::list_load)
