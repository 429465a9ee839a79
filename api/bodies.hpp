#pragma once
// The JSON bodies of the account and household routes, each declared once
// (http/body_spec.hpp): api/auth_api.cpp and api/household_api.cpp read
// requests and write their OpenAPI schemas with them, and the HTTP fuzz
// harness's route table (fuzz/routes.cpp) validates with them. Limits are
// bytes. The household tables' bodies come from their table_spec
// (api/table_input.hpp) instead.

#include "http/body_spec.hpp"

namespace hearth::api::bodies {

// api/auth_api.cpp
extern const http::body_spec signup;           // {emailAddress, password 8–1024, name 1–200}
extern const http::body_spec signin;           // {emailAddress 1–254, password 1–1024}
extern const http::body_spec rename_account;   // {name 1–200}
extern const http::body_spec delete_account;   // {password}
extern const http::body_spec change_password;  // {password, newPassword 8–1024}
extern const http::body_spec change_email;     // {password, emailAddress}
extern const http::body_spec password_reset;   // {emailAddress}
extern const http::body_spec reset_confirm;    // {token 1–64, newPassword 8–1024}
extern const http::body_spec email_confirm;    // {token 1–64}

// api/household_api.cpp
extern const http::body_spec create_household;   // {name 1–200, timeZone? 1–64}
extern const http::body_spec update_household;   // {name? 1–200, timeZone? 1–64}: one at least
extern const http::body_spec add_member;         // {emailAddress 1–254, permissions}
extern const http::body_spec set_role;           // {permissions}
extern const http::body_spec invite;             // {emailAddress, permissions}
extern const http::body_spec accept_invitation;  // {token 1–64}

}  // namespace hearth::api::bodies
