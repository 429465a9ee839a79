#pragma once
// cluster: this node's membership in the cluster (docs/architecture.md, "The cluster").
//
// The cluster actor is published with the CAF middleman on clusterAddr
// (interface peer_actor); with cluster TLS (actors/cluster_tls.hpp) it is
// published and dials through the TLS middleman (actors/tls_transport.hpp)
// instead. It learns the live nodes from the election
// thread's reads of cluster_node, dials every live peer whose node id sorts
// after its own (so each pair has exactly one connection), and greets it with
// `hello`. Both sides then monitor each other's cluster actor: a killed peer
// is noticed at once (the TCP connection closes), a frozen one through the
// middleman's heartbeats and connection timeout. On link up/down it tells the
// local notifier (peerup/peerdown), which forwards events and re-checks
// household heads; it pokes the election thread when a link drops (the peer
// may have led); and it switches the scheduler with the leadership term the
// election thread reports.

#include <caf/io/middleman_actor.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/cluster_status.hpp"
#include "actors/messages.hpp"
#include "storage/cluster.hpp"

namespace hearth::actors {

class election;

/// The cluster actor: peer_actor for peers, plus what the election thread
/// reports: the registered nodes and (leading, term, leader id).
using cluster_actor =
    peer_actor::extend<caf::reacts_to<members_atom, std::vector<storage::node_row>>,
                       caf::reacts_to<leading_atom, bool, std::int64_t, std::string>>;

/// Settings of the cluster actor.
struct cluster_options {
  std::string node_id;
  std::chrono::milliseconds dial_timeout{3'000};  // connect + hello
  // Valid: dial through this TLS middleman actor (actors/tls_transport.hpp;
  // mutual TLS, the runtime published the actor through it too) instead of
  // the plain middleman.
  caf::io::middleman_actor tls_middleman;
};

/// Spawns the cluster actor. `elect` (may be null) is poked when a link drops.
cluster_actor spawn_cluster(caf::actor_system& sys, cluster_options options,
                            notifier_actor notifier, scheduler_actor scheduler, status_board* board,
                            election* elect);

}  // namespace hearth::actors
