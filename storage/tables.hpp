#pragma once
// Declarative household tables. A household-owned table (ShopItem, PlanTask,
// ...) is one table_spec: its columns with JSON names, types and limits. The
// SQL, the request validation (app/table_api.cpp), the routes and the SSE
// change events all come from it, so every such table behaves the same way:
// rows belong to one household, non-members get not_found, "view" members
// get forbidden on writes, and every write records a change_event.
// Every table also has id, authHouseholdID, created and updated.

#include <boost/json/object.hpp>
#include <cstddef>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "storage/events.hpp"

namespace hearth::storage {

enum class column_type { text, boolean, date };

/// One writable column.
struct column_spec {
  std::string json;  // "dueDate"
  std::string sql;   // "due_date"
  column_type type;
  bool required = false;       // must be given on create
  bool nullable = false;       // JSON null allowed
  std::size_t max_length = 0;  // text only, in bytes; 0 = no limit
  std::size_t min_length = 0;  // text only
};

/// One household-owned table.
struct table_spec {
  std::string sql_name;   // "shop_item"
  std::string data_type;  // "ShopItem" (envelope dataType)
  std::string path;       // "/api/v1/shop/items"
  std::vector<column_spec> columns;
};

/// The household tables of this build.
const table_spec& shop_item_table();
const table_spec& plan_task_table();
const std::vector<const table_spec*>& household_tables();

/// A row as its JSON object (what the API returns).
using record = boost::json::object;

/// Column values of a write, by JSON name: a text form ("true", "2026-01-02",
/// "milk") or nullopt for SQL NULL. Already validated against the spec.
using values = std::map<std::string, std::optional<std::string>>;

/// A committed write: the row after it and the outbox event it recorded.
struct write_result {
  record row;
  change_event event;
};

/// Rows of every household of `account_id` (or only `household_id`), oldest first.
std::vector<record> list_rows(pqxx::connection_base& conn, const table_spec& t,
                              const std::string& account_id,
                              const std::optional<std::string>& household_id);

/// One row; domain_error(not_found) when missing or not the caller's.
record get_row(pqxx::connection_base& conn, const table_spec& t, const std::string& account_id,
               const std::string& id);

/// Writes; each checks membership (not_found) and permission (forbidden for
/// "view") inside the transaction and records the change_event before commit.
write_result create_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& household_id,
                        const values& v);
write_result update_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& id, const values& v);
write_result delete_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& id);

}  // namespace hearth::storage
