#include "http/sse.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace hearth::http::sse {
namespace {

constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string bytes_to_uuid(const unsigned char* b) {
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

void append_base64url(std::string& out, std::string_view raw) {
  const auto at = out.size();
  const auto len = sodium_base64_ENCODED_LEN(raw.size(), kVariant);  // with the NUL
  out.resize(at + len);
  sodium_bin2base64(out.data() + at, len, reinterpret_cast<const unsigned char*>(raw.data()),
                    raw.size(), kVariant);
  out.resize(out.size() - 1);
}

}  // namespace

bool append_uuid_bytes(std::string_view id, std::string& out) {
  if (id.size() != 36) return false;
  char bytes[16];
  int hi = -1;
  std::size_t n = 0;
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
      bytes[n++] = static_cast<char>(hi << 4 | v);
      hi = -1;
    }
  }
  out.append(bytes, sizeof bytes);
  return true;
}

void set_cursor_seq(std::string& raw, std::size_t index, std::int64_t seq) {
  auto v = static_cast<std::uint64_t>(seq);
  char* p = raw.data() + index * kCursorEntryBytes + 16;
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}

std::string encode_cursor(const cursor& c) {
  std::string raw;
  raw.reserve(c.size() * kCursorEntryBytes);
  for (const auto& [household, seq] : c) {
    if (!append_uuid_bytes(household, raw)) continue;
    raw.append(8, '\0');
    set_cursor_seq(raw, raw.size() / kCursorEntryBytes - 1, seq);
  }
  std::string out;
  append_base64url(out, raw);
  return out;
}

std::optional<cursor> decode_cursor(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::string raw(text.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, kVariant) != 0)
    return std::nullopt;
  raw.resize(len);
  if (raw.size() % kCursorEntryBytes != 0) return std::nullopt;
  cursor c;
  for (std::size_t i = 0; i < raw.size(); i += kCursorEntryBytes) {
    auto* b = reinterpret_cast<const unsigned char*>(raw.data() + i);
    std::uint64_t v = 0;
    for (int k = 16; k < 24; ++k) v = v << 8 | b[k];
    if (static_cast<std::int64_t>(v) < 0) return std::nullopt;
    c[bytes_to_uuid(b)] = static_cast<std::int64_t>(v);
  }
  return c;
}

void append_id_line(std::string& out, std::string_view raw_cursor) {
  out += "id: ";
  append_base64url(out, raw_cursor);
  out += '\n';
}

std::string event_body(std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(name.size() + data.size() + 16);
  out += "event: ";
  out += name;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
  return out;
}

std::string resync_body(std::string_view household, std::int64_t seq) {
  boost::json::object data;
  data["authHouseholdID"] = household;
  data["seq"] = seq;
  return event_body("resync", boost::json::serialize(data));
}

std::string retry_frame(unsigned ms) { return fmt::format("retry: {}\n\n", ms); }

}  // namespace hearth::http::sse
