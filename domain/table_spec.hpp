#pragma once
// What a household table is (the domain's declaration type): its columns
// with JSON names, types and limits, its table-level checks, its route path
// and envelope dataType. The declarations are in domain/tables.cpp; the SQL,
// lists and writes that follow from one are storage's (storage/tables.hpp),
// the routes and validation the API's (api/table_api.cpp). Depends on
// nothing but the standard library.

#include <cstddef>
#include <string>
#include <vector>

namespace hearth::domain {

/// text: UTF-8 string; boolean; date: "YYYY-MM-DD"; timestamp: RFC 3339
/// UTC, returned as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (timestamptz in SQL).
enum class column_type { text, boolean, date, timestamp };

/// One column: writable by clients, or (read_only) set by the server only.
struct column_spec {
  std::string json;  // "dueDate"
  std::string sql;   // "due_date"
  column_type type;
  bool required = false;       // must be given on create
  bool nullable = false;       // JSON null allowed
  std::size_t max_length = 0;  // text only, in bytes; 0 = no limit
  std::size_t min_length = 0;  // text only
  /// Shown in every representation but written by the server only: a POST
  /// naming it is a 400 ("<json>: read-only"), a PUT's value is ignored
  /// (PUT takes the representation GET returned).
  bool read_only = false;
};

/// A table-level rule enforced by a CHECK constraint of its migration; a
/// write that violates it gets domain_error(invalid, message): a 400.
struct check_spec {
  std::string constraint;  // "calendar_event_ends_after_start"
  std::string message;     // "endsAt: must not be before startsAt"
};

/// One household-owned table. Adding one is this declaration (in
/// domain/tables.cpp, domain::household_tables()) plus its migration; routes, validation,
/// permissions, SQL, change events, caching, OpenAPI schemas and the generic tests' fixtures all
/// follow from it.
struct table_spec {
  std::string sql_name;   // "shop_item"
  std::string data_type;  // "ShopItem" (envelope dataType)
  std::string path;       // "/api/v1/shop/items"
  std::vector<column_spec> columns;
  std::vector<check_spec> checks = {};
  /// The SQL name of a read-only column whose non-null value makes a row
  /// read-only to clients (a CalendarEvent imported from a subscription):
  /// PUT and DELETE of such a row are domain_error(conflict, locked_message),
  /// a 409, after the membership and permission checks. "" = none.
  std::string locked_by = {};
  std::string locked_message = {};
};

}  // namespace hearth::domain
