#pragma once
// The JSON bodies of a declarative table's writes (api/table_api.cpp),
// validated against its table_spec (storage/tables.hpp): POST <path> and
// PUT <path>/{id}. Pure (no database), so the fuzzer (fuzz/table_json.cpp)
// runs the same code for every table of domain::household_tables().

#include <string>
#include <string_view>

#include "storage/tables.hpp"

namespace hearth::api {

/// A validated creation: the household (canonical lower-case UUID) and the
/// column values by JSON name (nullopt = SQL NULL).
struct create_input {
  std::string household;
  storage::values values;
};

/// The body of POST <path>: one JSON object with `authHouseholdID` (a UUID)
/// and the table's columns; required columns must be there. Text columns
/// are checked for length (bytes) and NUL, dates are "YYYY-MM-DD", times RFC
/// 3339 UTC (normalised to microseconds). Throws http::input_error (→ 400)
/// naming the field: malformed JSON, a missing, mistyped, null (unless
/// nullable), duplicate or unknown field.
create_input read_create_body(std::string_view body, const storage::table_spec& t);

/// The body of PUT <path>/{id}: the columns to change, at least one, checked
/// as for a creation (none required). Throws http::input_error like
/// read_create_body, and for an object without any column.
storage::values read_update_body(std::string_view body, const storage::table_spec& t);

}  // namespace hearth::api
