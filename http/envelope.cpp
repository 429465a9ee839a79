#include "http/envelope.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <boost/json/serialize.hpp>

namespace hearth::http {
namespace {

// JSON text is UTF-8 (RFC 8259 §8.1), and Boost.JSON writes a string's bytes
// as they are. A message may quote the request, whose percent-decoded path
// or query can be any bytes ("/%E2%9C"): when it is not valid UTF-8, its
// non-ASCII bytes are percent-encoded again, as the client sent them.
std::string utf8_message(std::string_view message) {
  if (simdjson::validate_utf8(message.data(), message.size())) return std::string(message);
  std::string out;
  out.reserve(message.size() * 3);
  for (char c : message) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80)
      out += c;
    else
      out += fmt::format("%{:02X}", byte);
  }
  return out;
}

response make(unsigned status, const std::string& request_id, const std::string& data_type,
              boost::json::array values, const std::string& message) {
  boost::json::object o;
  o["success"] = status < 400;
  o["status"] = status;
  o["message"] = message;
  o["requestID"] = request_id;
  o["dataType"] = data_type;
  o["dataTotal"] = values.size();
  o["dataValue"] = std::move(values);
  response r;
  r.status = status;
  r.body = boost::json::serialize(o);
  return r;
}

}  // namespace

response ok(unsigned status, const std::string& request_id, const std::string& data_type,
            boost::json::array values) {
  return make(status, request_id, data_type, std::move(values), "");
}

response ok_serialized(unsigned status, const std::string& request_id, const std::string& data_type,
                       std::size_t total, std::string_view values_json,
                       std::string_view extra_members) {
  // The same members in the same order as make(); only the strings that
  // come from outside are escaped by Boost.JSON.
  auto rid = boost::json::serialize(boost::json::string(request_id));
  auto type = boost::json::serialize(boost::json::string(data_type));
  response r;
  r.status = status;
  r.body.reserve(values_json.size() + extra_members.size() + rid.size() + type.size() + 100);
  r.body += R"({"success":true,"status":)";
  r.body += std::to_string(status);
  r.body += R"(,"message":"","requestID":)";
  r.body += rid;
  r.body += R"(,"dataType":)";
  r.body += type;
  r.body += R"(,"dataTotal":)";
  r.body += std::to_string(total);
  r.body += R"(,"dataValue":)";
  r.body += values_json;
  r.body += extra_members;
  r.body += '}';
  return r;
}

response envelope(unsigned status, const std::string& request_id, const std::string& data_type,
                  boost::json::array values, const std::string& message) {
  return make(status, request_id, data_type, std::move(values), message);
}

response error(unsigned status, const std::string& request_id, const std::string& message) {
  return make(status, request_id, "", {},
              message.empty() ? default_message(status) : utf8_message(message));
}

const char* default_message(unsigned status) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "authentication required: sign in and send the session key";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 406:
      return "not acceptable: this endpoint produces application/json";
    case 408:
      return "request timeout";
    case 409:
      return "conflict";
    case 413:
      return "request body too large";
    case 415:
      return "unsupported media type: send Content-Type: application/json";
    case 429:
      return "too many requests";
    case 431:
      return "request header fields too large";
    case 500:
      return "internal server error";
    case 503:
      return "service unavailable: try again";
    default:
      return "";
  }
}

}  // namespace hearth::http
