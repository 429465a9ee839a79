// Households and their members.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "api/api.hpp"
#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/households.hpp"

namespace hearth::api {
namespace {

constexpr const char* kHousehold = "AuthHousehold";
constexpr const char* kMember = "AuthHouseholdMember";

boost::json::object to_json(const storage::household& h) {
  return {{"id", h.id},
          {"name", h.name},
          {"permissions", h.permissions},
          {"created", h.created},
          {"updated", h.updated}};
}

boost::json::object to_json(const storage::member& m) {
  return {{"authHouseholdID", m.household_id},
          {"authAccountID", m.account_id},
          {"emailAddress", m.email_address},
          {"permissions", m.permissions}};
}

// The answer a keyed write stores (storage/idempotency.hpp): one item.
storage::stored_response stored(unsigned status, const char* type, boost::json::object item) {
  return {status, type, boost::json::serialize(boost::json::array{std::move(item)})};
}

void create_household(services& s, const http::request& req, http::responder respond) {
  http::json_object_reader in(req.body);
  auto name = *in.string("name", true, 1, 200);
  in.reject_unknown();
  auto idem = idempotency_of(req, 201);
  run_authenticated(
      s, req, std::move(respond),
      [=, &s, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        storage::household h;
        if (auto k = keyed_by(idem, who)) {
          auto out = storage::create_household(conn, who.account_id, name, *k,
                                               [](const storage::household& created) {
                                                 return stored(201, kHousehold, to_json(created));
                                               });
          if (out.replay) return replayed_response(rid, *out.replay);
          h = std::move(*out.value);
        } else {
          h = storage::create_household(conn, who.account_id, name);
        }
        s.actors.revoke_account(who.account_id);  // its cached household list grew
        return http::ok(201, rid, kHousehold, {to_json(h)});
      });
}

void list_households(services& s, const http::request& req, http::responder respond) {
  run_authenticated(
      s, req, std::move(respond),
      [rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        boost::json::array out;
        for (const auto& h : storage::list_households(conn, who.account_id))
          out.push_back(to_json(h));
        return http::ok(200, rid, kHousehold, std::move(out));
      });
}

void add_member(services& s, const http::request& req, http::responder respond) {
  auto household_id = req.params.at("id");
  if (!http::is_uuid(household_id))
    return respond(http::error(404, req.request_id, "household not found"));
  http::json_object_reader in(req.body);
  auto email = *in.string("emailAddress", true, 1, 254);
  auto permissions = *in.string("permissions", true, 1, 10);
  if (permissions != "owner" && permissions != "edit" && permissions != "view")
    throw http::input_error("permissions: must be one of owner, edit, view");
  in.reject_unknown();
  auto idem = idempotency_of(req, 201);
  run_authenticated(
      s, req, std::move(respond),
      [=, &s, rid = req.request_id, ip = req.remote_addr](storage::connection& conn,
                                                          const storage::principal& who) {
        storage::member m;
        if (auto k = keyed_by(idem, who)) {
          auto out = storage::add_member(
              conn, who.account_id, household_id, email, permissions, *k,
              [](const storage::member& added) { return stored(201, kMember, to_json(added)); });
          if (out.replay) return replayed_response(rid, *out.replay);
          m = std::move(*out.value);
        } else {
          m = storage::add_member(conn, who.account_id, household_id, email, permissions);
        }
        s.actors.revoke_account(m.account_id);  // its cached household list grew
        log::notice(
            "security: member added: request {} account {} from {}: account {} joins "
            "household {} as {}",
            rid, who.account_id, ip, m.account_id, household_id, permissions);
        return http::ok(201, rid, kMember, {to_json(m)});
      });
}

}  // namespace

constexpr const char* kHouseholdSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},"name":{"type":"string"},
  "permissions":{"type":"string","enum":["owner","edit","view"]},
  "created":{"type":"string","format":"date-time"},
  "updated":{"type":"string","format":"date-time"}}})";

void add_household_routes(http::route_group& r, services& s) {
  using namespace std::placeholders;
  r.add({"POST",
         "/api/v1/auth/households",
         std::bind(create_household, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Create a household; the caller becomes its owner",
                  .tag = "households",
                  .request_schema = R"({"type":"object","additionalProperties":false,
                    "required":["name"],"properties":{"name":{"type":"string","minLength":1,
                    "maxLength":200}}})",
                  .data_type = kHousehold,
                  .data_schema = kHouseholdSchema,
                  .success = 201,
                  .idempotency_key = true}}});
  r.add({"GET",
         "/api/v1/auth/households",
         std::bind(list_households, std::ref(s), _1, _2),
         {.doc = {.summary = "The caller's households",
                  .tag = "households",
                  .data_type = kHousehold,
                  .data_schema = kHouseholdSchema}}});
  r.add({"POST",
         "/api/v1/auth/households/{id}/members",
         std::bind(add_member, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Add a member (owner only)",
                  .tag = "households",
                  .request_schema = R"({"type":"object","additionalProperties":false,
                    "required":["emailAddress","permissions"],"properties":{
                    "emailAddress":{"type":"string","format":"email"},
                    "permissions":{"type":"string","enum":["owner","edit","view"]}}})",
                  .data_type = kMember,
                  .data_schema = R"({"type":"object","properties":{
                    "authHouseholdID":{"type":"string","format":"uuid"},
                    "authAccountID":{"type":"string","format":"uuid"},
                    "emailAddress":{"type":"string"},
                    "permissions":{"type":"string","enum":["owner","edit","view"]}}})",
                  .success = 201,
                  .idempotency_key = true}}});
}

}  // namespace hearth::api
