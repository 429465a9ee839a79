#pragma once
// connection: one actor per open SSE stream; it owns the stream's event_sink.
// It starts from a stream_start per household (computed before the response
// header went out, see plan_stream_start), subscribes (through the notifier)
// to each household and learns the session's last delivered sequence number;
// whatever lies between the start and that head (a resuming client's missed
// events, or writes committed while the stream was being set up) it replays
// from the change_event outbox, buffering live events meanwhile, then it
// forwards live events: each exactly once, in order.
// Each frame's `id:` is the cursor after that event. A ':' heartbeat goes
// out every `heartbeat`. The actor ends when the stream ends, and a failed
// send (the stream's queue overflowed) ends the stream.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/cursor.hpp"
#include "actors/messages.hpp"
#include "actors/stats.hpp"
#include "http/event_sink.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

struct connection_options {
  std::chrono::milliseconds heartbeat{15'000};
  std::chrono::milliseconds subscribe_timeout{10'000};
  runtime_counters* counters = nullptr;  // events delivered / dropped (may be null)
};

/// Spawns the connection actor of a new stream and wires the sink's end to it.
connection_actor spawn_connection(caf::actor_system& sys, std::shared_ptr<http::event_sink> sink,
                                  std::vector<stream_start> start, notifier_actor notifier,
                                  storage::pool* db, connection_options options);

/// The SSE frame of one change event, with `id` as its event id.
std::string change_frame(const std::string& id, const storage::change_event& e);

}  // namespace hearth::actors
