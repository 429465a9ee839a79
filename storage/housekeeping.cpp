#include "storage/housekeeping.hpp"

#include <fmt/format.h>

#include "storage/tables.hpp"

namespace hearth::storage {
namespace {

constexpr const char* kPurgeEvents =
    "DELETE FROM change_event e USING auth_household h "
    "WHERE h.id = e.auth_household_id AND e.seq <= h.event_seq - $1";

}  // namespace

std::int64_t purge_change_events(pqxx::connection_base& conn, std::int64_t window) {
  pqxx::work tx{conn};
  auto n = static_cast<std::int64_t>(tx.exec_params0(kPurgeEvents, window).affected_rows());
  tx.commit();
  return n;
}

std::int64_t rollup_day(pqxx::connection_base& conn, const std::string& day,
                        const std::vector<const table_spec*>& tables) {
  pqxx::work tx{conn};
  std::int64_t written = 0;
  for (const auto* t : tables) {
    // Table names come from the declarations, never from input.
    auto sql = fmt::format(
        "INSERT INTO household_daily_rollup (day, auth_household_id, table_name, row_count, "
        "  changes) "
        "SELECT $1::date, h.id, '{0}', "
        "  (SELECT count(*) FROM {0} x WHERE x.auth_household_id = h.id), "
        "  (SELECT count(*) FROM change_event e WHERE e.auth_household_id = h.id "
        "     AND e.table_name = '{0}' AND e.created >= $1::date "
        "     AND e.created < $1::date + 1) "
        "FROM auth_household h "
        "ON CONFLICT (day, auth_household_id, table_name) DO UPDATE "
        "  SET row_count = excluded.row_count, changes = excluded.changes, "
        "      computed_at = now()",
        t->sql_name);
    written += static_cast<std::int64_t>(tx.exec_params0(sql, day).affected_rows());
  }
  tx.commit();
  return written;
}

}  // namespace hearth::storage
