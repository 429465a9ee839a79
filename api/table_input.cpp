#include "api/table_input.hpp"

#include <cctype>

#include "http/json_input.hpp"

namespace hearth::api {
namespace {

using storage::column_type;
using storage::table_spec;

// A UUID as PostgreSQL prints it (lower case): the form every cache, load
// and session key uses. The caller has checked http::is_uuid.
std::string canonical_uuid(std::string id) {
  for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

// Reads the table's writable columns; on create the required ones must be there.
storage::values read_values(http::json_object_reader& in, const table_spec& t, bool create) {
  storage::values v;
  for (const auto& c : t.columns) {
    if (c.read_only) {
      if (create && in.has(c.json)) throw http::input_error(c.json + ": read-only");
      in.ignore(c.json);
      continue;
    }
    if (!in.has(c.json)) {
      if (create && c.required) throw http::input_error(c.json + ": required");
      in.string(c.json, false, 0, 0);  // marks it as read
      continue;
    }
    if (in.is_null(c.json)) {
      if (!c.nullable) throw http::input_error(c.json + ": must not be null");
      in.string(c.json, false, 0, 0, true);
      v[c.json] = std::nullopt;
      continue;
    }
    switch (c.type) {
      case column_type::text:
        v[c.json] = in.string(c.json, true, c.min_length, c.max_length);
        break;
      case column_type::boolean:
        v[c.json] = *in.boolean(c.json, true) ? "true" : "false";
        break;
      case column_type::date: {
        auto d = in.string(c.json, true, 0, 0);
        if (!http::is_iso_date(*d))
          throw http::input_error(c.json + ": must be a date YYYY-MM-DD" +
                                  (c.nullable ? " or null" : ""));
        v[c.json] = d;
        break;
      }
      case column_type::timestamp: {
        auto ts = http::utc_timestamp(*in.string(c.json, true, 0, 0));
        if (!ts)
          throw http::input_error(c.json +
                                  ": must be an RFC 3339 UTC time such as 2026-01-02T03:04:05Z");
        v[c.json] = ts;
        break;
      }
    }
  }
  return v;
}

}  // namespace

create_input read_create_body(std::string_view body, const table_spec& t) {
  http::json_object_reader in(body);
  create_input out;
  out.household = *in.string("authHouseholdID", true, 1, 64);
  if (!http::is_uuid(out.household)) throw http::input_error("authHouseholdID: must be a UUID");
  out.household = canonical_uuid(std::move(out.household));
  if (in.has("id") && !in.is_null("id")) {
    auto id = *in.string("id", true, 1, 64);
    if (!http::is_uuid(id)) throw http::input_error("id: must be a UUID");
    out.id = canonical_uuid(std::move(id));
  } else {
    in.ignore("id");
  }
  out.values = read_values(in, t, true);
  in.reject_unknown();
  return out;
}

update_input read_update_body(std::string_view body, const table_spec& t, const std::string& id) {
  http::json_object_reader in(body);
  update_input u;
  if (in.has("id")) {
    auto body_id = *in.string("id", true, 1, 64);
    if (!http::is_uuid(body_id) || canonical_uuid(body_id) != canonical_uuid(id))
      throw http::input_error("id: must be the id in the URL (or left out)");
  }
  in.ignore("created");
  in.ignore("updated");
  if (in.has("authHouseholdID")) {
    auto household = *in.string("authHouseholdID", true, 1, 64);
    if (!http::is_uuid(household)) throw http::input_error("authHouseholdID: must be a UUID");
    u.household = canonical_uuid(std::move(household));
  }
  u.values = read_values(in, t, false);
  in.reject_unknown();
  if (u.values.empty() && !u.household) throw http::input_error("request body: no field to update");
  return u;
}

}  // namespace hearth::api
