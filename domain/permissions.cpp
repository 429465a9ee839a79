#include "domain/permissions.hpp"

namespace hearth::domain {

std::optional<permission> permission_named(std::string_view name) {
  if (name == "view") return permission::view;
  if (name == "edit") return permission::edit;
  if (name == "owner") return permission::owner;
  return std::nullopt;
}

std::string_view name_of(permission p) {
  switch (p) {
    case permission::view:
      return "view";
    case permission::edit:
      return "edit";
    case permission::owner:
      return "owner";
  }
  return "view";
}

verdict may(std::optional<permission> level, household_action action) {
  if (!level) return verdict::not_found;
  permission needed = permission::view;
  switch (action) {
    case household_action::read:
      needed = permission::view;
      break;
    case household_action::write:
      needed = permission::edit;
      break;
    case household_action::manage:
      needed = permission::owner;
      break;
  }
  return *level >= needed ? verdict::allowed : verdict::forbidden;
}

std::vector<permission> levels_allowed(household_action action) {
  std::vector<permission> out;
  for (auto p : {permission::view, permission::edit, permission::owner})
    if (may(p, action) == verdict::allowed) out.push_back(p);
  return out;
}

}  // namespace hearth::domain
