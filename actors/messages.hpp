#pragma once
// The message vocabulary of hearth's actors and their typed interfaces.
// Messages are small value types with inspect(), so the same types can cross
// to peer nodes (the cluster issue registers them with the middleman).
//
//   write path → notifier ─▶ household_session (one per active household)
//                               ─▶ connection (one per SSE stream) ─▶ socket
//   scheduler: periodic housekeeping, only while this node leads.

#include <caf/all.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/events.hpp"

namespace hearth::storage {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change_event& x) {
  return f(caf::meta::type_name("hearth.change_event"), x.household_id, x.seq, x.table, x.row_id,
           x.operation, x.updated);
}

}  // namespace hearth::storage

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
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using leading_atom = caf::atom_constant<caf::atom("leading")>;

using event_list = std::vector<storage::change_event>;

/// One SSE stream. Takes the in-order live events of its households, the
/// result of its start-up replay from the outbox (household, events, whether
/// the replay window was exceeded), heartbeat ticks and the socket's end.
using connection_actor =
    caf::typed_actor<caf::reacts_to<storage::change_event>,
                     caf::reacts_to<replay_atom, std::string, event_list, bool>,
                     caf::reacts_to<heartbeat_atom>, caf::reacts_to<closed_atom>>;

/// One household active on this node: orders its events (backfilling holes
/// from the outbox) and fans them out to the subscribed connections.
/// subscribe answers the last sequence number delivered so far.
using household_session_actor =
    caf::typed_actor<caf::reacts_to<storage::change_event>,
                     caf::replies_to<subscribe_atom, connection_actor>::with<std::int64_t>,
                     caf::reacts_to<unsubscribe_atom, connection_actor>,
                     caf::reacts_to<loaded_atom, std::int64_t>,
                     caf::reacts_to<backfill_atom, std::int64_t, event_list, bool>,
                     caf::reacts_to<gap_atom, std::int64_t>>;

/// Routes committed change events to the household sessions of this node
/// (and, with the cluster, to peer notifiers); owns the household → session
/// table, spawning sessions on first subscribe and stopping them when their
/// last connection is gone.
using notifier_actor = caf::typed_actor<
    caf::reacts_to<publish_atom, storage::change_event>,
    caf::replies_to<subscribe_atom, std::string, connection_actor>::with<std::int64_t>>;

/// Periodic housekeeping (session expiry). Runs its tasks only while this
/// node leads; `leading` switches that (the cluster's election sends it).
using scheduler_actor =
    caf::typed_actor<caf::reacts_to<tick_atom>, caf::reacts_to<leading_atom, bool>>;

}  // namespace hearth::actors
