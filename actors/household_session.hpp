#pragma once
// household_session: one actor per household with subscribers on this node.
// It starts from the household's last sequence number (read from
// PostgreSQL on a pool thread), delivers events to its connections exactly
// once and in order, and when an event arrives ahead of a hole waits
// `gap_wait` for the missing one (concurrent commits often arrive swapped)
// before backfilling the hole from the change_event outbox.

#include <chrono>
#include <string>

#include "actors/messages.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

/// Spawns the session of `household_id`; it reads the household's last
/// sequence number through `db` before answering subscribe requests.
household_session_actor spawn_household_session(caf::actor_system& sys, std::string household_id,
                                                storage::pool* db,
                                                std::chrono::milliseconds gap_wait);

}  // namespace hearth::actors
