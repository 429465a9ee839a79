// Fuzzes the JSON bodies of the table writes (api/table_input.hpp) for
// every table of domain::household_tables(): the first input byte picks the
// table and the write (even: POST <path>, a creation; odd: PUT <path>/{id},
// an update), the rest is the body.
//
// Invariants: only http::input_error is thrown; an accepted body holds a
// canonical household UUID (create; update when it names one), only the
// table's writable columns, every required column (create), a column or a
// household (update), no null in a column that is not nullable, text
// within the column's byte limits and without NUL, dates as YYYY-MM-DD,
// times normalised to YYYY-MM-DDTHH:MM:SS.ffffffZ.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/table_input.hpp"
#include "check.hpp"
#include "domain/tables.hpp"
#include "http/json_input.hpp"

namespace {

using namespace hearth;
using storage::column_type;

// The row a PUT goes to (the URL's id; a body's "id" must be this one).
const std::string kRowId = "5f2504e0-4f89-11d3-9a0c-0305e82c3302";

void check_values(const storage::values& v, const storage::table_spec& t, bool create) {
  for (const auto& [name, value] : v) {
    const storage::column_spec* column = nullptr;
    for (const auto& c : t.columns)
      if (c.json == name) column = &c;
    FUZZ_CHECK(column != nullptr && !column->read_only);
    if (!value) {
      FUZZ_CHECK(column->nullable);
      continue;
    }
    switch (column->type) {
      case column_type::text:
        FUZZ_CHECK(value->size() >= column->min_length);
        FUZZ_CHECK(!column->max_length || value->size() <= column->max_length);
        FUZZ_CHECK(value->find('\0') == std::string::npos);
        break;
      case column_type::boolean:
        FUZZ_CHECK(*value == "true" || *value == "false");
        break;
      case column_type::date:
        FUZZ_CHECK(http::is_iso_date(*value));
        break;
      case column_type::timestamp:
        FUZZ_CHECK(value->size() == 27 && value->back() == 'Z' && (*value)[10] == 'T');
        // Normalised text is a fixed point.
        FUZZ_CHECK(http::utc_timestamp(*value) == *value);
        break;
    }
  }
  if (create)
    for (const auto& c : t.columns)
      if (c.required) FUZZ_CHECK(v.count(c.json) == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& tables = domain::household_tables();
  const auto& t = *tables[data[0] / 2 % tables.size()];
  const bool create = data[0] % 2 == 0;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (create) {
      auto in = api::read_create_body(body, t);
      FUZZ_CHECK(http::is_uuid(in.household));
      for (char c : in.household) FUZZ_CHECK(!(c >= 'A' && c <= 'F'));
      check_values(in.values, t, true);
    } else {
      auto u = api::read_update_body(body, t, kRowId);
      FUZZ_CHECK(!u.values.empty() || u.household);
      if (u.household) {
        FUZZ_CHECK(http::is_uuid(*u.household));
        for (char c : *u.household) FUZZ_CHECK(!(c >= 'A' && c <= 'F'));
      }
      check_values(u.values, t, false);
    }
  } catch (const http::input_error&) {
  }
  return 0;
}
