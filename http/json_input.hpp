#pragma once
// Strict JSON request bodies, parsed with simdjson's DOM parser (which
// validates the whole document). A body must be one JSON object; every field
// is read at most once and checked for type and limits; unknown and
// duplicate fields are rejected. Every failure is an input_error whose
// message names the field, for a 400 in the envelope.

#include <simdjson.h>

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hearth::http {

/// A client error in the request (→ 400 with this message).
struct input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class json_object_reader {
 public:
  /// Parses `body`. Throws input_error when it is empty, not valid JSON, not
  /// an object, or has a duplicate field.
  explicit json_object_reader(std::string_view body);

  /// True when the field is present (even as null).
  bool has(std::string_view field) const;
  /// True when the field is present and null.
  bool is_null(std::string_view field) const;

  /// A string field of min..max bytes (UTF-8 is validated by the parser);
  /// nullopt when absent (or null, if `nullable`). Throws input_error when
  /// required and absent, or of the wrong type or length.
  std::optional<std::string> string(std::string_view field, bool required, std::size_t min_length,
                                    std::size_t max_length, bool nullable = false);
  /// A boolean field; nullopt when absent.
  std::optional<bool> boolean(std::string_view field, bool required);

  /// Marks `field` as read without checking its value: a member the
  /// caller accepts and ignores (the read-only `created` of a representation
  /// sent back by PUT). Absent is fine.
  void ignore(std::string_view field) { read_.emplace(field); }

  /// Throws input_error naming the first field that was not read.
  void reject_unknown() const;
  /// Number of fields in the object.
  std::size_t size() const { return fields_; }

 private:
  simdjson::padded_string json_;
  simdjson::dom::parser parser_;
  simdjson::dom::object object_;
  std::set<std::string, std::less<>> read_;
  std::size_t fields_ = 0;
};

/// True for "YYYY-MM-DD" naming a real calendar date.
bool is_iso_date(std::string_view text);

/// An RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (or "+00:00"),
/// normalised to hearth's form "YYYY-MM-DDTHH:MM:SS.ffffffZ" (fraction cut
/// to microseconds, PostgreSQL's precision); nullopt when malformed, not UTC
/// or not a real date and time.
std::optional<std::string> utc_timestamp(std::string_view text);

/// True for a canonical UUID text (8-4-4-4-12 hex digits).
bool is_uuid(std::string_view text);

}  // namespace hearth::http
