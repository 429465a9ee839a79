// The routes of every declarative household table (storage/tables.hpp):
//   GET|POST <path>, GET|PUT|DELETE <path>/{id}
// Request validation comes from the table's column specs. Writes publish
// their change_event to the notifier after commit.

#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>

#include "api/api.hpp"
#include "api/table_input.hpp"
#include "config/logging.hpp"
#include "domain/tables.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/accounts.hpp"
#include "storage/crypto.hpp"
#include "storage/errors.hpp"
#include "storage/tables.hpp"

namespace hearth::api {
namespace {

// A UUID as PostgreSQL prints it (lower case): the form every cache, load
// and session key uses. The caller has checked http::is_uuid.
std::string canonical_uuid(std::string id) {
  for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

// Backpressure per household: while the live updates of a household are
// behind on this node (http::fanout_hub::behind), its writes get 503 with
// Retry-After; writes to other households go on. The household id it gets
// is canonical: the database's (update, delete) or the request's after
// read_create_body (create, api/table_input.hpp).
storage::write_gate fanout_gate(services& s) {
  return [&hub = s.server.fanout()](const std::string& household) {
    if (hub.behind(household))
      throw storage::domain_error(storage::errc::busy,
                                  "live updates of this household are behind: write refused, "
                                  "retry shortly");
  };
}

using storage::table_spec;

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

// True when an If-None-Match value (RFC 9110 §13.1.2: "*" or a list of
// entity tags, weak comparison) matches `etag` (quoted).
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    auto comma = if_none_match.find(',');
    auto tag = if_none_match.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

// A list response (docs/architecture.md, "The path of a read"; differential sync as Homechart
// does): the envelope with the ETag of the list, 304 with no body when If-None-Match matches it,
// and with updatedAfter the `dataIDs` of every current row.
http::response list_response(const std::string& rid, const table_spec& t,
                             const std::string& if_none_match, actors::list_result r) {
  using outcome = actors::list_result::outcome;
  if (r.result == outcome::unauthorized) return unauthorized_response(rid);
  if (r.result == outcome::unavailable) return unavailable_response(rid);
  auto etag = fmt::format("\"{}\"", r.view.etag);
  http::response out;
  if (etag_matches(if_none_match, etag)) {
    out.status = 304;
  } else {
    std::string extra;
    if (r.view.data_ids_json) extra = R"(,"dataIDs":)" + *r.view.data_ids_json;
    out = http::ok_serialized(200, rid, t.data_type, r.view.count, r.view.rows(), extra);
  }
  out.headers.emplace_back("ETag", std::move(etag));
  // Caches may keep it but must revalidate (the ETag makes that cheap).
  out.headers.emplace_back("Cache-Control", "private, no-cache");
  return out;
}

// The same answer without the read cache (cacheMiB = 0): session, households
// and lists read from the database on the pool.
actors::list_result list_from_database(storage::connection& conn, const actors::list_query& q) {
  actors::list_result r;
  auto who = storage::load_principal(conn, q.session_key);
  if (!who) {
    r.result = actors::list_result::outcome::unauthorized;
    return r;
  }
  r.view = *storage::build_list_view(*who, q.household, q.updated_after, [&](const std::string& h) {
    return std::make_shared<const storage::household_list>(
        storage::load_household_list(conn, *q.table, h));
  });
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
    case storage::column_type::timestamp:
      o["type"] = "string";
      o["format"] = "date-time";
      break;
  }
  if (c.nullable) o["nullable"] = true;
  if (c.read_only) o["readOnly"] = true;
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
  props["authHouseholdID"] = boost::json::object{{"type", "string"}, {"format", "uuid"}};
  if (create) {
    required.push_back("authHouseholdID");
    // A row made offline brings the id its client chose (a second POST of
    // it answers the row it made, 200).
    props["id"] = boost::json::object{{"type", "string"}, {"format", "uuid"}, {"nullable", true}};
  } else {
    // The representation GET returned is accepted as it is (read_update_body).
    props["id"] = boost::json::object{{"type", "string"}, {"format", "uuid"}, {"readOnly", true}};
    for (const char* ro : {"created", "updated"})
      props[ro] =
          boost::json::object{{"type", "string"}, {"format", "date-time"}, {"readOnly", true}};
  }
  for (const auto& c : t.columns) {
    if (create && c.read_only) continue;
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

// A write route's documentation: it takes Idempotency-Key.
http::route_options keyed_doc(http::route_options o) {
  o.doc.idempotency_key = true;
  return o;
}

// GET <path>: the rows of the caller's households, from the read cache or
// (cacheMiB = 0) the database.
http::route list_route(services& s, const table_spec& t) {
  auto options = table_doc(t, "List the " + t.data_type +
                                  " rows of the caller's households (ETag / If-None-Match: "
                                  "304; updatedAfter: only newer rows plus dataIDs)");
  options.doc.query = {{"authHouseholdID", "only this household's rows"},
                       {"updatedAfter",
                        "RFC 3339 UTC time: only rows updated after it, and dataIDs "
                        "[{id, updated}] of every current row (differential sync)"}};
  return {"GET", t.path,
          [&s, &t](const http::request& req, http::responder respond) {
            actors::list_query q;
            q.table = &t;
            if (auto it = req.query.find("authHouseholdID"); it != req.query.end()) {
              if (!http::is_uuid(it->second))
                throw http::input_error("authHouseholdID: must be a UUID");
              q.household = canonical_uuid(it->second);
            }
            if (auto it = req.query.find("updatedAfter"); it != req.query.end()) {
              q.updated_after = http::utc_timestamp(it->second);
              if (!q.updated_after)
                throw http::input_error(
                    "updatedAfter: must be an RFC 3339 UTC time such as "
                    "2026-01-02T03:04:05.123456Z");
            }
            auto key = admitted_session_key(s, req, respond);
            if (!key) return;
            q.session_key = std::move(*key);
            auto inm = std::string(req.header("if-none-match"));
            // An unknown or expired key counts against the client's IP.
            auto answer = [&s, &t, rid = req.request_id, ip = req.remote_addr,
                           inm](actors::list_result r) {
              if (r.result == actors::list_result::outcome::unauthorized)
                return rejected_key_response(s, ip, rid);
              return list_response(rid, t, inm, std::move(r));
            };
            if (s.actors.caching()) {
              return s.actors.read_list(std::move(q), [answer, respond](actors::list_result r) {
                respond(answer(std::move(r)));
              });
            }
            // Cache off: the same list read from the database, through the
            // request layer (its failures map like every other request's).
            run_db(s, req, std::move(respond),
                   [answer, q = std::move(q)](storage::connection& conn) {
                     return answer(list_from_database(conn, q));
                   });
          },
          std::move(options)};
}

// POST <path>: a new row in one of the caller's households.
http::route create_route(services& s, const table_spec& t) {
  return {"POST", t.path,
          [&s, &t](const http::request& req, http::responder respond) {
            auto input = read_create_body(req.body, t);
            const auto& household = input.household;
            const auto& values = input.values;
            const auto& client_id = input.id;
            auto idem = idempotency_of(req, 201);
            // Group commit: creations that arrive together commit together
            // (storage/group_commit.hpp); each gets its own result and event.
            with_principal(
                s, req, respond,
                [&s, &t, household, values, idem, client_id, rid = req.request_id,
                 parent = req.trace, respond](const storage::principal& who) {
                  s.writes.submit(
                      {&t, who.account_id, household, values, fanout_gate(s), keyed_by(idem, who),
                       [&t, rid, respond](storage::write_result* w, std::exception_ptr e) {
                         if (!w) return respond(failure_of(rid, e));
                         if (w->replay) return respond(replayed_response(rid, *w->replay));
                         respond(one(201, rid, t, std::move(w->row)));  // published: the batcher's
                       },
                       parent, 0, client_id});
                });
          },
          keyed_doc(table_doc(t, "Create a " + t.data_type, 201, true, true))};
}

// GET <path>/{id}: one row.
http::route read_route(services& s, const table_spec& t) {
  return {"GET", t.path + "/{id}",
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
          table_doc(t, "Read one " + t.data_type)};
}

// PUT <path>/{id}: some or all fields of a row (the representation GET
// returned is accepted as it is); a different authHouseholdID moves it.
http::route update_route(services& s, const table_spec& t) {
  return {"PUT", t.path + "/{id}",
          [&s, &t](const http::request& req, http::responder respond) {
            auto id = row_id(req, t, respond);
            if (!id) return;
            auto u = read_update_body(req.body, t, *id);
            auto idem = idempotency_of(req, 200);
            // Group commit (storage/group_commit.hpp), as creations.
            with_principal(
                s, req, respond,
                [&s, &t, id = *id, u = std::move(u), idem, rid = req.request_id, parent = req.trace,
                 respond](const storage::principal& who) {
                  storage::write_batcher::change_request c{
                      &t,
                      who.account_id,
                      id,
                      u.values,
                      u.household,
                      fanout_gate(s),
                      keyed_by(idem, who),
                      [&t, rid, respond](storage::write_result* w, std::exception_ptr e) {
                        if (!w) return respond(failure_of(rid, e));
                        if (w->replay) return respond(replayed_response(rid, *w->replay));
                        respond(one(200, rid, t, std::move(w->row)));
                      },
                      parent};
                  s.writes.submit(std::move(c));
                });
          },
          keyed_doc(table_doc(t,
                              "Update a " + t.data_type +
                                  ": any of its fields, or the whole representation GET returned "
                                  "(id, created and updated are ignored; another authHouseholdID "
                                  "moves the row)",
                              200, true))};
}

// DELETE <path>/{id}: a row.
http::route delete_route(services& s, const table_spec& t) {
  return {"DELETE", t.path + "/{id}",
          [&s, &t](const http::request& req, http::responder respond) {
            auto id = row_id(req, t, respond);
            if (!id) return;
            auto idem = idempotency_of(req, 200);
            with_principal(
                s, req, respond,
                [&s, &t, id = *id, idem, rid = req.request_id, parent = req.trace,
                 respond](const storage::principal& who) {
                  storage::write_batcher::change_request c{
                      &t,
                      who.account_id,
                      id,
                      std::nullopt,
                      std::nullopt,
                      fanout_gate(s),
                      keyed_by(idem, who),
                      [&t, rid, respond](storage::write_result* w, std::exception_ptr e) {
                        if (!w) return respond(failure_of(rid, e));
                        if (w->replay) return respond(replayed_response(rid, *w->replay));
                        respond(http::ok(200, rid, t.data_type, {}));
                      },
                      parent};
                  s.writes.submit(std::move(c));
                });
          },
          keyed_doc(table_doc(t, "Delete a " + t.data_type))};
}

void add_table(http::route_group& r, services& s, const table_spec& t) {
  r.add(list_route(s, t));
  r.add(create_route(s, t));
  r.add(read_route(s, t));
  r.add(update_route(s, t));
  r.add(delete_route(s, t));
}

}  // namespace

void add_table_routes(http::route_group& r, services& s) {
  for (const auto* t : domain::household_tables()) add_table(r, s, *t);
}

}  // namespace hearth::api
