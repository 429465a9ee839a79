#pragma once
// Inside the fan-out hub (http/fanout.hpp): one shard per I/O thread and the
// transport-independent half of every SSE stream. Engine-internal: included
// by http/fanout.cpp, http/fanout_liveness.cpp and http/sse_stream.hpp only.
// Everything here runs on the shard's I/O thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/fanout.hpp"

namespace hearth::http {

class fanout_shard;

/// One SSE stream's state apart from its socket: its households (each with
/// the last seq delivered and whether it is live), its raw cursor, and its
/// output: `pending_` (appended since the last write) and the write under
/// way. The transport (sse_stream<Stream>) writes what flush() hands it and
/// reports progress, completion and the end of the socket.
class sse_stream_core {
 public:
  using clock = std::chrono::steady_clock;
  enum class end_reason { none, client, overflow, stall, closed };

  sse_stream_core(fanout_shard& shard, const std::vector<sse::stream_start>& start);
  virtual ~sse_stream_core() = default;
  sse_stream_core(const sse_stream_core&) = delete;
  sse_stream_core& operator=(const sse_stream_core&) = delete;

  std::uint64_t id() const { return id_; }
  stream_ref ref() const;
  /// Run once, on the I/O thread, when the stream ends (set it before
  /// returning to the event loop after the stream is created).
  void on_close(std::function<void()> callback) { on_close_ = std::move(callback); }

  // Called by the shard.
  void attach(std::uint32_t slot, std::int64_t head, std::shared_ptr<household_load> load);
  void offer(std::uint32_t slot, const event_ptr& e);  // a live event
  void replayed(const std::string& household, const event_batch& events, bool complete,
                std::int64_t head);
  void offer_frame(std::string_view frame);  // a complete frame for this stream alone
  void flush();  // hands pending output to the socket unless a write is under way
  void check_blocked(clock::time_point now);  // stall limit and lag window
  void heartbeat_if_quiet(clock::time_point now);
  void close_after_queued(std::string_view final_frame = {});
  void abort(end_reason why);  // ends the stream now (drops what is queued)
  bool dead() const { return reason_ != end_reason::none; }

 protected:
  // For the transport, on the I/O thread.
  void join_shard();      // registers the stream with its shard (before its header goes out)
  void header_written();  // the response header is out: frames may flow
  void progressed();      // the socket took some bytes of the write under way
  void written();         // the write under way is complete
  /// The stream waits for its socket (plain TCP: the socket is full; TLS: a
  /// write is under way; both: the response header and the last chunk): the
  /// shard checks it for stalls until blocked(false). Ignored once ended.
  void blocked(bool on);
  void ended(end_reason why);  // the socket is done (error, client gone, closed)
  /// Writes `payload` as one HTTP chunk (more bytes may not be appended to
  /// it until written()). Must call progressed() as bytes go and written()
  /// at the end, or ended() on error.
  virtual void start_write(std::string_view payload) = 0;
  /// Writes the last chunk, then closes the socket and calls ended().
  virtual void start_final() = 0;
  /// Closes the socket now (pending operations complete with an error and
  /// the transport calls ended()).
  virtual void close_socket() = 0;

 private:
  friend class fanout_shard;
  struct slot {
    std::string household;
    std::int64_t last = 0;  // the last seq the client was sent (or will be)
    bool attached = false;
    bool replaying = false;  // live events held until replayed()
    event_batch held;
    std::shared_ptr<household_load> load;
    std::size_t member = 0;  // index in the shard's member list of the household
  };
  std::size_t blocked_at_ = SIZE_MAX;  // index in the shard's blocked list, or SIZE_MAX
  void append(std::uint32_t slot, std::int64_t seq, std::string_view body);
  void append_frame(std::string_view body);  // the id line (current cursor) + body
  void append_raw(std::string_view bytes);   // bytes without an id (heartbeat, retry:)
  void appended();                           // limits, lag mark, corked flush
  void set_lagging(bool on);
  std::chrono::milliseconds lag_window() const;
  std::size_t unsent() const { return pending_.size() + inflight_.size(); }

  fanout_shard& shard_;
  std::uint64_t id_;
  std::vector<slot> slots_;
  std::string cursor_;    // raw cursor: 24 bytes per household, in slot order
  std::string pending_;   // frames appended since the last write
  std::string inflight_;  // the write under way
  bool header_done_ = false, writing_ = false, closing_ = false, lagging_ = false;
  bool dirty_ = false;          // in the shard's flush list
  std::size_t held_bytes_ = 0;  // bytes of live events held during a replay
  bool ended_ = false;
  clock::time_point last_progress_{}, last_output_{};
  end_reason reason_ = end_reason::none;
  std::function<void()> on_close_;
};

/// The streams of one I/O thread and, per household, which of them take its
/// events. Owned by the hub; runs on its io_context only.
class fanout_shard {
 public:
  fanout_shard(fanout_hub& hub, boost::asio::io_context& ioc, std::uint32_t index);

  std::uint32_t index() const { return index_; }
  boost::asio::io_context& io_context() { return ioc_; }
  const fanout_options& options() const { return hub_.options(); }

  // On the I/O thread.
  void add(sse_stream_core& s);     // a new stream
  void remove(sse_stream_core& s);  // an ended stream
  void deliver(const event_batch& events);
  void attach(std::uint64_t id, const std::string& household, std::int64_t head,
              std::shared_ptr<household_load> load);
  void replayed(std::uint64_t id, const std::string& household, const event_batch& events,
                bool complete, std::int64_t head);
  void send(std::uint64_t id, const std::string& frame);
  void close(std::uint64_t id);
  void close_all(const std::string& final_frame);
  void mark_dirty(sse_stream_core& s);  // flush it at the end of this loop turn
  void lagging(const std::string& household, household_load& load, bool on);
  void blocked(sse_stream_core& s, bool on);  // in or out of the stall-checked list

  std::uint64_t next_id() { return ++last_id_; }

  // Figures, written on the I/O thread, read anywhere.
  std::atomic<std::size_t> streams{0}, unsent_bytes{0};
  std::atomic<std::uint64_t> frames{0}, writes{0}, dropped_overflow{0}, dropped_stall{0};
  std::size_t unsent = 0;             // I/O thread's own tally, published to unsent_bytes
  std::uint64_t frames_appended = 0;  // likewise, published to frames
  /// After the I/O thread has stopped: drops every stream's on_close callback
  /// (they hold actor handles that must not outlive the actor system).
  void forget_callbacks();

 private:
  struct member {
    sse_stream_core* stream;
    std::uint32_t slot;
  };
  std::vector<sse_stream_core*> all_streams() const;  // a copy: callees may end streams
  void flush_dirty();
  void post_flush();
  static constexpr std::size_t kFlushSlice = 256;  // streams flushed per handler
  void arm_tick();
  void on_tick();

  fanout_hub& hub_;
  boost::asio::io_context& ioc_;
  std::uint32_t index_;
  std::uint64_t last_id_ = 0;
  std::unordered_map<std::uint64_t, sse_stream_core*> streams_;
  std::unordered_map<std::string, std::vector<member>> households_;
  std::vector<sse_stream_core*> dirty_;  // to flush in the next round
  std::vector<sse_stream_core*> round_;  // the round under way, flushed from round_pos_
  std::size_t round_pos_ = 0;
  bool flush_posted_ = false;
  std::vector<sse_stream_core*> blocked_;  // streams waiting for their sockets
  boost::asio::steady_timer tick_;
  bool tick_armed_ = false;
  std::chrono::steady_clock::time_point next_heartbeat_scan_{};
};

}  // namespace hearth::http
