#pragma once
// The JSON bodies of a declarative table's writes (api/table_api.cpp),
// validated against its table_spec (storage/tables.hpp): POST <path> and
// PUT <path>/{id}. Pure (no database), so the fuzzer (fuzz/table_json.cpp)
// runs the same code for every table of domain::household_tables().

#include <optional>
#include <string>
#include <string_view>

#include "storage/tables.hpp"

namespace hearth::api {

/// A validated creation: the household (canonical lower-case UUID) and the
/// column values by JSON name (nullopt = SQL NULL).
struct create_input {
  std::string household;
  storage::values values;
  /// The row's id when the client chose it (a row made offline): a UUID,
  /// canonical lower case.
  std::optional<std::string> id;
};

/// The body of POST <path>: one JSON object with `authHouseholdID` (a UUID),
/// optionally `id` (a UUID the client chose, e.g. for a row made offline;
/// null or absent: the server picks one) and the table's writable columns; required columns must be
/// there, read-only ones must not. Text columns are checked for length (bytes) and NUL, dates are
/// "YYYY-MM-DD", times RFC 3339 UTC (normalised to microseconds). Throws http::input_error (→ 400)
/// naming the field: malformed JSON, a missing, mistyped, null (unless nullable), duplicate or
/// unknown field.
create_input read_create_body(std::string_view body, const storage::table_spec& t);

/// What a PUT body asks for: column values and, when it names one, the
/// household the row should belong to (canonical lower-case UUID).
struct update_input {
  storage::values values;
  std::optional<std::string> household;
};

/// The body of PUT <path>/{id} for the row `id` (a UUID, checked by the
/// caller). PUT takes the representation GET returned, as Homechart's UI
/// sends it back: the server-maintained members `id`, `created` and
/// `updated` are ignored (an `id` must still be the URL's: 400 otherwise,
/// rather than silently updating another row than the client meant),
/// `authHouseholdID` equal to the row's is a no-op and another one moves the
/// row (storage::update_row). Any other member must be a column, checked as
/// for a creation (none required; read-only ones ignored). Throws
/// http::input_error like read_create_body, and for a body that changes
/// nothing.
update_input read_update_body(std::string_view body, const storage::table_spec& t,
                              const std::string& id);

}  // namespace hearth::api
