#pragma once
// The household permission policy: one place that says what a member of
// each level may do in its household (docs/api.md, "Households"). Storage,
// the group commit, the API and the modules ask it; none compares
// permission names itself. Depends on nothing but the standard library.

#include <optional>
#include <string_view>
#include <vector>

namespace hearth::domain {

/// A member's level in one household, from least to most: each may do
/// what the one before it may. Stored and sent as "view", "edit", "owner".
enum class permission { view, edit, owner };

/// The level named `name` ("view", "edit", "owner"); nullopt otherwise.
std::optional<permission> permission_named(std::string_view name);

/// The name of `p`: "view", "edit" or "owner".
std::string_view name_of(permission p);

/// What an account asks to do in a household.
enum class household_action {
  read,    // see the household, its rows and its members
  write,   // create, change, move or delete its rows (and import into it)
  manage,  // rename or delete it; add, invite, re-role or remove members
};

/// The policy's answer. A non-member gets not_found, never forbidden, so
/// a household's existence is never told to an outsider.
enum class verdict { allowed, not_found, forbidden };

/// May an account whose level in the household is `level` (nullopt: not a
/// member) do `action` there? read: any member; write: edit and owner;
/// manage: owner. (A member may always leave, and the last owner may not
/// stop being one: rules about the members, kept where they are counted,
/// storage/households.cpp.)
verdict may(std::optional<permission> level, household_action action);

/// The levels that may do `action` (may() allows it), least first: for a
/// check that runs inside one SQL statement.
std::vector<permission> levels_allowed(household_action action);

}  // namespace hearth::domain
