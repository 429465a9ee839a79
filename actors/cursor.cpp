#include "actors/cursor.hpp"

#include <fmt/format.h>

#include "storage/crypto.hpp"

namespace hearth::actors {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool uuid_to_bytes(const std::string& id, std::string& out) {
  if (id.size() != 36) return false;
  int hi = -1;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-') return false;
      continue;
    }
    int v = hex_value(id[i]);
    if (v < 0) return false;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi << 4 | v));
      hi = -1;
    }
  }
  return true;
}

std::string bytes_to_uuid(const unsigned char* b) {
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

}  // namespace

std::string encode_cursor(const cursor& c) {
  std::string raw;
  raw.reserve(c.size() * 24);
  for (const auto& [household, seq] : c) {
    if (!uuid_to_bytes(household, raw)) continue;
    auto v = static_cast<std::uint64_t>(seq);
    for (int shift = 56; shift >= 0; shift -= 8) raw.push_back(static_cast<char>(v >> shift));
  }
  return storage::base64url_encode(raw);
}

std::optional<cursor> decode_cursor(const std::string& text) {
  std::string raw;
  if (text.empty() || !storage::base64url_decode(text, raw) || raw.size() % 24 != 0)
    return std::nullopt;
  cursor c;
  for (std::size_t i = 0; i < raw.size(); i += 24) {
    auto* b = reinterpret_cast<const unsigned char*>(raw.data() + i);
    std::uint64_t v = 0;
    for (int k = 16; k < 24; ++k) v = v << 8 | b[k];
    if (static_cast<std::int64_t>(v) < 0) return std::nullopt;
    c[bytes_to_uuid(b)] = static_cast<std::int64_t>(v);
  }
  return c;
}

std::vector<stream_start> plan_stream_start(const cursor& heads,
                                            const std::optional<cursor>& resume,
                                            std::int64_t replay_window) {
  std::vector<stream_start> out;
  for (const auto& [household, head] : heads) {
    stream_start s{household, head, false};
    if (resume) {
      if (auto it = resume->find(household); it != resume->end()) {
        if (it->second > head || head - it->second > replay_window)
          s.resync = true;
        else
          s.seq = it->second;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace hearth::actors
