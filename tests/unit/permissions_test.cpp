// The household permission policy (domain/permissions.hpp): the one rule
// every layer asks, checked level by level and action by action.

#include "domain/permissions.hpp"

#include <gtest/gtest.h>

namespace hearth::domain {
namespace {

TEST(permissions, names_round_trip_and_nothing_else_is_a_level) {
  for (auto p : {permission::view, permission::edit, permission::owner})
    EXPECT_EQ(permission_named(name_of(p)), p);
  EXPECT_EQ(permission_named("Owner"), std::nullopt);
  EXPECT_EQ(permission_named(""), std::nullopt);
  EXPECT_EQ(permission_named("admin"), std::nullopt);
  EXPECT_EQ(permission_named(std::string_view("owner\0", 6)), std::nullopt);
}

TEST(permissions, each_level_may_what_the_one_below_may_and_an_outsider_nothing) {
  using enum household_action;
  EXPECT_EQ(may(permission::view, read), verdict::allowed);
  EXPECT_EQ(may(permission::view, write), verdict::forbidden);
  EXPECT_EQ(may(permission::view, manage), verdict::forbidden);
  EXPECT_EQ(may(permission::edit, read), verdict::allowed);
  EXPECT_EQ(may(permission::edit, write), verdict::allowed);
  EXPECT_EQ(may(permission::edit, manage), verdict::forbidden);
  EXPECT_EQ(may(permission::owner, read), verdict::allowed);
  EXPECT_EQ(may(permission::owner, write), verdict::allowed);
  EXPECT_EQ(may(permission::owner, manage), verdict::allowed);
  // Not a member: not_found whatever the action, never forbidden (a
  // household's existence is not told to outsiders).
  for (auto a : {read, write, manage}) EXPECT_EQ(may(std::nullopt, a), verdict::not_found);
}

TEST(permissions, the_levels_allowed_are_those_may_allows) {
  using enum household_action;
  EXPECT_EQ(levels_allowed(read),
            (std::vector{permission::view, permission::edit, permission::owner}));
  EXPECT_EQ(levels_allowed(write), (std::vector{permission::edit, permission::owner}));
  EXPECT_EQ(levels_allowed(manage), (std::vector{permission::owner}));
}

}  // namespace
}  // namespace hearth::domain
