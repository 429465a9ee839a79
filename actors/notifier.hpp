#pragma once
// notifier: routes each committed change event to the household_session of
// its household on this node, if any. It owns the household → session
// table: the first subscribe for a household spawns its session, and when
// the last subscribed connection of a household ends (the notifier monitors
// connections) the session is stopped. Every subscribe and unsubscribe of a
// session passes through the notifier, so the table is never stale.
// Cluster: each local commit is also forwarded once to every linked peer's
// notifier. When a link comes up or goes down, the heads of the active
// households are re-read from the database (and every 5 s as a safety net),
// so a session backfills from the outbox any event a peer committed but
// never sent: nothing is lost, and ordering drops duplicates.

#include <chrono>

#include "actors/cache.hpp"
#include "actors/messages.hpp"
#include "actors/stats.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

/// `counters` (may be null) gets the forwarded events, the number of active
/// households and samples of the notifier's mailbox size. `cache` (may be
/// invalid: no read cache) gets an invalidation for every event a peer
/// forwards, a flush whenever a peer link comes up or goes down, and the
/// revokes of peers.
/// Household sessions deliver through `hub` (the HTTP engine's fan-out,
/// which outlives every actor).
notifier_actor spawn_notifier(caf::actor_system& sys, storage::pool* db, http::fanout_hub* hub,
                              std::chrono::milliseconds gap_wait, runtime_counters* counters,
                              cache_actor cache);

}  // namespace hearth::actors
