// Households and memberships.

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

}  // namespace
}  // namespace hearth::testing
