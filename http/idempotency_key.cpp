#include "http/idempotency_key.hpp"

#include <algorithm>
#include <string_view>

#include "http/json_input.hpp"

namespace hearth::http {

std::optional<std::string> idempotency_key(const request& req) {
  bool present = false;
  std::string_view key;
  for (const auto& [name, value] : req.headers) {
    if (name != "idempotency-key") continue;
    if (present) throw input_error("Idempotency-Key: must be sent once");
    present = true;
    key = value;
  }
  if (!present) return std::nullopt;
  if (key.empty() || key.size() > kMaxIdempotencyKeyBytes ||
      !std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7e; }))
    throw input_error("Idempotency-Key: must be 1 to 255 visible ASCII characters");
  return std::string(key);
}

}  // namespace hearth::http
