#pragma once
// notifier: routes each committed change event to the household_session of
// its household on this node, if any. It owns the household → session
// table: the first subscribe for a household spawns its session, and when
// the last subscribed connection of a household ends (the notifier monitors
// connections) the session is stopped. Every subscribe and unsubscribe of a
// session passes through the notifier, so the table is never stale.
// Cluster, routed by interest (docs/architecture.md "Interest routing"):
// each local commit is forwarded once to each peer notifier that said it
// needs the household's events, and to no other. A node needs a household
// while it holds a stream of it or lists of it in the read cache; it tells
// its peers with watch messages: an add (answered, so the node knows from
// when on it gets every event), a drop 5–10 s after the need ended (a
// reconnecting client does not make it flap), and a full snapshot whenever
// a link comes up. When a link comes up (once the peer answered the
// snapshot) or goes down, and whenever an add is answered, the heads of the
// households concerned are re-read from the database (and every 5 s as a
// safety net), so a session backfills from the outbox any event a peer
// committed but never sent: nothing is lost, and ordering drops duplicates.
// The read cache stores a household's lists only once the notifier
// confirmed that every peer knows its interest (actors/cache.hpp).

#include <chrono>

#include "actors/account_streams.hpp"
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
/// which outlives every actor). `node_id` names this node in its watch
/// messages to peers. A valid `cache` is attached to the notifier (it asks
/// the notifier to confirm its interest before it stores a list).
/// `accounts` (may be null) ends the local streams of an account a peer
/// revoked (actors/account_streams.hpp). `periodic_recheck` false skips
/// the sweep's re-read of the outbox heads (every 5 s; the other rechecks,
/// at a link change or a peer's loss, still run): only for tests that show
/// every write publishes itself (config key outboxRecheck).
notifier_actor spawn_notifier(caf::actor_system& sys, storage::pool* db, http::fanout_hub* hub,
                              std::chrono::milliseconds gap_wait, runtime_counters* counters,
                              cache_actor cache, std::string node_id = "local",
                              account_streams* accounts = nullptr, bool periodic_recheck = true);

}  // namespace hearth::actors
