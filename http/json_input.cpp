#include "http/json_input.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <chrono>

namespace hearth::http {

json_object_reader::json_object_reader(std::string_view body) : json_(body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw input_error("request body: a JSON object is required");
  simdjson::dom::element root;
  if (auto err = parser_.parse(json_).get(root))
    throw input_error(
        fmt::format("request body: malformed JSON ({})", simdjson::error_message(err)));
  if (root.get(object_)) throw input_error("request body: must be a JSON object");
  std::set<std::string_view> seen;
  for (auto [key, value] : object_) {
    (void)value;
    if (!seen.insert(key).second)
      throw input_error(fmt::format("{}: duplicate field", std::string(key)));
    ++fields_;
  }
}

bool json_object_reader::has(std::string_view field) const {
  simdjson::dom::element e;
  return !object_.at_key(field).get(e);
}

bool json_object_reader::is_null(std::string_view field) const {
  simdjson::dom::element e;
  return !object_.at_key(field).get(e) && e.is_null();
}

std::optional<std::string> json_object_reader::string(std::string_view field, bool required,
                                                      std::size_t min_length,
                                                      std::size_t max_length, bool nullable) {
  read_.emplace(field);
  simdjson::dom::element e;
  if (object_.at_key(field).get(e)) {
    if (required) throw input_error(fmt::format("{}: required", field));
    return std::nullopt;
  }
  if (e.is_null()) {
    if (nullable) return std::nullopt;
    throw input_error(fmt::format("{}: must be a string, not null", field));
  }
  std::string_view s;
  if (e.get(s)) throw input_error(fmt::format("{}: must be a string", field));
  // PostgreSQL text cannot hold NUL: refuse it rather than store a truncated value.
  if (s.find('\0') != std::string_view::npos)
    throw input_error(fmt::format("{}: must not contain the NUL character (\\u0000)", field));
  if (s.size() < min_length)
    throw input_error(min_length == 1
                          ? fmt::format("{}: must not be empty", field)
                          : fmt::format("{}: must be at least {} bytes", field, min_length));
  if (max_length && s.size() > max_length)
    throw input_error(fmt::format("{}: must be at most {} bytes", field, max_length));
  return std::string(s);
}

std::optional<bool> json_object_reader::boolean(std::string_view field, bool required) {
  read_.emplace(field);
  simdjson::dom::element e;
  if (object_.at_key(field).get(e)) {
    if (required) throw input_error(fmt::format("{}: required", field));
    return std::nullopt;
  }
  bool b = false;
  if (e.get(b)) throw input_error(fmt::format("{}: must be true or false", field));
  return b;
}

void json_object_reader::reject_unknown() const {
  for (auto [key, value] : object_) {
    (void)value;
    if (!read_.count(key)) throw input_error(fmt::format("{}: unknown field", std::string(key)));
  }
}

bool is_iso_date(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return false;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    for (std::size_t i = pos; i < pos + len; ++i)
      if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
    std::from_chars(t.data() + pos, t.data() + pos + len, out);
    return true;
  };
  int y = 0, m = 0, d = 0;
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d)) return false;
  return std::chrono::year_month_day{std::chrono::year{y}, std::chrono::month{unsigned(m)},
                                     std::chrono::day{unsigned(d)}}
      .ok();
}

std::optional<std::string> utc_timestamp(std::string_view t) {
  if (t.size() < 20 || !is_iso_date(t.substr(0, 10)) || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  for (std::size_t i : {11, 12, 14, 15, 17, 18})
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return std::nullopt;
  auto two = [&](std::size_t pos) { return (t[pos] - '0') * 10 + (t[pos + 1] - '0'); };
  if (two(11) > 23 || two(14) > 59 || two(17) > 59) return std::nullopt;
  std::string fraction;
  std::size_t pos = 19;
  if (t[pos] == '.') {
    ++pos;
    while (pos < t.size() && std::isdigit(static_cast<unsigned char>(t[pos]))) fraction += t[pos++];
    if (fraction.empty() || fraction.size() > 9) return std::nullopt;
  }
  auto zone = t.substr(pos);
  if (zone != "Z" && zone != "z" && zone != "+00:00") return std::nullopt;
  fraction.resize(6, '0');  // pads, or cuts nanoseconds to microseconds
  std::string out(t.substr(0, 19));
  out[10] = 'T';
  return out + "." + fraction + "Z";
}

bool is_uuid(std::string_view t) {
  if (t.size() != 36) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? t[i] != '-' : !std::isxdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

}  // namespace hearth::http
