#pragma once
// SSE fan-out per I/O thread (the "hub"). Every SSE stream lives on one I/O
// thread of the HTTP engine, in that thread's shard. A change event is
// encoded once per node (`encoded_event`: the immutable `event:`/`data:`
// bytes, shared by every stream) and reaches each shard that holds streams
// of its household with one post: one hop per thread, not per stream. The
// shard appends, per stream, only what differs (the `id:` cursor line) and
// the shared bytes to the stream's pending output, then flushes every
// stream it touched with one write per loop turn (corking, as uWebSockets
// does): frames that arrive while a write is under way coalesce into the
// next one.
//
// Slow clients are judged by their socket: a stream is dropped when its
// unsent bytes pass `buffer_limit_bytes` or when its socket has taken
// nothing for `stall`. A stream whose unsent bytes pass a quarter of the
// limit while its client still reads marks its households as behind
// (`behind()`), and writes to those households get 503 + Retry-After until
// it catches up, so a client that keeps reading keeps its stream.
//
// Streams need not belong to households: a stream opened with no households
// (an empty sse_response::start) takes only what its owner sends it with
// send(), e.g. the uptime monitor's status stream (apps/uptime/status.cpp).
//
// Threads: deliver/attach/replayed/send/close/close_all are thread-safe and never
// block (they post to the shard's I/O thread). Everything inside a shard
// runs on its thread only; nothing mutable is shared between threads except
// counters (household_load, fanout_stats).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "http/sse.hpp"
#include "trace/trace.hpp"

namespace boost::asio {
class io_context;
}

namespace hearth::http {

/// One change event, encoded once per node and shared, immutable, by every
/// stream: `body` is "event: <name>\ndata: <json>\n\n" (sse::event_body).
struct encoded_event {
  std::string household_id;
  std::int64_t seq = 0;
  std::string body;
  /// The household session's span (trace/trace.hpp), parent of each
  /// shard's "sse.write" span; invalid for replayed and backfilled events.
  trace::context trace = {};
};
using event_ptr = std::shared_ptr<const encoded_event>;
using event_batch = std::vector<event_ptr>;

/// Names one SSE stream: the shard (I/O thread) that owns it and its number
/// there. A plain value: copying it shares nothing; a ref to an ended stream
/// is ignored by every call.
struct stream_ref {
  std::uint32_t shard = 0;
  std::uint64_t id = 0;
};

/// How far behind a household's fan-out is on this node, shared by its
/// producer (the household session) and the shards. Counters only.
struct household_load {
  std::atomic<std::int64_t> queued{0};   // events posted to shards, not yet appended
  std::atomic<std::int32_t> lagging{0};  // streams over the lag mark, over all shards
};

/// The fan-out's configuration; defaults from config::defaults().
struct fanout_options {
  /// A stream with more unsent bytes than this is dropped (sseBufferBytes).
  std::size_t buffer_limit_bytes = static_cast<std::size_t>(config::defaults().sse_buffer_bytes);
  /// A stream whose socket has taken no byte for this long is dropped (sseStallMs).
  std::chrono::milliseconds stall{config::defaults().sse_stall_ms};
  /// A ':' comment goes to every stream that sent nothing for this long (sseHeartbeatMs).
  std::chrono::milliseconds heartbeat{config::defaults().sse_heartbeat_ms};
  /// Events queued for one household's shards beyond which its writes get 503.
  std::int64_t max_queued_events = 4096;

  /// sseBufferBytes, sseStallMs, sseHeartbeatMs of `cfg`.
  static fanout_options from_config(const config::config& cfg);
};

/// Live figures, summed over the shards (relaxed reads).
struct fanout_stats {
  std::size_t streams = 0;
  std::size_t unsent_bytes = 0;        // appended, not yet taken by a socket
  std::uint64_t frames = 0;            // event frames appended to streams
  std::uint64_t writes = 0;            // socket writes started (one per flush)
  std::uint64_t dropped_overflow = 0;  // streams dropped: unsent bytes over the limit
  std::uint64_t dropped_stall = 0;     // streams dropped: socket not drained for `stall`
  std::size_t households_behind = 0;   // households whose writes get 503 for now
};

class fanout_shard;

class fanout_hub {
 public:
  /// One shard per I/O thread; each io_context must be run by exactly one
  /// thread and outlive the hub.
  fanout_hub(std::vector<boost::asio::io_context*> threads, fanout_options options);
  ~fanout_hub();
  fanout_hub(const fanout_hub&) = delete;
  fanout_hub& operator=(const fanout_hub&) = delete;

  std::size_t shards() const;

  /// The load record of `household` (created on first use, kept while a
  /// producer holds it). The household's producer holds it and passes it to
  /// deliver/attach.
  std::shared_ptr<household_load> load_of(const std::string& household);

  /// Events of one household, in sequence order, to every stream of that
  /// household on `shard` (one post). Each stream takes those after its last.
  void deliver(std::uint32_t shard, event_batch events, std::shared_ptr<household_load> load);

  /// Stream `s` receives `household`'s events from now on (posted after this
  /// call by the same producer). `head`: the producer's last delivered seq;
  /// when it is beyond the stream's start, events are held until replayed().
  void attach(stream_ref s, std::string household, std::int64_t head,
              std::shared_ptr<household_load> load);

  /// The missed events (start, head] of `household` read from the outbox,
  /// in order; `complete` false when they could not all be read: the stream
  /// then gets a `resync` event at `head`. The held live events follow.
  void replayed(stream_ref s, std::string household, event_batch events, bool complete,
                std::int64_t head);

  /// Appends `frame`, one or more complete SSE events ("event: x\ndata: y\n\n",
  /// sse::event_body; written as given, with no `id:` line), to stream `s`
  /// alone: one post to its shard. Counts against the stream's limits like
  /// any event (http/fanout.hpp, top). Frames sent to one stream from one
  /// thread arrive in order, after its prelude. Ignored once the stream
  /// has ended or is closing.
  void send(stream_ref s, std::shared_ptr<const std::string> frame);

  /// Ends stream `s` after what it has queued (it takes no new events from
  /// then on). Idempotent.
  void close(stream_ref s);

  /// Every stream gets `final_frame` (e.g. a retry: hint) and is closed
  /// after its queued frames.
  void close_all(std::string final_frame);

  /// True while writers to `household` should wait (its streams on this
  /// node are behind). Thread-safe, cheap when nothing is behind.
  bool behind(const std::string& household) const;

  fanout_stats stats() const;

  const fanout_options& options() const;
  fanout_shard& shard(std::uint32_t index);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::http
