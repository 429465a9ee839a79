// Households and memberships.

#include <pqxx/pqxx>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

using households = hearth_test;

TEST_F(households, create_makes_the_caller_owner) {
  auto user = new_user("hhowner");
  auto res = create_household_response(user.key, "Home");
  check_envelope(res, 201, "AuthHousehold");
  auto hh = first_value(res);
  EXPECT_FALSE(str(hh, "id").empty());
  EXPECT_EQ(str(hh, "name"), "Home");
  EXPECT_EQ(str(hh, "permissions"), "owner");
  EXPECT_TRUE(hh.contains("created"));
  EXPECT_TRUE(hh.contains("updated"));
}

TEST_F(households, list_shows_only_the_callers_households_with_their_permissions) {
  auto alice = new_user("alice");
  auto bob = new_user("bob");
  const auto a1 = create_household(alice.key, "Alice 1");
  const auto a2 = create_household(alice.key, "Alice 2");
  const auto b1 = create_household(bob.key, "Bob 1");
  add_member(bob.key, b1, alice.email, "view");

  auto res = http().request_as(alice.key, "GET", "/api/v1/auth/households");
  auto env = check_envelope(res, 200, "AuthHousehold");
  std::map<std::string, std::string> perms;  // id -> permissions
  for (const auto& v : env.at("dataValue").as_array()) {
    perms[str(v.as_object(), "id")] = str(v.as_object(), "permissions");
  }
  EXPECT_EQ(perms.size(), 3u) << res.body;
  EXPECT_EQ(perms[a1], "owner");
  EXPECT_EQ(perms[a2], "owner");
  EXPECT_EQ(perms[b1], "view");
  EXPECT_EQ(env.at("dataTotal").to_number<int>(), 3);

  auto bobs = http().request_as(bob.key, "GET", "/api/v1/auth/households").json().as_object();
  ASSERT_EQ(bobs.at("dataValue").as_array().size(), 1u);
  EXPECT_EQ(str(bobs.at("dataValue").as_array()[0].as_object(), "id"), b1);
}

TEST_F(households, owner_adds_a_member) {
  auto owner = new_user("owner");
  auto other = new_user("other");
  const auto hh = create_household(owner.key, "Shared");
  auto res = add_member_response(owner.key, hh, other.email, "edit");
  check_envelope(res, 201, "AuthHouseholdMember");
  auto member = first_value(res);
  EXPECT_EQ(str(member, "authHouseholdID"), hh);
  EXPECT_EQ(str(member, "authAccountID"), other.account_id);
  EXPECT_EQ(str(member, "emailAddress"), other.email);
  EXPECT_EQ(str(member, "permissions"), "edit");

  // The new member now sees the household.
  auto list = http().request_as(other.key, "GET", "/api/v1/auth/households").json().as_object();
  ASSERT_EQ(list.at("dataValue").as_array().size(), 1u);
  EXPECT_EQ(str(list.at("dataValue").as_array()[0].as_object(), "permissions"), "edit");
}

TEST_F(households, added_owner_can_add_members_too) {
  auto owner = new_user("owner1");
  auto second = new_user("owner2");
  auto third = new_user("member3");
  const auto hh = create_household(owner.key, "Two owners");
  add_member(owner.key, hh, second.email, "owner");
  check_envelope(add_member_response(second.key, hh, third.email, "view"), 201,
                 "AuthHouseholdMember");
}

TEST_F(households, non_owner_member_gets_403) {
  auto owner = new_user("owner");
  auto editor = new_user("editor");
  auto viewer = new_user("viewer");
  auto outsider = new_user("outsider");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, editor.email, "edit");
  add_member(owner.key, hh, viewer.email, "view");
  check_envelope(add_member_response(editor.key, hh, outsider.email, "view"), 403);
  check_envelope(add_member_response(viewer.key, hh, outsider.email, "view"), 403);
}

TEST_F(households, non_member_gets_404) {
  auto owner = new_user("owner");
  auto stranger = new_user("stranger");
  auto target = new_user("target");
  const auto hh = create_household(owner.key, "Private");
  check_envelope(add_member_response(stranger.key, hh, target.email, "view"), 404);
  // A household id that does not exist at all looks the same.
  check_envelope(add_member_response(stranger.key, "00000000-0000-4000-8000-000000000000",
                                     target.email, "view"),
                 404);
}

TEST_F(households, unknown_email_is_404) {
  auto owner = new_user("owner");
  const auto hh = create_household(owner.key, "Home");
  check_envelope(add_member_response(owner.key, hh, unique_email("ghost"), "view"), 404);
}

TEST_F(households, existing_member_is_409) {
  auto owner = new_user("owner");
  auto other = new_user("other");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, other.email, "view");
  check_envelope(add_member_response(owner.key, hh, other.email, "edit"), 409);
  check_envelope(add_member_response(owner.key, hh, owner.email, "owner"), 409);
}

TEST_F(households, bad_permissions_value_is_400) {
  auto owner = new_user("owner");
  auto other = new_user("other");
  const auto hh = create_household(owner.key, "Home");
  check_envelope(add_member_response(owner.key, hh, other.email, "admin-ish"), 400);
  check_envelope(add_member_response(owner.key, hh, other.email, ""), 400);
  // Nothing was added.
  check_envelope(add_member_response(owner.key, hh, other.email, "view"), 201,
                 "AuthHouseholdMember");
}

TEST_F(households, create_requires_a_name) {
  auto user = new_user("noname");
  auto res = http().request_as(user.key, "POST", "/api/v1/auth/households", "{}");
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("name"), std::string::npos) << res.body;
}

// Households run themselves: get one, rename, list members, change roles,
// remove members, leave, delete.

std::string household_path(const std::string& h) { return "/api/v1/auth/households/" + h; }
std::string member_path(const std::string& h, const std::string& account) {
  return household_path(h) + "/members/" + account;
}
std::string role_body(const std::string& permissions) {
  return json::serialize(json::object{{"permissions", permissions}});
}

TEST_F(households, a_member_gets_one_household_and_an_owner_renames_it) {
  auto owner = new_user("getowner");
  auto editor = new_user("geteditor");
  auto outsider = new_user("getoutsider");
  const auto hh = create_household(owner.key, "Before");
  add_member(owner.key, hh, editor.email, "edit");

  auto got = http().request_as(editor.key, "GET", household_path(hh));
  check_envelope(got, 200, "AuthHousehold");
  EXPECT_EQ(str(first_value(got), "name"), "Before");
  EXPECT_EQ(str(first_value(got), "permissions"), "edit");
  check_envelope(http().request_as(outsider.key, "GET", household_path(hh)), 404);
  check_envelope(http().request_as(owner.key, "GET", household_path("not-a-uuid")), 404);

  const auto rename = json::serialize(json::object{{"name", "After"}});
  check_envelope(http().request_as(editor.key, "PUT", household_path(hh), rename), 403);
  check_envelope(http().request_as(outsider.key, "PUT", household_path(hh), rename), 404);
  check_envelope(http().request_as(owner.key, "PUT", household_path(hh), "{\"name\":\"\"}"), 400);
  auto renamed = http().request_as(owner.key, "PUT", household_path(hh), rename);
  check_envelope(renamed, 200, "AuthHousehold");
  EXPECT_EQ(str(first_value(renamed), "name"), "After");
  EXPECT_EQ(str(first_value(http().request_as(editor.key, "GET", household_path(hh))), "name"),
            "After");
}

TEST_F(households, members_are_listed_to_members_only) {
  auto owner = new_user("listowner");
  auto viewer = new_user("listviewer");
  auto outsider = new_user("listoutsider");
  const auto hh = create_household(owner.key, "Listed");
  add_member(owner.key, hh, viewer.email, "view");
  auto res = http().request_as(viewer.key, "GET", household_path(hh) + "/members");
  auto env = check_envelope(res, 200, "AuthHouseholdMember");
  std::map<std::string, std::string> roles;  // email → permissions
  for (const auto& v : env.at("dataValue").as_array())
    roles[str(v.as_object(), "emailAddress")] = str(v.as_object(), "permissions");
  EXPECT_EQ(roles.size(), 2u) << res.body;
  EXPECT_EQ(roles[owner.email], "owner");
  EXPECT_EQ(roles[viewer.email], "view");
  check_envelope(http().request_as(outsider.key, "GET", household_path(hh) + "/members"), 404);
}

TEST_F(households, an_owner_changes_roles_and_the_last_owner_stays_one) {
  auto owner = new_user("roleowner");
  auto member = new_user("rolemember");
  const auto hh = create_household(owner.key, "Roles");
  add_member(owner.key, hh, member.email, "edit");
  create_item(member.key, hh, "allowed while editor");

  // Only an owner changes roles; a bad value is 400, an unknown member 404.
  check_envelope(
      http().request_as(member.key, "PUT", member_path(hh, member.account_id), role_body("owner")),
      403);
  check_envelope(
      http().request_as(owner.key, "PUT", member_path(hh, member.account_id), role_body("admin")),
      400);
  check_envelope(http().request_as(owner.key, "PUT", member_path(hh, new_user("x").account_id),
                                   role_body("view")),
                 404);
  // The last owner cannot stop being one.
  auto demote_self =
      http().request_as(owner.key, "PUT", member_path(hh, owner.account_id), role_body("edit"));
  check_envelope(demote_self, 409);
  EXPECT_NE(message_of(demote_self).find("last owner"), std::string::npos) << demote_self.body;

  // View-only now: the member's next write is refused at once (no cached grant survives).
  auto changed =
      http().request_as(owner.key, "PUT", member_path(hh, member.account_id), role_body("view"));
  check_envelope(changed, 200, "AuthHouseholdMember");
  EXPECT_EQ(str(first_value(changed), "permissions"), "view");
  check_envelope(http().request_as(
                     member.key, "POST", "/api/v1/shop/items",
                     json::serialize(json::object{{"authHouseholdID", hh}, {"name", "refused"}})),
                 403);
  // A second owner: now the first may step down.
  check_envelope(
      http().request_as(owner.key, "PUT", member_path(hh, member.account_id), role_body("owner")),
      200);
  check_envelope(
      http().request_as(owner.key, "PUT", member_path(hh, owner.account_id), role_body("view")),
      200);
  const auto log = hearth_->log();
  EXPECT_NE(log.find("security: role changed: request "), std::string::npos) << log;
  EXPECT_NE(log.find("account " + member.account_id + " in household " + hh + ": edit -> view"),
            std::string::npos)
      << log;
}

// A removed member loses the household at once: reads 404, and an open
// stream gets the `reconnect` event and ends; reconnecting with its cursor,
// the new stream no longer carries the household, and its events stop.
TEST_F(households, a_removed_members_stream_reconnects_without_the_household) {
  auto owner = new_user("rmowner");
  auto member = new_user("rmmember");
  const auto shared = create_household(owner.key, "Shared");
  const auto own = create_household(member.key, "Own");
  add_member(owner.key, shared, member.email, "edit");

  auto sse = open_sse(member.key);
  create_item(owner.key, shared, "seen");
  auto first = next_change(*sse);
  ASSERT_TRUE(first) << "the member's stream carries the shared household";
  EXPECT_EQ(str(change_data(*first), "authHouseholdID"), shared);

  // Only an owner removes others.
  check_envelope(http().request_as(member.key, "DELETE", member_path(shared, owner.account_id)),
                 403);
  check_envelope(http().request_as(owner.key, "DELETE", member_path(shared, member.account_id)),
                 200, "AuthHouseholdMember");
  auto reconnect = next_event(*sse, "reconnect", 10s);
  ASSERT_TRUE(reconnect) << "the stream was told to reconnect";
  EXPECT_EQ(reconnect->data, R"({"reason":"account"})");
  EXPECT_FALSE(sse->next(5s)) << "nothing after it";
  EXPECT_TRUE(sse->closed()) << "the stream ended";

  check_envelope(http().request_as(member.key, "GET", household_path(shared)), 404);
  // A list narrowed to a household the caller is not in is empty (docs/api.md).
  auto items = http().request_as(member.key, "GET", "/api/v1/shop/items?authHouseholdID=" + shared);
  EXPECT_EQ(check_envelope(items, 200).at("dataTotal").to_number<int>(), 0) << items.body;

  // The reconnected stream: the member's own household only.
  auto again = open_sse(member.key, {{"Last-Event-ID", first->id}});
  create_item(owner.key, shared, "not for the removed member");
  create_item(member.key, own, "own");
  auto next = next_change(*again);
  ASSERT_TRUE(next);
  EXPECT_EQ(str(change_data(*next), "authHouseholdID"), own) << next->data;

  const auto log = hearth_->log();
  EXPECT_NE(log.find("security: member removed: request "), std::string::npos) << log;
  EXPECT_NE(log.find("account " + member.account_id + " leaves household " + shared),
            std::string::npos)
      << log;
}

// A stream picks up a household its account joins: the join ends it with
// `reconnect`, and the new stream carries the new household.
TEST_F(households, a_stream_picks_up_a_household_its_account_joins) {
  auto owner = new_user("joinowner");
  auto member = new_user("joinmember");
  const auto hh = create_household(owner.key, "Joined later");
  const auto own = create_household(member.key, "Own");
  auto sse = open_sse(member.key);
  create_item(member.key, own, "mine");
  auto first = next_change(*sse);
  ASSERT_TRUE(first);
  add_member(owner.key, hh, member.email, "view");
  auto reconnect = next_event(*sse, "reconnect", 10s);
  ASSERT_TRUE(reconnect);
  auto again = open_sse(member.key, {{"Last-Event-ID", first->id}});
  create_item(owner.key, hh, "for the new member");
  auto next = next_change(*again);
  ASSERT_TRUE(next);
  EXPECT_EQ(str(change_data(*next), "authHouseholdID"), hh) << next->data;
}

TEST_F(households, members_leave_but_the_last_owner_cannot) {
  auto owner = new_user("leaveowner");
  auto member = new_user("leavemember");
  const auto hh = create_household(owner.key, "Leaving");
  add_member(owner.key, hh, member.email, "view");
  auto last = http().request_as(owner.key, "DELETE", member_path(hh, owner.account_id));
  check_envelope(last, 409);
  EXPECT_NE(message_of(last).find("last owner"), std::string::npos) << last.body;
  // Any member may leave, view-only included.
  check_envelope(http().request_as(member.key, "DELETE", member_path(hh, member.account_id)), 200,
                 "AuthHouseholdMember");
  check_envelope(http().request_as(member.key, "GET", household_path(hh)), 404);
  // Gone already.
  check_envelope(http().request_as(member.key, "DELETE", member_path(hh, member.account_id)), 404);
  EXPECT_NE(hearth_->log().find("security: member left: request "), std::string::npos);
}

TEST_F(households, an_owner_deletes_a_household_with_every_row) {
  auto owner = new_user("delowner");
  auto editor = new_user("deleditor");
  const auto hh = create_household(owner.key, "Doomed");
  const auto kept = create_household(owner.key, "Kept");
  add_member(owner.key, hh, editor.email, "edit");
  create_item(editor.key, hh, "goes");
  create_item(owner.key, kept, "stays");
  auto sse = open_sse(editor.key);

  check_envelope(http().request_as(editor.key, "DELETE", household_path(hh)), 403);
  check_envelope(http().request_as(owner.key, "DELETE", household_path(hh)), 200, "AuthHousehold");
  check_envelope(http().request_as(owner.key, "GET", household_path(hh)), 404);
  check_envelope(http().request_as(editor.key, "GET", household_path(hh)), 404);
  const auto items_of = [&](const std::string& h) {
    pqxx::connection db{database_url_};
    pqxx::read_transaction tx{db};
    return tx.exec_params1("SELECT count(*) FROM shop_item WHERE auth_household_id = $1", h)[0]
        .as<int>();
  };
  EXPECT_EQ(items_of(hh), 0) << "every row of the household went";
  EXPECT_EQ(items_of(kept), 1);
  auto reconnect = next_event(*sse, "reconnect", 10s);
  EXPECT_TRUE(reconnect) << "a member's stream reconnects without the deleted household";
  EXPECT_NE(hearth_->log().find("security: household deleted: request "), std::string::npos);
}

TEST_F(households, a_household_has_a_time_zone_that_its_owners_set) {
  auto owner = new_user("zoned");
  auto editor = new_user("zone-editor");
  // Without one: UTC.
  auto plain = create_household_response(owner.key, "Plain");
  check_envelope(plain, 201, "AuthHousehold");
  EXPECT_EQ(str(first_value(plain), "timeZone"), "UTC");
  auto paris = http().request_as(
      owner.key, "POST", "/api/v1/auth/households",
      json::serialize(json::object{{"name", "Paris"}, {"timeZone", "Europe/Paris"}}));
  check_envelope(paris, 201, "AuthHousehold");
  const auto id = str(first_value(paris), "id");
  EXPECT_EQ(str(first_value(paris), "timeZone"), "Europe/Paris");
  auto unknown = http().request_as(
      owner.key, "POST", "/api/v1/auth/households",
      json::serialize(json::object{{"name", "Nowhere"}, {"timeZone", "Mars/Olympus_Mons"}}));
  check_envelope(unknown, 400);
  EXPECT_EQ(message_of(unknown).rfind("timeZone: not an IANA time zone name", 0), 0u)
      << message_of(unknown);
  add_member(owner.key, id, editor.email, "edit");

  auto put = [&](const std::string& key, const json::object& body) {
    return http().request_as(key, "PUT", "/api/v1/auth/households/" + id, json::serialize(body));
  };
  auto moved = put(owner.key, {{"timeZone", "Asia/Tokyo"}});
  check_envelope(moved, 200, "AuthHousehold");
  EXPECT_EQ(str(first_value(moved), "timeZone"), "Asia/Tokyo");
  EXPECT_EQ(str(first_value(moved), "name"), "Paris") << "the name stays";
  check_envelope(put(owner.key, json::object{}), 400);
  check_envelope(put(owner.key, {{"timeZone", "Not/AZone"}}), 400);
  check_envelope(put(editor.key, {{"timeZone", "UTC"}}), 403);
  auto seen = http().request_as(editor.key, "GET", "/api/v1/auth/households/" + id);
  EXPECT_EQ(str(first_value(seen), "timeZone"), "Asia/Tokyo");
  auto renamed = put(owner.key, {{"name", "Tokyo"}});
  EXPECT_EQ(str(first_value(renamed), "timeZone"), "Asia/Tokyo") << "the zone stays";
}

}  // namespace
}  // namespace hearth::testing
