#pragma once
// The Server-Sent-Events wire format, in one place: framing, the `retry:`
// hint, the ':' heartbeat comment and the `id:` cursor line (WHATWG HTML,
// "Server-sent events", §9.2: fields are `name: value` lines, an empty line
// ends an event, a line starting with ':' is a comment).
//
// hearth's event id is a cursor: for every household of the stream, the last
// sequence number delivered. Opaque to clients: base64url (RFC 4648 §5, no
// padding) of 24 bytes per household, ordered by household id: the 16-byte
// UUID, then the sequence number as 8 bytes big-endian. A client that
// reconnects with `Last-Event-ID: <cursor>` gets exactly what came after it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::http::sse {

/// household id (canonical lower-case UUID text) → last delivered seq.
using cursor = std::map<std::string, std::int64_t>;

/// Where a new stream starts in one household: after sequence `seq`.
/// `resync`: the client's cursor could not be honoured (beyond the replay
/// window, or ahead of the database), so the stream first sends a `resync`
/// event telling the client to refetch.
struct stream_start {
  std::string household_id;
  std::int64_t seq = 0;
  bool resync = false;
};

/// Encodes a cursor. Household ids that are not canonical UUIDs are skipped.
std::string encode_cursor(const cursor& c);

/// Decodes a cursor; nullopt when `text` is not one (bad base64url, a length
/// not a multiple of 24 bytes, a negative sequence number).
std::optional<cursor> decode_cursor(std::string_view text);

/// Appends the 16 bytes of a canonical UUID ("8-4-4-4-12" hex) to `out`;
/// false (and `out` unchanged) when `id` is not one.
bool append_uuid_bytes(std::string_view id, std::string& out);

/// Bytes of one household in a raw (not yet base64url-encoded) cursor.
inline constexpr std::size_t kCursorEntryBytes = 24;

/// Writes `seq` as the big-endian sequence part of entry `index` of a raw cursor.
void set_cursor_seq(std::string& raw, std::size_t index, std::int64_t seq);

/// Appends "id: <base64url(raw)>\n" to `out` (the per-stream line of a frame).
void append_id_line(std::string& out, std::string_view raw_cursor);

/// "event: <name>\ndata: <data>\n\n": the part of a frame shared by every
/// stream. `data` must be one line (JSON as serialised by Boost.JSON is).
std::string event_body(std::string_view name, std::string_view data);

/// The `resync` event body: the client must refetch household `household`,
/// whose stream continues after `seq`.
std::string resync_body(std::string_view household, std::int64_t seq);

/// "retry: <ms>\n\n": the reconnection delay hint.
std::string retry_frame(unsigned ms);

/// The heartbeat: an SSE comment, which keeps proxies from timing out an
/// idle stream and lets the server notice a dead client.
inline constexpr std::string_view kHeartbeat = ":\n\n";

}  // namespace hearth::http::sse
