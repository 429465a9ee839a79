#pragma once
// connection: one actor per open SSE stream; it owns the stream's event_sink.
// On start it subscribes (through the notifier) to each of the caller's
// households and learns each one's last sequence number; when the client
// resumes with a Last-Event-ID cursor it first replays what the client
// missed from the change_event outbox (at most `replay_window` events per
// household, else it sends a `resync` event), then forwards live events.
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
#include "http/event_sink.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

struct connection_options {
  std::chrono::milliseconds heartbeat{15'000};
  std::int64_t replay_window = 1'000;
  std::chrono::milliseconds subscribe_timeout{10'000};
};

/// Spawns the connection actor of a new stream and wires the sink's end to it.
connection_actor spawn_connection(caf::actor_system& sys, std::shared_ptr<http::event_sink> sink,
                                  std::vector<std::string> households,
                                  std::optional<cursor> resume, notifier_actor notifier,
                                  storage::pool* db, connection_options options);

/// The SSE frame of one change event, with `id` as its event id.
std::string change_frame(const std::string& id, const storage::change_event& e);

}  // namespace hearth::actors
