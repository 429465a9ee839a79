#pragma once
// The SSE event id ("cursor"): for every household of the stream, the last
// sequence number delivered. Opaque to clients: base64url of 24 bytes per
// household (16-byte UUID + 8-byte big-endian seq). A client that reconnects
// with `Last-Event-ID: <cursor>` gets exactly what came after it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hearth::actors {

/// household id (canonical UUID text) → last delivered seq.
using cursor = std::map<std::string, std::int64_t>;

/// Encodes a cursor. Household ids must be canonical UUIDs.
std::string encode_cursor(const cursor& c);

/// Decodes a cursor; nullopt when `text` is not one.
std::optional<cursor> decode_cursor(const std::string& text);

/// Where a new stream starts in one household: after sequence `seq`.
/// `resync`: the client's cursor could not be honoured (beyond the replay
/// window, or ahead of the database), so the stream first sends a `resync`
/// event telling the client to refetch.
struct stream_start {
  std::string household_id;
  std::int64_t seq = 0;
  bool resync = false;
};

/// The start of a stream over households with these current `heads` (read
/// from the database before the response header is sent, so that every
/// change committed after the client sees the header is delivered). With a
/// `resume` cursor, each household starts where the client left it, when
/// that is at most `replay_window` events back; households missing from the
/// cursor (joined since) start at their head.
std::vector<stream_start> plan_stream_start(const cursor& heads,
                                            const std::optional<cursor>& resume,
                                            std::int64_t replay_window);

}  // namespace hearth::actors
