#pragma once
// scheduler: periodic housekeeping. Today one task: delete expired sign-in
// sessions every `interval` (Homechart's task runner does the same). Tasks
// run only while this node leads; a single node leads from the start, and
// the cluster's election will switch it with `leading_atom`. Database work
// runs on the storage pool, never on the actor's thread.

#include <chrono>

#include "actors/messages.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::pool* db,
                                std::chrono::milliseconds interval, bool leading);

}  // namespace hearth::actors
