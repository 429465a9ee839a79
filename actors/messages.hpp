#pragma once
// The message vocabulary of hearth's actors and their typed interfaces.
// Messages are small value types with inspect(), so the same types can cross
// to peer nodes (the cluster issue registers them with the middleman).
//
//   write path → notifier ─▶ household_session (one per active household;
//                               encodes each event once)
//                               ─▶ fan-out hub: one post per I/O thread that
//                                  holds streams of the household (http/fanout.hpp)
//   connection (one per SSE stream): control only (subscribe, replay, close)
//   scheduler (engine/messages.hpp): cron jobs, only while this node leads.

#include <caf/all.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/messages.hpp"
#include "http/fanout.hpp"
#include "storage/cluster.hpp"
#include "storage/events.hpp"

namespace hearth::storage {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change_event& x) {
  // The trace context crosses to peers with the event (its four fields).
  return f(caf::meta::type_name("hearth.change_event"), x.household_id, x.seq, x.table, x.row_id,
           x.operation, x.updated, x.trace.trace_hi, x.trace.trace_lo, x.trace.span_id,
           x.trace.flags);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_row& x) {
  return f(caf::meta::type_name("hearth.node_row"), x.node_id, x.cluster_addr, x.http_addr,
           x.started_at, x.heartbeat_age_ms, x.alive, x.links_json);
}

}  // namespace hearth::storage

namespace hearth::http {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_ref& x) {
  return f(caf::meta::type_name("hearth.stream_ref"), x.shard, x.id);
}

}  // namespace hearth::http

namespace hearth::actors {

using publish_atom = caf::atom_constant<caf::atom("publish")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("unsubscr")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using backfill_atom = caf::atom_constant<caf::atom("backfill")>;
using gap_atom = caf::atom_constant<caf::atom("gapcheck")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using replay_retry_atom = caf::atom_constant<caf::atom("replayre")>;
using forward_atom = caf::atom_constant<caf::atom("forward")>;
using peer_up_atom = caf::atom_constant<caf::atom("peerup")>;
using peer_down_atom = caf::atom_constant<caf::atom("peerdown")>;
using recheck_atom = caf::atom_constant<caf::atom("recheck")>;
using heads_atom = caf::atom_constant<caf::atom("heads")>;
using head_atom = caf::atom_constant<caf::atom("head")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using members_atom = caf::atom_constant<caf::atom("members")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;
using revocations_atom = caf::atom_constant<caf::atom("revokes")>;
using interest_atom = caf::atom_constant<caf::atom("interest")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using attach_atom = caf::atom_constant<caf::atom("attach")>;
using engine::leading_atom;
using engine::scheduler_actor;

using event_list = std::vector<storage::change_event>;

/// Registers with CAF the message types of hearth's own that cross to peer
/// nodes (a peer's commit: forward, change_event; a backfill: event_list),
/// under the names peers use on the wire. Every node registers the same
/// (actors/system.cpp); fuzz/cluster_message.cpp decodes with them.
inline void add_cluster_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<storage::change_event>("hearth.change_event");
  cfg.add_message_type<event_list>("hearth.event_list");
}

/// The control actor of one SSE stream (live events do not pass through
/// it: they go from the household session to the stream's I/O thread).
/// Takes the result of its start-up replay from the outbox (household,
/// events, whether they could be read), its own timer to read a failed
/// replay again (household), and the socket's end.
using connection_actor =
    caf::typed_actor<caf::reacts_to<replay_atom, std::string, event_list, bool>,
                     caf::reacts_to<replay_retry_atom, std::string>, caf::reacts_to<closed_atom>>;

/// One household active on this node: orders its events (backfilling holes
/// from the outbox), encodes each once and hands it to each I/O thread
/// holding streams of the household (http::fanout_hub). subscribe attaches
/// a stream and answers the last sequence number delivered so far: the
/// stream replays up to it from the outbox, later events reach it live.
using household_session_actor = caf::typed_actor<
    caf::reacts_to<storage::change_event>,
    caf::replies_to<subscribe_atom, connection_actor, http::stream_ref>::with<std::int64_t>,
    caf::reacts_to<unsubscribe_atom, connection_actor>, caf::reacts_to<loaded_atom, std::int64_t>,
    caf::reacts_to<backfill_atom, std::int64_t, event_list, bool>,
    caf::reacts_to<gap_atom, std::int64_t>, caf::reacts_to<head_atom, std::int64_t>>;

/// Household ids with their current sequence heads (read from the database
/// when peer links change, and by the periodic sweep).
using head_list = std::vector<std::pair<std::string, std::int64_t>>;

/// Household ids, as a peer's interest travels (CAF's builtin @strvec).
using household_ids = std::vector<std::string>;

/// Routes committed change events to the household sessions of this node
/// and to the notifiers of the peer nodes interested in the household (the
/// interest table, docs/architecture.md "Interest routing"); owns the
/// household → session table, spawning sessions on first subscribe and
/// stopping them when their last connection is gone.
///   publish e          a local commit: to local sessions and to each peer
///                      interested in e's household
///   forward e          a peer's commit: to local sessions only
///   peerup id, h       a peer's notifier `h` is reachable (from the cluster actor)
///   peerdown id        the link to peer `id` is gone
///   recheck            re-read the heads of active households and backfill
///                      what was missed
///   watch node, snapshot, add, drop
///                      (from peer `node`) the households it now needs
///                      events of (`add`) or no longer does (`drop`);
///                      `snapshot`: `add` replaces all it said before.
///                      Answered `true` once recorded: every local commit
///                      published after the answer reaches that peer
///   interest h, on     (from the cache) the cache holds (on) or dropped
///                      (off) lists of household h; "on" is answered with
///                      interest h, ok to the cache once every peer knows
///   revoke a, seq, remote
///                      drop account a's cached sessions here and end its
///                      streams (and, when the revoke is local, on every
///                      peer); seq: its recorded revocation (0: none)
///   revokes ok, at, seqs, accounts
///                      (from itself) the recorded revocations read at `at`
///                      (storage/revocations.hpp): those not applied yet
///                      were missed while a link was down, and are applied
using notifier_actor = caf::typed_actor<
    caf::reacts_to<publish_atom, storage::change_event>,
    caf::reacts_to<forward_atom, storage::change_event>,
    caf::replies_to<subscribe_atom, std::string, connection_actor,
                    http::stream_ref>::with<std::int64_t>,
    caf::reacts_to<peer_up_atom, std::string, caf::actor>,
    caf::reacts_to<peer_down_atom, std::string>, caf::reacts_to<recheck_atom>,
    caf::reacts_to<sweep_atom>, caf::reacts_to<heads_atom, head_list>,
    caf::replies_to<watch_atom, std::string, bool, household_ids, household_ids>::with<bool>,
    caf::reacts_to<interest_atom, std::string, bool>,
    caf::reacts_to<revoke_atom, std::string, std::int64_t, bool>,
    caf::reacts_to<revocations_atom, bool, std::string, std::vector<std::int64_t>,
                   std::vector<std::string>>>;

/// What peers may call on a node's published cluster actor: `hello` from the
/// dialing peer (its node id, its cluster actor, its notifier), answered with
/// this node's id and notifier. Each side then monitors the other's cluster
/// actor; the monitor's down message is how a dead or frozen peer is noticed.
using peer_actor = caf::typed_actor<caf::replies_to<hello_atom, std::string, caf::actor,
                                                    caf::actor>::with<std::string, caf::actor>>;

}  // namespace hearth::actors
