#pragma once
// The response envelope of every non-SSE response (README.md, "API (v1)"):
//   {"success","status","message","requestID","dataType","dataTotal","dataValue":[...]}
// serialised with Boost.JSON (correct escaping, no string-building by hand).

#include <boost/json/array.hpp>
#include <string>
#include <string_view>

#include "http/types.hpp"

namespace hearth::http {

/// A success (2xx) envelope holding `values`.
response ok(unsigned status, const std::string& request_id, const std::string& data_type,
            boost::json::array values);

/// A success envelope around values already serialised: `values_json` is a
/// JSON array of `total` items (the read cache's bytes, copied once, not
/// re-encoded); `extra_members` is appended inside the object as further
/// serialised members, e.g. `,"dataIDs":[...]`, or empty.
response ok_serialized(unsigned status, const std::string& request_id, const std::string& data_type,
                       std::size_t total, std::string_view values_json,
                       std::string_view extra_members = {});

/// An envelope with both `values` and a `message`, success = status < 400
/// (e.g. a 503 health report that still carries what is down).
response envelope(unsigned status, const std::string& request_id, const std::string& data_type,
                  boost::json::array values, const std::string& message);

/// An error envelope: success=false, dataValue=[], `message` explains (or
/// default_message(status) when empty). A message that is not valid UTF-8
/// (it may quote a percent-decoded path) gets its non-ASCII bytes
/// percent-encoded: the body is always valid JSON (RFC 8259 §8.1).
response error(unsigned status, const std::string& request_id, const std::string& message);

/// The reason phrase style message for a status when a handler gives none.
const char* default_message(unsigned status);

}  // namespace hearth::http
