#pragma once
// Where an SSE stream starts in each of its households (plan_stream_start).
// The event id itself, the cursor (per household, the last sequence number
// delivered), is part of the wire format: http/sse.hpp.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "http/sse.hpp"

namespace hearth::actors {

using http::sse::cursor;
using http::sse::decode_cursor;
using http::sse::encode_cursor;

using http::sse::stream_start;

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
