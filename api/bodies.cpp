#include "api/bodies.hpp"

namespace hearth::api::bodies {
namespace {

using kind = http::field_spec::kind;

http::field_spec text(const char* name, std::size_t min, std::size_t max, bool required = true) {
  return {name, kind::text, required, min, max, {}};
}
http::field_spec email(const char* name) { return {name, kind::email, true, 3, 254, {}}; }
http::field_spec level() {
  return {"permissions", kind::one_of, true, 1, 0, {"owner", "edit", "view"}};
}

}  // namespace

const http::body_spec signup{
    {email("emailAddress"), text("password", 8, 1024), text("name", 1, 200)}};
const http::body_spec signin{{text("emailAddress", 1, 254), text("password", 1, 1024)}};
const http::body_spec rename_account{{text("name", 1, 200)}};
const http::body_spec delete_account{{text("password", 1, 1024)}};
const http::body_spec change_password{{text("password", 1, 1024), text("newPassword", 8, 1024)}};
const http::body_spec change_email{{text("password", 1, 1024), email("emailAddress")}};
const http::body_spec password_reset{{email("emailAddress")}};
const http::body_spec reset_confirm{{text("token", 1, 64), text("newPassword", 8, 1024)}};
const http::body_spec email_confirm{{text("token", 1, 64)}};

const http::body_spec create_household{{text("name", 1, 200), text("timeZone", 1, 64, false)}};
const http::body_spec update_household{
    {text("name", 1, 200, false), text("timeZone", 1, 64, false)}, 1};
const http::body_spec add_member{{text("emailAddress", 1, 254), level()}};
const http::body_spec set_role{{level()}};
const http::body_spec invite{{email("emailAddress"), level()}};
const http::body_spec accept_invitation{{text("token", 1, 64)}};

}  // namespace hearth::api::bodies
