#pragma once
// Inside storage: the helpers that the household tables' reads and changes
// (storage/tables.cpp) and their creations (storage/table_creations.cpp)
// share. SQL text is built only from table_spec constants, never from user
// input; values always travel as parameters. Not part of storage's API.

#include <boost/json/object.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "storage/idempotency.hpp"
#include "storage/tables.hpp"

namespace hearth::storage::detail {

/// The select list of a row of `t` under `alias`: id, authHouseholdID,
/// created, updated (RFC 3339 text), then the table's columns in order.
std::string select_list(const table_spec& t, const std::string& alias);

/// A row read with select_list() as the JSON record clients get.
record to_record(const table_spec& t, const pqxx::row& r);

/// The write_result of a row a write statement returned: select_list(t),
/// then its event's seq, then with `timed` its event's time (a delete's);
/// otherwise the event's time is the row's `updated`.
write_result written(const table_spec& t, const pqxx::row& r, const char* operation,
                     bool timed = false);

/// written() of every row of a multi-row write, in order: `expected` rows,
/// else std::runtime_error ("<type>: n rows <verb> of expected").
std::vector<write_result> written_rows(const table_spec& t, const pqxx::result& result,
                                       std::size_t expected, const char* operation,
                                       const char* verb, bool timed = false);

/// Puts the columns `v` gives into `o`, keyed by SQL name (null for SQL
/// NULL): one row of a json_populate_record(set) parameter.
void put_columns(const table_spec& t, const values& v, boost::json::object& o);

/// The caller may change `household_id`: not a member → not_found with
/// `not_found` (the household's or the row's message), view-only → forbidden.
void check_write_permission(pqxx::transaction_base& tx, const std::string& account_id,
                            const std::string& household_id,
                            const std::string& not_found = "authHouseholdID: household not found");

/// The parameters of the columns `v` gives, numbered from `first_param`,
/// appending to `assignments` ("col = $n, …"), `names` (", col…") and
/// `placeholders` (", $n…").
std::vector<std::optional<std::string>> params_of(const table_spec& t, const values& v,
                                                  std::string& assignments, std::string& names,
                                                  std::string& placeholders, int first_param);

/// The response a keyed write stores: its status, dataType and dataValue
/// (`row`, or none). Nothing without `idem`.
void record_response(pqxx::transaction_base& tx, const table_spec& t, const idempotency* idem,
                     const record* row);

/// A replay of a key used before: nothing written.
write_result replayed(stored_response r);

/// A CHECK constraint of the table broke: the table's message as a 400
/// (domain_error invalid).
[[noreturn]] void rethrow_check(const table_spec& t, const pqxx::check_violation& e);

}  // namespace hearth::storage::detail
