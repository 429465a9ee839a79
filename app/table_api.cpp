// The routes of every declarative household table (storage/tables.hpp):
//   GET|POST <path>, GET|PUT|DELETE <path>/{id}
// Request validation comes from the table's column specs. Writes publish
// their change_event to the notifier after commit.

#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "app/api.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/crypto.hpp"
#include "storage/tables.hpp"

namespace hearth::app {
namespace {

using storage::column_type;
using storage::table_spec;

// Reads the table's writable columns; on create the required ones must be there.
storage::values read_values(http::json_object_reader& in, const table_spec& t, bool create) {
  storage::values v;
  for (const auto& c : t.columns) {
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
          throw http::input_error(c.json + ": must be a date YYYY-MM-DD or null");
        v[c.json] = d;
        break;
      }
    }
  }
  return v;
}

http::response one(unsigned status, const std::string& rid, const table_spec& t,
                   storage::record row) {
  boost::json::array a;
  a.push_back(std::move(row));
  return http::ok(status, rid, t.data_type, std::move(a));
}

std::optional<std::string> row_id(const http::request& req, const table_spec& t,
                                  const http::responder& respond) {
  auto id = req.params.at("id");
  if (http::is_uuid(id)) return id;
  respond(http::error(404, req.request_id, t.data_type + " not found"));
  return std::nullopt;
}

// Conditional list reads (DESIGN.md §2, as Homechart does; RFC 9110 §13.1.2):
// the ETag is a hash of the listed (id, updated) pairs, and a matching
// If-None-Match gets 304 with no body.
http::response with_etag(http::response r, const std::string& versions,
                         const std::string& if_none_match) {
  auto etag = fmt::format("\"{}\"", storage::content_tag(versions));
  r.headers.emplace_back("ETag", etag);
  if (if_none_match == etag || if_none_match == "*") {
    r.status = 304;
    r.body.clear();
  }
  return r;
}

// OpenAPI schemas derived from the table's declaration.
boost::json::object column_schema(const storage::column_spec& c) {
  boost::json::object o;
  switch (c.type) {
    case storage::column_type::text:
      o["type"] = "string";
      if (c.min_length) o["minLength"] = c.min_length;
      if (c.max_length) o["maxLength"] = c.max_length;
      break;
    case storage::column_type::boolean:
      o["type"] = "boolean";
      break;
    case storage::column_type::date:
      o["type"] = "string";
      o["format"] = "date";
      break;
  }
  if (c.nullable) o["nullable"] = true;
  return o;
}

std::string row_schema(const table_spec& t) {
  boost::json::object props{
      {"id", boost::json::object{{"type", "string"}, {"format", "uuid"}}},
      {"authHouseholdID", boost::json::object{{"type", "string"}, {"format", "uuid"}}},
      {"created", boost::json::object{{"type", "string"}, {"format", "date-time"}}},
      {"updated", boost::json::object{{"type", "string"}, {"format", "date-time"}}}};
  for (const auto& c : t.columns) props[c.json] = column_schema(c);
  return boost::json::serialize(boost::json::object{{"type", "object"}, {"properties", props}});
}

std::string write_schema(const table_spec& t, bool create) {
  boost::json::object props;
  boost::json::array required;
  if (create) {
    props["authHouseholdID"] = boost::json::object{{"type", "string"}, {"format", "uuid"}};
    required.push_back("authHouseholdID");
  }
  for (const auto& c : t.columns) {
    props[c.json] = column_schema(c);
    if (create && c.required) required.push_back(boost::json::string(c.json));
  }
  boost::json::object o{{"type", "object"}, {"additionalProperties", false}, {"properties", props}};
  if (!required.empty()) o["required"] = std::move(required);
  if (!create) o["minProperties"] = 1;
  return boost::json::serialize(o);
}

http::route_options table_doc(const table_spec& t, std::string summary, unsigned success = 200,
                              bool body = false, bool create = false) {
  http::route_options o;
  o.json_body = body;
  o.doc.summary = std::move(summary);
  o.doc.tag = t.data_type;
  o.doc.data_type = t.data_type;
  o.doc.data_schema = row_schema(t);
  o.doc.success = success;
  if (body) o.doc.request_schema = write_schema(t, create);
  return o;
}

void add_table(http::route_group& r, services& s, const table_spec& t) {
  r.add({"GET", t.path,
         [&s, &t](const http::request& req, http::responder respond) {
           std::optional<std::string> household;
           if (auto it = req.query.find("authHouseholdID"); it != req.query.end()) {
             if (!http::is_uuid(it->second))
               throw http::input_error("authHouseholdID: must be a UUID");
             household = it->second;
           }
           std::string if_none_match(req.header("if-none-match"));
           run_authenticated(
               s, req, std::move(respond),
               [&t, household, if_none_match, rid = req.request_id](storage::connection& conn,
                                                                    const storage::principal& who) {
                 boost::json::array out;
                 std::string versions;  // the (id, updated) list the ETag stands for
                 for (auto& row : storage::list_rows(conn, t, who.account_id, household)) {
                   versions += row["id"].as_string();
                   versions += row["updated"].as_string();
                   out.push_back(std::move(row));
                 }
                 return with_etag(http::ok(200, rid, t.data_type, std::move(out)), versions,
                                  if_none_match);
               });
         },
         [&t] {
           auto o = table_doc(t, "List the " + t.data_type +
                                     " rows of the caller's households "
                                     "(ETag / If-None-Match: 304)");
           o.doc.query = {{"authHouseholdID", "only this household's rows"}};
           return o;
         }()});
  r.add({"POST", t.path,
         [&s, &t](const http::request& req, http::responder respond) {
           http::json_object_reader in(req.body);
           auto household = *in.string("authHouseholdID", true, 1, 64);
           if (!http::is_uuid(household))
             throw http::input_error("authHouseholdID: must be a UUID");
           auto values = read_values(in, t, true);
           in.reject_unknown();
           run_authenticated(s, req, std::move(respond),
                             [&s, &t, household, values, rid = req.request_id](
                                 storage::connection& conn, const storage::principal& who) {
                               auto w =
                                   storage::create_row(conn, t, who.account_id, household, values);
                               s.actors.publish(w.event);
                               return one(201, rid, t, std::move(w.row));
                             });
         },
         table_doc(t, "Create a " + t.data_type, 201, true, true)});
  auto item = t.path + "/{id}";
  r.add({"GET", item,
         [&s, &t](const http::request& req, http::responder respond) {
           auto id = row_id(req, t, respond);
           if (!id) return;
           run_authenticated(s, req, std::move(respond),
                             [&t, id = *id, rid = req.request_id](storage::connection& conn,
                                                                  const storage::principal& who) {
                               return one(200, rid, t,
                                          storage::get_row(conn, t, who.account_id, id));
                             });
         },
         table_doc(t, "Read one " + t.data_type)});
  r.add({"PUT", item,
         [&s, &t](const http::request& req, http::responder respond) {
           auto id = row_id(req, t, respond);
           if (!id) return;
           http::json_object_reader in(req.body);
           auto values = read_values(in, t, false);
           in.reject_unknown();
           if (values.empty()) throw http::input_error("request body: no field to update");
           run_authenticated(s, req, std::move(respond),
                             [&s, &t, id = *id, values, rid = req.request_id](
                                 storage::connection& conn, const storage::principal& who) {
                               auto w = storage::update_row(conn, t, who.account_id, id, values);
                               s.actors.publish(w.event);
                               return one(200, rid, t, std::move(w.row));
                             });
         },
         table_doc(t, "Update fields of a " + t.data_type, 200, true)});
  r.add({"DELETE", item,
         [&s, &t](const http::request& req, http::responder respond) {
           auto id = row_id(req, t, respond);
           if (!id) return;
           run_authenticated(s, req, std::move(respond),
                             [&s, &t, id = *id, rid = req.request_id](
                                 storage::connection& conn, const storage::principal& who) {
                               auto w = storage::delete_row(conn, t, who.account_id, id);
                               s.actors.publish(w.event);
                               return http::ok(200, rid, t.data_type, {});
                             });
         },
         table_doc(t, "Delete a " + t.data_type)});
}

}  // namespace

void add_table_routes(http::route_group& r, services& s) {
  for (const auto* t : storage::household_tables()) add_table(r, s, *t);
}

}  // namespace hearth::app
