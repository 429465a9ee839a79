// Liveness of the fan-out's SSE streams (http/fanout_shard.hpp): the
// shard's timer, the streams waiting for their sockets (stall limit, lag
// window), heartbeats of quiet streams, the lag marks that slow the writers
// of a household, and dropping a stream (overflow, stall). The delivery path
// (deliver, offer, append, flush) is in http/fanout.cpp.

#include <algorithm>

#include "config/logging.hpp"
#include "http/fanout_shard.hpp"

namespace hearth::http {

// ---------------------------------------------------------------------------
// The shard: its timer, its blocked list, lag marks.

// One timer per shard, armed only while the shard has streams. Each tick
// checks the streams whose sockets are full (stall limit, lag window); every
// half heartbeat it also scans all streams for quiet ones. An idle shard
// with N streams wakes once per tick and touches each stream once per half
// heartbeat.
void fanout_shard::arm_tick() {
  if (tick_armed_ || streams_.empty()) return;
  tick_armed_ = true;
  const auto& o = options();
  auto period = std::max(std::min(o.heartbeat / 2, o.stall / 4), std::chrono::milliseconds(5));
  tick_.expires_after(period);
  tick_.async_wait([this](const boost::system::error_code& ec) {
    tick_armed_ = false;
    if (ec) return;
    on_tick();
    arm_tick();
  });
}

void fanout_shard::on_tick() {
  const auto now = sse_stream_core::clock::now();
  // Ending a stream (stall) removes it from blocked_: iterate a copy.
  if (!blocked_.empty()) {
    auto blocked = blocked_;
    for (auto* s : blocked) s->check_blocked(now);
  }
  if (now >= next_heartbeat_scan_) {
    next_heartbeat_scan_ = now + options().heartbeat / 2;
    for (auto* s : all_streams()) s->heartbeat_if_quiet(now);
  }
  unsent_bytes.store(unsent, std::memory_order_relaxed);
}

void fanout_shard::lagging(const std::string& household, household_load& load, bool on) {
  load.lagging.fetch_add(on ? 1 : -1, std::memory_order_relaxed);
  if (on)
    log::debug("sse: household {} is behind: its writes get 503 until it catches up", household);
}

void fanout_shard::blocked(sse_stream_core& s, bool on) {
  if (on == (s.blocked_at_ != SIZE_MAX)) return;
  if (on) {
    s.blocked_at_ = blocked_.size();
    blocked_.push_back(&s);
    return;
  }
  const auto at = s.blocked_at_;
  blocked_[at] = blocked_.back();
  blocked_[at]->blocked_at_ = at;
  blocked_.pop_back();
  s.blocked_at_ = SIZE_MAX;
}

// ---------------------------------------------------------------------------
// A stream: stall and lag checks, heartbeats, drops.

void sse_stream_core::check_blocked(clock::time_point now) {
  if (dead()) return;
  if (now - last_progress_ > shard_.options().stall) return abort(end_reason::stall);
  if (lagging_ && now - last_progress_ > lag_window()) set_lagging(false);
}

// Half a heartbeat period between scans: a quiet stream gets its comment
// between one and one and a half heartbeats after its last output.
void sse_stream_core::heartbeat_if_quiet(clock::time_point now) {
  if (dead() || !header_done_ || writing_ || closing_ || !pending_.empty()) return;
  if (now - last_output_ < shard_.options().heartbeat) return;
  append_raw(sse::kHeartbeat);
  flush();
}

void sse_stream_core::blocked(bool on) {
  if (on && ended_) return;  // its last handlers may still run: never list it again
  if (on) last_progress_ = clock::now();
  shard_.blocked(*this, on);
}

void sse_stream_core::abort(end_reason why) {
  if (dead()) return;
  reason_ = why;
  if (why == end_reason::overflow) {
    shard_.dropped_overflow.fetch_add(1, std::memory_order_relaxed);
    log::info("sse: stream dropped, more than {} bytes unsent (slow client)",
              shard_.options().buffer_limit_bytes);
  } else if (why == end_reason::stall) {
    shard_.dropped_stall.fetch_add(1, std::memory_order_relaxed);
    log::info("sse: stream dropped, its socket took nothing for {} ms (stalled client)",
              shard_.options().stall.count());
  }
  close_socket();  // its operations complete with an error: ended() follows
}

}  // namespace hearth::http
