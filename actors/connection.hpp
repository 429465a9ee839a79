#pragma once
// connection: the control actor of one open SSE stream. Live events do not
// pass through it: they go from the household session to the stream's I/O
// thread (http/fanout.hpp). It subscribes the stream (through the notifier)
// to each of its households and learns each session's last delivered
// sequence number; whatever lies between the stream's start and that head
// (a resuming client's missed events, or writes committed while the stream
// was being set up) it reads from the change_event outbox and hands to the
// stream, which holds the live events meanwhile: each event exactly once, in
// order. The actor ends when the stream ends; ending it closes the stream.

#include <chrono>
#include <vector>

#include "actors/cursor.hpp"
#include "actors/messages.hpp"
#include "http/fanout.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

struct connection_options {
  std::chrono::milliseconds subscribe_timeout{10'000};
};

/// Spawns the control actor of a new stream `ref` of `hub`, starting each
/// household after its `start` (see plan_stream_start).
connection_actor spawn_connection(caf::actor_system& sys, http::fanout_hub* hub,
                                  http::stream_ref ref, std::vector<stream_start> start,
                                  notifier_actor notifier, storage::pool* db,
                                  connection_options options);

}  // namespace hearth::actors
