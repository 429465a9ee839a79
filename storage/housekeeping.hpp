#pragma once
// Household housekeeping run by the engine's built-in cron jobs
// (app/modules.cpp): the outbox purge and the daily rollup. Functions run on
// a pool thread with that thread's connection and throw what libpqxx throws.

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "storage/tables.hpp"

namespace hearth::storage {

/// Housekeeping (engine cron jobs): deletes change_event rows more than
/// `window` events behind their household's head (beyond SSE replay);
/// returns how many.
std::int64_t purge_change_events(pqxx::connection_base& conn, std::int64_t window);

/// Computes household_daily_rollup for `day` ("YYYY-MM-DD", UTC) over
/// `tables` (domain::household_tables()): rows per household table now and changes recorded that
/// day; returns the rows written.
std::int64_t rollup_day(pqxx::connection_base& conn, const std::string& day,
                        const std::vector<const table_spec*>& tables);

}  // namespace hearth::storage
