#pragma once
// household_session: one actor per household with subscribers on this node.
// It starts from the household's last sequence number (read from
// PostgreSQL on a pool thread), orders events exactly once and in order,
// and when an event arrives ahead of a hole waits `gap_wait` for the missing
// one (concurrent commits often arrive swapped) before backfilling the hole
// from the change_event outbox. Each event is encoded once (encode_change)
// and handed to the fan-out hub once per I/O thread that holds streams of
// the household.

#include <chrono>
#include <string>

#include "actors/messages.hpp"
#include "http/fanout.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

/// Spawns the session of `household_id`; it reads the household's last
/// sequence number through `db` before answering subscribe requests, and
/// delivers through `hub` (which outlives it).
household_session_actor spawn_household_session(caf::actor_system& sys, std::string household_id,
                                                storage::pool* db, http::fanout_hub* hub,
                                                std::chrono::milliseconds gap_wait);

/// A change event as every stream receives it: `event: change` and its JSON
/// (authHouseholdID, table, id, operation, updated, seq), encoded once.
http::event_ptr encode_change(const storage::change_event& e);

}  // namespace hearth::actors
