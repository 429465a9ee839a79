#pragma once
// actor_runtime: the CAF actor system of one node and its long-lived actors
// (notifier, scheduler), behind a small facade so that the HTTP handlers in
// app/ never include CAF. Thread-safe: publish() and open_stream() may be
// called from any thread (network or storage pool).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/cursor.hpp"
#include "http/event_sink.hpp"
#include "storage/events.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

struct runtime_options {
  int threads = 2;                              // CAF scheduler threads
  std::chrono::milliseconds heartbeat{15'000};  // SSE ':' comments
  std::chrono::milliseconds gap_wait{25};       // before backfilling a hole
  std::chrono::milliseconds scheduler_interval{60'000};
};

class actor_runtime {
 public:
  /// Starts the actor system, the notifier and the scheduler (leading).
  actor_runtime(runtime_options options, storage::pool& db);
  ~actor_runtime();  // stop()
  actor_runtime(const actor_runtime&) = delete;
  actor_runtime& operator=(const actor_runtime&) = delete;

  /// Hands a committed change event to the notifier (after the commit).
  void publish(const storage::change_event& e);

  /// Starts the connection actor of a new SSE stream, delivering each
  /// household's events after its `start` (see plan_stream_start).
  void open_stream(std::shared_ptr<http::event_sink> sink, std::vector<stream_start> start);

  /// Stops every actor and the actor system. Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::actors
