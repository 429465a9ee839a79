// Households, their members, and invitations to them by e-mail.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "api/account_mail.hpp"
#include "api/api.hpp"
#include "api/bodies.hpp"
#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/account_tokens.hpp"
#include "storage/households.hpp"
#include "storage/invitations.hpp"

namespace hearth::api {
namespace {

constexpr const char* kHousehold = "AuthHousehold";
constexpr const char* kMember = "AuthHouseholdMember";
constexpr const char* kInvitation = "AuthHouseholdInvitation";

boost::json::object to_json(const storage::household& h) {
  return {{"id", h.id},
          {"name", h.name},
          {"permissions", domain::name_of(h.permissions)},
          {"timeZone", h.time_zone},
          {"created", h.created},
          {"updated", h.updated}};
}

boost::json::object to_json(const storage::member& m) {
  return {{"authHouseholdID", m.household_id},
          {"authAccountID", m.account_id},
          {"emailAddress", m.email_address},
          {"permissions", domain::name_of(m.permissions)}};
}

boost::json::object to_json(const storage::invitation& i) {
  return {{"id", i.id},
          {"authHouseholdID", i.household_id},
          {"emailAddress", i.email_address},
          {"permissions", domain::name_of(i.permissions)},
          {"created", i.created},
          {"expires", i.expires}};
}

// The answer a keyed write stores (storage/idempotency.hpp): one item.
storage::stored_response stored(unsigned status, const char* type, boost::json::object item) {
  return {status, type, boost::json::serialize(boost::json::array{std::move(item)})};
}

// The `permissions` of a body read with bodies::add_member, set_role or
// invite (one of owner, edit, view: checked by the declaration).
domain::permission level_of(const http::body_fields& in) {
  return domain::permission_named(in.at("permissions")).value();
}

void create_household(services& s, const http::request& req, http::responder respond) {
  auto in = bodies::create_household.read(req.body);
  auto name = in.at("name");
  auto time_zone = in.text("timeZone").value_or("UTC");
  auto idem = idempotency_of(req, 201);
  run_authenticated(
      s, req, std::move(respond),
      [=, &s, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        storage::household h;
        if (auto k = keyed_by(idem, who)) {
          auto out = storage::create_household(conn, who.account_id, name, time_zone, *k,
                                               [](const storage::household& created) {
                                                 return stored(201, kHousehold, to_json(created));
                                               });
          if (out.replay) return replayed_response(rid, *out.replay);
          h = std::move(*out.value);
        } else {
          h = storage::create_household(conn, who.account_id, name, time_zone);
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
  auto in = bodies::add_member.read(req.body);
  auto email = in.at("emailAddress");
  auto permissions = level_of(in);
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
            rid, who.account_id, ip, m.account_id, household_id, domain::name_of(permissions));
        return http::ok(201, rid, kMember, {to_json(m)});
      });
}

// The {id} of a household route: a UUID, or 404 as for a household the
// caller cannot see.
std::optional<std::string> household_param(const http::request& req,
                                           const http::responder& respond) {
  auto id = req.params.at("id");
  if (!http::is_uuid(id)) {
    respond(http::error(404, req.request_id, "household not found"));
    return std::nullopt;
  }
  return std::string(id);
}

void get_household(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  run_authenticated(
      s, req, std::move(respond),
      [id = *id, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        return http::ok(200, rid, kHousehold,
                        {to_json(storage::get_household(conn, who.account_id, id))});
      });
}

// PUT /api/v1/auth/households/{id} {name?, timeZone?}: at least one.
void update_household(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  auto in = bodies::update_household.read(req.body);
  auto name = in.text("name");
  auto time_zone = in.text("timeZone");
  run_authenticated(
      s, req, std::move(respond),
      [id = *id, name, time_zone, rid = req.request_id](storage::connection& conn,
                                                        const storage::principal& who) {
        return http::ok(
            200, rid, kHousehold,
            {to_json(storage::update_household(conn, who.account_id, id, name, time_zone))});
      });
}

// Deleting a household ends every member's streams (they reconnect without
// it) and drops their cached grants on every node (actor_runtime::revoke_account).
void delete_household(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  run_authenticated(
      s, req, std::move(respond),
      [&s, id = *id, rid = req.request_id, ip = req.remote_addr](storage::connection& conn,
                                                                 const storage::principal& who) {
        const auto members = storage::delete_household(conn, who.account_id, id);
        for (const auto& m : members) s.actors.revoke_account(m.removed.account_id, m.revocation);
        log::notice(
            "security: household deleted: request {} account {} from {}: household {} with {} "
            "members",
            rid, who.account_id, ip, id, members.size());
        return http::ok(200, rid, kHousehold, {});
      });
}

void list_members(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  run_authenticated(
      s, req, std::move(respond),
      [id = *id, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        boost::json::array out;
        for (const auto& m : storage::list_members(conn, who.account_id, id))
          out.push_back(to_json(m));
        return http::ok(200, rid, kMember, std::move(out));
      });
}

// The {accountID} of a member route; 404 when it is not a UUID.
std::optional<std::string> member_param(const http::request& req, const http::responder& respond) {
  auto id = req.params.at("accountID");
  if (!http::is_uuid(id)) {
    respond(http::error(404, req.request_id, "member not found"));
    return std::nullopt;
  }
  return std::string(id);
}

void set_member_permissions(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  auto account = member_param(req, respond);
  if (!account) return;
  auto permissions = level_of(bodies::set_role.read(req.body));
  run_authenticated(
      s, req, std::move(respond),
      [&s, id = *id, account = *account, permissions, rid = req.request_id, ip = req.remote_addr](
          storage::connection& conn, const storage::principal& who) {
        auto change =
            storage::set_member_permissions(conn, who.account_id, id, account, permissions);
        if (change.before != change.now.permissions) {
          s.actors.revoke_account(account, change.revocation);  // its cached grants on every node
          log::notice(
              "security: role changed: request {} account {} from {}: account {} in household "
              "{}: {} -> {}",
              rid, who.account_id, ip, account, id, domain::name_of(change.before),
              domain::name_of(change.now.permissions));
        }
        return http::ok(200, rid, kMember, {to_json(change.now)});
      });
}

// Removes a member (owners), or the caller leaves (its own account id).
void remove_member(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  auto account = member_param(req, respond);
  if (!account) return;
  run_authenticated(
      s, req, std::move(respond),
      [&s, id = *id, account = *account, rid = req.request_id, ip = req.remote_addr](
          storage::connection& conn, const storage::principal& who) {
        auto removal = storage::remove_member(conn, who.account_id, id, account);
        const auto& removed = removal.removed;
        // its grants and streams, on every node
        s.actors.revoke_account(account, removal.revocation);
        if (account == who.account_id)
          log::notice("security: member left: request {} account {} from {}: household {} ({})",
                      rid, who.account_id, ip, id, domain::name_of(removed.permissions));
        else
          log::notice(
              "security: member removed: request {} account {} from {}: account {} leaves "
              "household {} ({})",
              rid, who.account_id, ip, account, id, domain::name_of(removed.permissions));
        return http::ok(200, rid, kMember, {});
      });
}

// --- invitations by e-mail (storage/invitations.hpp) -------------------------

// POST /api/v1/auth/households/{id}/invitations {emailAddress, permissions}
// (owners): with smtpURL the invitee is e-mailed a link (valid 7 days,
// once); without, the answer carries the `link` for the owner to pass on.
void invite(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  auto in = bodies::invite.read(req.body);
  auto email = in.at("emailAddress");
  auto permissions = level_of(in);
  const auto& ip = req.remote_addr;
  auto topic = account_mail_topic(s);
  if (topic)
    if (auto refused = mail_refused(s, req, email, "invitation"))
      return respond(std::move(*refused));
  run_authenticated(
      s, req, std::move(respond),
      [&s, id = *id, email, permissions, topic, ip, base = public_base_url(s, req),
       rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        std::function<void(pqxx::work&, const std::string&)> publish;
        if (topic)
          publish = [&](pqxx::work& tx, const std::string& request) {
            topic->publish(tx, account_mail{request, base});
          };
        auto invitation = storage::invite(conn, who.account_id, id, email, permissions, publish);
        auto out = to_json(invitation);
        if (!topic)  // no e-mail: the owner gets the link
          if (auto issued = storage::issue_token(conn, invitation.id))
            out["link"] = base + "/#invitation=" + issued->token;
        log::notice("security: invitation {}: request {} account {} from {}: household {} as {}",
                    invitation.id, rid, who.account_id, ip, id, domain::name_of(permissions));
        return http::ok(201, rid, kInvitation, {std::move(out)});
      });
}

// GET /api/v1/auth/households/{id}/invitations (owners): pending ones.
void list_invitations(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  run_authenticated(
      s, req, std::move(respond),
      [id = *id, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        boost::json::array out;
        for (const auto& i : storage::list_invitations(conn, who.account_id, id))
          out.push_back(to_json(i));
        return http::ok(200, rid, kInvitation, std::move(out));
      });
}

// DELETE /api/v1/auth/households/{id}/invitations/{invitationID} (owners):
// its link stops working.
void withdraw_invitation(services& s, const http::request& req, http::responder respond) {
  auto id = household_param(req, respond);
  if (!id) return;
  const auto invitation = req.params.at("invitationID");
  if (!http::is_uuid(invitation))
    return respond(http::error(404, req.request_id, "invitation not found"));
  run_authenticated(s, req, std::move(respond),
                    [id = *id, invitation, rid = req.request_id](storage::connection& conn,
                                                                 const storage::principal& who) {
                      storage::withdraw_invitation(conn, who.account_id, id, invitation);
                      return http::ok(200, rid, kInvitation, {});
                    });
}

// POST /api/v1/auth/invitations/accept {token}: the caller joins the
// invitation's household at its level; its streams reconnect with it. A
// bad token is 400 (counted against the client's IP as an unknown session
// key is); a member already, 409 (the token stays unused).
void accept_invitation(services& s, const http::request& req, http::responder respond) {
  auto token = bodies::accept_invitation.read(req.body).at("token");
  const auto& ip = req.remote_addr;
  if (auto refused = token_throttled(s, req)) return respond(std::move(*refused));
  run_authenticated(
      s, req, std::move(respond),
      [&s, token, ip, rid = req.request_id](storage::connection& conn,
                                            const storage::principal& who) {
        auto joined = storage::accept_invitation(conn, who.account_id, token);
        if (!joined) refuse_token(s, ip, rid, "invitation", who.account_id);
        s.actors.revoke_account(who.account_id);  // its cached household list grew
        log::notice(
            "security: member added by invitation: request {} account {} from {}: joins "
            "household {} as {}",
            rid, who.account_id, ip, joined->household_id, domain::name_of(joined->permissions));
        return http::ok(201, rid, kMember, {to_json(*joined)});
      });
}

}  // namespace

constexpr const char* kMemberSchema = R"({"type":"object","properties":{
  "authHouseholdID":{"type":"string","format":"uuid"},
  "authAccountID":{"type":"string","format":"uuid"},
  "emailAddress":{"type":"string"},
  "permissions":{"type":"string","enum":["owner","edit","view"]}}})";

constexpr const char* kInvitationSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},
  "authHouseholdID":{"type":"string","format":"uuid"},
  "emailAddress":{"type":"string"},
  "permissions":{"type":"string","enum":["owner","edit","view"]},
  "created":{"type":"string","format":"date-time"},
  "expires":{"type":"string","format":"date-time"},
  "link":{"type":"string","description":"without smtpURL only, on creation"}}})";

constexpr const char* kHouseholdSchema = R"({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},"name":{"type":"string"},
  "permissions":{"type":"string","enum":["owner","edit","view"]},
  "timeZone":{"type":"string","description":"IANA time zone name"},
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
                  .request_schema = bodies::create_household.schema(),
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
                  .request_schema = bodies::add_member.schema(),
                  .data_type = kMember,
                  .data_schema = kMemberSchema,
                  .success = 201,
                  .idempotency_key = true}}});
  r.add({"GET",
         "/api/v1/auth/households/{id}",
         std::bind(get_household, std::ref(s), _1, _2),
         {.doc = {.summary = "One of the caller's households",
                  .tag = "households",
                  .data_type = kHousehold,
                  .data_schema = kHouseholdSchema}}});
  r.add({"PUT",
         "/api/v1/auth/households/{id}",
         std::bind(update_household, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Rename a household or set its time zone (owner only)",
                  .tag = "households",
                  .request_schema = bodies::update_household.schema(),
                  .data_type = kHousehold,
                  .data_schema = kHouseholdSchema}}});
  r.add({"DELETE",
         "/api/v1/auth/households/{id}",
         std::bind(delete_household, std::ref(s), _1, _2),
         {.doc = {.summary = "Delete a household and every row of it (owner only); its members' "
                             "streams reconnect without it",
                  .tag = "households",
                  .data_type = kHousehold,
                  .data_schema = kHouseholdSchema}}});
  r.add({"GET",
         "/api/v1/auth/households/{id}/members",
         std::bind(list_members, std::ref(s), _1, _2),
         {.doc = {.summary = "The household's members (any member)",
                  .tag = "households",
                  .data_type = kMember,
                  .data_schema = kMemberSchema}}});
  r.add({"PUT",
         "/api/v1/auth/households/{id}/members/{accountID}",
         std::bind(set_member_permissions, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Change a member's role (owner only; the last owner stays one)",
                  .tag = "households",
                  .request_schema = bodies::set_role.schema(),
                  .data_type = kMember,
                  .data_schema = kMemberSchema}}});
  r.add({"DELETE",
         "/api/v1/auth/households/{id}/members/{accountID}",
         std::bind(remove_member, std::ref(s), _1, _2),
         {.doc = {.summary = "Remove a member (owner), or leave (your own account id); the last "
                             "owner cannot leave",
                  .tag = "households",
                  .data_type = kMember,
                  .data_schema = kMemberSchema}}});
  r.add({"POST",
         "/api/v1/auth/households/{id}/invitations",
         std::bind(invite, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Invite an e-mail address (owner only): a single-use link valid 7 "
                             "days, e-mailed to it, or returned as `link` without smtpURL",
                  .tag = "households",
                  .request_schema = bodies::invite.schema(),
                  .data_type = kInvitation,
                  .data_schema = kInvitationSchema,
                  .success = 201}}});
  r.add({"GET",
         "/api/v1/auth/households/{id}/invitations",
         std::bind(list_invitations, std::ref(s), _1, _2),
         {.doc = {.summary = "The household's pending invitations (owner only), newest first",
                  .tag = "households",
                  .data_type = kInvitation,
                  .data_schema = kInvitationSchema}}});
  r.add({"DELETE",
         "/api/v1/auth/households/{id}/invitations/{invitationID}",
         std::bind(withdraw_invitation, std::ref(s), _1, _2),
         {.doc = {.summary = "Withdraw a pending invitation (owner only): its link stops working",
                  .tag = "households",
                  .data_type = kInvitation}}});
  r.add({"POST",
         "/api/v1/auth/invitations/accept",
         std::bind(accept_invitation, std::ref(s), _1, _2),
         {.json_body = true,
          .doc = {.summary = "Join a household with an invitation's token (the caller's "
                             "streams reconnect with it)",
                  .tag = "households",
                  .request_schema = bodies::accept_invitation.schema(),
                  .data_type = kMember,
                  .data_schema = kMemberSchema,
                  .success = 201}}});
}

}  // namespace hearth::api
