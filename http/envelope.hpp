#pragma once
// The response envelope of every non-SSE response (DESIGN.md §2):
//   {"success","status","message","requestID","dataType","dataTotal","dataValue":[...]}
// serialised with Boost.JSON (correct escaping, no string-building by hand).

#include <boost/json/array.hpp>
#include <string>

#include "http/types.hpp"

namespace hearth::http {

/// A success (2xx) envelope holding `values`.
response ok(unsigned status, const std::string& request_id, const std::string& data_type,
            boost::json::array values);

/// An error envelope: success=false, dataValue=[], `message` explains.
response error(unsigned status, const std::string& request_id, const std::string& message);

/// The reason phrase style message for a status when a handler gives none.
const char* default_message(unsigned status);

}  // namespace hearth::http
