#pragma once
// The engine's actor vocabulary: the scheduler (cron) and its leadership
// switch, which the cluster actor (actors/cluster.hpp) sends. The delivery
// actor's own messages are in engine/delivery.hpp.

#include <caf/all.hpp>
#include <cstdint>
#include <string>

namespace hearth::engine {

using leading_atom = caf::atom_constant<caf::atom("leading")>;
using cron_atom = caf::atom_constant<caf::atom("cron")>;

/// Runs the registry's cron jobs while this node leads, each tick fenced by
/// the leadership term (engine/scheduler.hpp).
///   leading, bool, term   from the cluster actor: switch on (with the term) or off
///   cron                  wake up: claim and start the jobs that are due
///   cron, job, tick       a claim of that tick could not be made: try again
using scheduler_actor =
    caf::typed_actor<caf::reacts_to<leading_atom, bool, std::int64_t>, caf::reacts_to<cron_atom>,
                     caf::reacts_to<cron_atom, std::string, std::int64_t>>;

}  // namespace hearth::engine
