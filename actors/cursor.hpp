#pragma once
// The SSE event id ("cursor"): for every household of the stream, the last
// sequence number delivered. Opaque to clients: base64url of 24 bytes per
// household (16-byte UUID + 8-byte big-endian seq). A client that reconnects
// with `Last-Event-ID: <cursor>` gets exactly what came after it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace hearth::actors {

/// household id (canonical UUID text) → last delivered seq.
using cursor = std::map<std::string, std::int64_t>;

/// Encodes a cursor. Household ids must be canonical UUIDs.
std::string encode_cursor(const cursor& c);

/// Decodes a cursor; nullopt when `text` is not one.
std::optional<cursor> decode_cursor(const std::string& text);

}  // namespace hearth::actors
