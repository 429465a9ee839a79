#pragma once
// The Pub/Sub delivery actor of one node (engine/pubsub.hpp gives the
// guarantees). Every `poll` interval, and as soon as a slot frees up after a
// full batch, it claims due deliveries of each subscription on the storage
// pool (at most max_concurrency in flight per subscription on this node),
// runs each handler on the engine's handler threads, then acknowledges the
// delivery or records the failure (retry with backoff, or dead letter) from
// that thread. The actor itself never blocks: it only counts slots and
// schedules claims. An idle node backs off: after 10 polls that found
// nothing (with nothing in flight) the period doubles, up to max(poll, 1 s);
// found work, a finished delivery or a publish on this node (the registry's
// publish hook) restores `poll` at once. So a message published here, or a
// retry after a failure here, keeps `poll` latency; one published on another
// node (which claims it itself, within its `poll`, unless it runs no
// deliveries) or a lease expiring may wait up to 1 s on an idle node.

#include <boost/asio/thread_pool.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <string>

#include "engine/pubsub.hpp"
#include "engine/store.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::engine {

using poll_atom = caf::atom_constant<caf::atom("poll")>;
using claimed_atom = caf::atom_constant<caf::atom("claimed")>;
using settled_atom = caf::atom_constant<caf::atom("settled")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;

using delivery_list = std::vector<claimed_delivery>;

/// poll; claimed subscription-index deliveries (from the pool; empty after
/// a failed claim); settled subscription-index (a handler finished).
using delivery_actor =
    caf::typed_actor<caf::reacts_to<poll_atom, std::uint64_t>, caf::reacts_to<wake_atom>,
                     caf::reacts_to<claimed_atom, std::size_t, delivery_list>,
                     caf::reacts_to<settled_atom, std::size_t>>;

/// Backoff before retry number `attempt` (1 = the first retry):
/// min_backoff · 2^(attempt-1), at most max_backoff.
std::chrono::milliseconds retry_backoff(const engine::subscription_options& o, int attempt);

/// Spawns the delivery actor for the registry's subscriptions (which must
/// outlive it, as must `db` and `handlers`, a pool of `threads` threads).
delivery_actor spawn_delivery(caf::actor_system& sys, storage::pool* db,
                              const engine::registry* registry, std::string node_id,
                              std::chrono::milliseconds poll, boost::asio::thread_pool* handlers,
                              int threads);

}  // namespace hearth::engine

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hearth::engine::delivery_list)
