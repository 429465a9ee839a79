#pragma once
// A JSON request body declared once (issue of one declaration per route):
// its fields with their types and limits. The same declaration validates a
// request (read()), writes the route's OpenAPI schema (schema()) and drives
// the HTTP fuzz harness's route table (fuzz/routes.cpp), so the three
// cannot disagree. No Beast, no database: the fuzz build compiles it.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::http {

/// One field of a body.
struct field_spec {
  enum class kind {
    text,     // a string of min..max bytes (max 0: no limit), no NUL
    email,    // an address as sign-up takes it: 3..254 bytes, one '@' not at
              // either end, no spaces, controls or '<>'
    boolean,  // true or false
    one_of,   // one of `values`
  };
  std::string name;
  kind type = kind::text;
  bool required = true;
  std::size_t min = 1, max = 0;     // text only
  std::vector<std::string> values;  // one_of only
};

/// The fields of a body as read: texts (email and one_of included) and
/// booleans, by name; absent optional fields are not there.
class body_fields {
 public:
  std::optional<std::string> text(std::string_view name) const;
  std::optional<bool> flag(std::string_view name) const;
  /// text() of a required field (read() guarantees it is there).
  const std::string& at(std::string_view name) const;

 private:
  friend struct body_spec;
  std::map<std::string, std::string, std::less<>> texts_;
  std::map<std::string, bool, std::less<>> flags_;
};

/// A JSON object body: `fields`, and nothing else.
struct body_spec {
  std::vector<field_spec> fields;
  /// At least this many of the fields must be given (for bodies whose
  /// fields are all optional: "request body: one of a, b required").
  std::size_t min_fields = 0;

  /// Reads and checks `body` (http::json_object_reader: one object, no
  /// duplicate field), every field in declaration order, then refuses any
  /// other field. Throws http::input_error naming the field: "<name>:
  /// required", "... must not be empty", "... must be at most N bytes",
  /// "... not an e-mail address", "... must be one of a, b, c", "<name>:
  /// unknown field".
  body_fields read(std::string_view body) const;

  /// The OpenAPI 3 schema object of the body, as JSON text:
  /// additionalProperties false, required, and per field its type,
  /// minLength/maxLength, format "email" or enum.
  std::string schema() const;
};

}  // namespace hearth::http
