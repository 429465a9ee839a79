// The fan-out hub (http/fanout.hpp), its shards and the streams' delivery
// path: events in, frames appended, writes flushed. The streams' liveness
// (the shard's timer, stalls, heartbeats, lag marks, drops) is in
// http/fanout_liveness.cpp.

#include "http/fanout.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <mutex>
#include <unordered_map>

#include "http/fanout_shard.hpp"

namespace hearth::http {
namespace net = boost::asio;

// ---------------------------------------------------------------------------
// The hub: shards plus the registry of household loads.
struct fanout_hub::impl {
  fanout_options options;
  std::vector<std::unique_ptr<fanout_shard>> shards;
  mutable std::mutex loads_mutex;
  std::unordered_map<std::string, std::weak_ptr<household_load>> loads;

  // The one rule for "writers to this household must wait".
  bool behind(const household_load& l) const {
    return l.lagging.load(std::memory_order_relaxed) > 0 ||
           l.queued.load(std::memory_order_relaxed) > options.max_queued_events;
  }
};

fanout_options fanout_options::from_config(const config::config& cfg) {
  fanout_options o;
  o.buffer_limit_bytes = static_cast<std::size_t>(cfg.sse_buffer_bytes);
  o.stall = std::chrono::milliseconds(cfg.sse_stall_ms);
  o.heartbeat = std::chrono::milliseconds(cfg.sse_heartbeat_ms);
  return o;
}

fanout_hub::fanout_hub(std::vector<net::io_context*> threads, fanout_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->options = options;
  std::uint32_t i = 0;
  for (auto* ioc : threads)
    impl_->shards.push_back(std::make_unique<fanout_shard>(*this, *ioc, i++));
}

fanout_hub::~fanout_hub() = default;

std::size_t fanout_hub::shards() const { return impl_->shards.size(); }
const fanout_options& fanout_hub::options() const { return impl_->options; }
fanout_shard& fanout_hub::shard(std::uint32_t index) { return *impl_->shards.at(index); }

std::shared_ptr<household_load> fanout_hub::load_of(const std::string& household) {
  std::lock_guard lock(impl_->loads_mutex);
  auto& weak = impl_->loads[household];
  if (auto l = weak.lock()) return l;
  auto l = std::make_shared<household_load>();
  weak = l;
  if (impl_->loads.size() > 64 && impl_->loads.size() % 64 == 0)  // forget unused ones
    std::erase_if(impl_->loads, [](const auto& kv) { return kv.second.expired(); });
  return l;
}

void fanout_hub::deliver(std::uint32_t shard, event_batch events,
                         std::shared_ptr<household_load> load) {
  auto& s = *impl_->shards.at(shard);
  const auto n = static_cast<std::int64_t>(events.size());
  if (load) load->queued.fetch_add(n, std::memory_order_relaxed);
  net::post(s.io_context(), [&s, events = std::move(events), load = std::move(load), n] {
    s.deliver(events);
    if (load) load->queued.fetch_sub(n, std::memory_order_relaxed);
  });
}

void fanout_hub::attach(stream_ref r, std::string household, std::int64_t head,
                        std::shared_ptr<household_load> load) {
  auto& s = *impl_->shards.at(r.shard);
  net::post(s.io_context(),
            [&s, id = r.id, household = std::move(household), head,
             load = std::move(load)]() mutable { s.attach(id, household, head, std::move(load)); });
}

void fanout_hub::replayed(stream_ref r, std::string household, event_batch events, bool complete,
                          std::int64_t head) {
  auto& s = *impl_->shards.at(r.shard);
  net::post(s.io_context(),
            [&s, id = r.id, household = std::move(household), events = std::move(events), complete,
             head] { s.replayed(id, household, events, complete, head); });
}

void fanout_hub::send(stream_ref r, std::shared_ptr<const std::string> frame) {
  auto& s = *impl_->shards.at(r.shard);
  net::post(s.io_context(), [&s, id = r.id, frame = std::move(frame)] {
    s.send(id, *frame);
    s.unsent_bytes.store(s.unsent, std::memory_order_relaxed);
  });
}

void fanout_hub::close(stream_ref r) {
  auto& s = *impl_->shards.at(r.shard);
  net::post(s.io_context(), [&s, id = r.id] { s.close(id); });
}

void fanout_hub::close_all(std::string final_frame) {
  for (auto& s : impl_->shards)
    net::post(s->io_context(), [s = s.get(), final_frame] { s->close_all(final_frame); });
}

bool fanout_hub::behind(const std::string& household) const {
  std::shared_ptr<household_load> l;
  {
    std::lock_guard lock(impl_->loads_mutex);
    auto it = impl_->loads.find(household);
    if (it == impl_->loads.end()) return false;
    l = it->second.lock();
  }
  return l && impl_->behind(*l);
}

fanout_stats fanout_hub::stats() const {
  fanout_stats st;
  for (const auto& s : impl_->shards) {
    st.streams += s->streams.load(std::memory_order_relaxed);
    st.unsent_bytes += s->unsent_bytes.load(std::memory_order_relaxed);
    st.frames += s->frames.load(std::memory_order_relaxed);
    st.writes += s->writes.load(std::memory_order_relaxed);
    st.dropped_overflow += s->dropped_overflow.load(std::memory_order_relaxed);
    st.dropped_stall += s->dropped_stall.load(std::memory_order_relaxed);
  }
  std::lock_guard lock(impl_->loads_mutex);
  for (const auto& [id, weak] : impl_->loads)
    if (auto l = weak.lock(); l && impl_->behind(*l)) ++st.households_behind;
  return st;
}

// ---------------------------------------------------------------------------
// A shard: one I/O thread's streams.
fanout_shard::fanout_shard(fanout_hub& hub, net::io_context& ioc, std::uint32_t index)
    : hub_(hub), ioc_(ioc), index_(index), tick_(ioc) {}

void fanout_shard::forget_callbacks() {
  for (auto& [id, s] : streams_) s->on_close_ = nullptr;
}

void fanout_shard::add(sse_stream_core& s) {
  streams_.emplace(s.id(), &s);
  streams.store(streams_.size(), std::memory_order_relaxed);
  arm_tick();
}

void fanout_shard::remove(sse_stream_core& s) {
  for (auto& sl : s.slots_) {
    if (!sl.attached) continue;
    auto it = households_.find(sl.household);
    if (it == households_.end()) continue;
    auto& members = it->second;
    // Swap-remove: O(1) per household however many streams it has.
    const auto at = sl.member;
    if (at < members.size() && members[at].stream == &s) {
      members[at] = members.back();
      members.pop_back();
      if (at < members.size()) members[at].stream->slots_[members[at].slot].member = at;
    }
    if (members.empty()) households_.erase(it);
    sl.attached = false;
  }
  if (s.dirty_) {  // waiting in this round or the next: forget it (rare: O(n))
    dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), &s), dirty_.end());
    std::replace(round_.begin() + static_cast<std::ptrdiff_t>(round_pos_), round_.end(), &s,
                 static_cast<sse_stream_core*>(nullptr));
    s.dirty_ = false;
  }
  streams_.erase(s.id());
  streams.store(streams_.size(), std::memory_order_relaxed);
}

void fanout_shard::deliver(const event_batch& events) {
  for (const auto& e : events) {
    auto it = households_.find(e->household_id);
    if (it == households_.end()) continue;
    // The frame goes into each stream's pending output (sent by this
    // thread's next flush, one corked write per stream).
    trace::span span;
    if (e->trace.valid()) {
      span = trace::span("sse.write", trace::kind::internal, e->trace);
      span.set("hearth.household_id", e->household_id);
      span.set("hearth.seq", e->seq);
      span.set("hearth.streams", static_cast<std::int64_t>(it->second.size()));
    }
    // Dropping a stream (overflow) never removes it from this list here:
    // removal happens when its socket's operations complete, later.
    for (const auto& m : it->second) m.stream->offer(m.slot, e);
  }
  unsent_bytes.store(unsent, std::memory_order_relaxed);
}

void fanout_shard::attach(std::uint64_t id, const std::string& household, std::int64_t head,
                          std::shared_ptr<household_load> load) {
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second->dead()) return;
  auto& s = *it->second;
  for (std::uint32_t i = 0; i < s.slots_.size(); ++i) {
    auto& sl = s.slots_[i];
    if (sl.household != household || sl.attached) continue;
    auto& members = households_[household];
    sl.member = members.size();
    members.push_back({&s, i});
    s.attach(i, head, std::move(load));
    return;
  }
}

void fanout_shard::replayed(std::uint64_t id, const std::string& household,
                            const event_batch& events, bool complete, std::int64_t head) {
  if (auto it = streams_.find(id); it != streams_.end())
    it->second->replayed(household, events, complete, head);
}

void fanout_shard::send(std::uint64_t id, const std::string& frame) {
  if (auto it = streams_.find(id); it != streams_.end()) it->second->offer_frame(frame);
}

void fanout_shard::close(std::uint64_t id) {
  if (auto it = streams_.find(id); it != streams_.end()) it->second->close_after_queued();
}

std::vector<sse_stream_core*> fanout_shard::all_streams() const {
  std::vector<sse_stream_core*> all;
  all.reserve(streams_.size());
  for (const auto& [id, s] : streams_) all.push_back(s);
  return all;
}

void fanout_shard::close_all(const std::string& final_frame) {
  for (auto* s : all_streams()) s->close_after_queued(final_frame);
}

void fanout_shard::mark_dirty(sse_stream_core& s) {
  if (s.dirty_) return;  // already waiting for its flush: the new bytes join it
  s.dirty_ = true;
  dirty_.push_back(&s);
  post_flush();
}

void fanout_shard::post_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  // Runs after the handlers already queued on this thread: the deliveries
  // waiting there join this round's writes (corking).
  net::post(ioc_, [this] { flush_dirty(); });
}

// One round flushes every stream that was dirty when it began, in slices of
// kFlushSlice streams, one handler each: requests and deliveries queued on
// this thread run between slices, so a large fan-out does not hold up the
// thread's HTTP requests, and events that arrive meanwhile join the writes
// of the streams not yet flushed (frames coalesce under load).
void fanout_shard::flush_dirty() {
  flush_posted_ = false;
  if (round_pos_ >= round_.size()) {
    round_.clear();
    round_pos_ = 0;
    round_.swap(dirty_);
  }
  const auto end = std::min(round_.size(), round_pos_ + kFlushSlice);
  for (; round_pos_ < end; ++round_pos_) {
    auto* s = round_[round_pos_];
    if (!s) continue;  // ended meanwhile
    s->dirty_ = false;
    s->flush();
  }
  unsent_bytes.store(unsent, std::memory_order_relaxed);
  if (round_pos_ < round_.size() || !dirty_.empty()) post_flush();
}

// ---------------------------------------------------------------------------
// A stream's state apart from its socket.
sse_stream_core::sse_stream_core(fanout_shard& shard, const std::vector<sse::stream_start>& start)
    : shard_(shard), id_(shard.next_id()) {
  // Slots in household-id order: the cursor's byte order (sse::encode_cursor).
  std::vector<sse::stream_start> sorted = start;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.household_id < b.household_id; });
  for (const auto& s : sorted) {
    if (!sse::append_uuid_bytes(s.household_id, cursor_)) continue;
    cursor_.append(8, '\0');
    slot sl;
    sl.household = s.household_id;
    sl.last = s.seq;
    slots_.push_back(std::move(sl));
    sse::set_cursor_seq(cursor_, slots_.size() - 1, s.seq);
  }
  // Households whose cursor could not be honoured start with a resync.
  for (const auto& s : start)
    if (s.resync) append_frame(sse::resync_body(s.household_id, s.seq));
}

stream_ref sse_stream_core::ref() const { return {shard_.index(), id_}; }

void sse_stream_core::attach(std::uint32_t i, std::int64_t head,
                             std::shared_ptr<household_load> load) {
  auto& sl = slots_[i];
  sl.attached = true;
  sl.load = std::move(load);
  // The producer has delivered up to `head`: (last, head] must come from
  // the outbox first; live events after `head` wait for it.
  sl.replaying = head > sl.last;
  if (lagging_ && sl.load) shard_.lagging(sl.household, *sl.load, true);
}

void sse_stream_core::offer(std::uint32_t i, const event_ptr& e) {
  if (dead() || closing_) return;
  auto& sl = slots_[i];
  if (sl.replaying) {
    // Held until the replay is written: counts against the limit too.
    held_bytes_ += e->body.size();
    if (unsent() + held_bytes_ > shard_.options().buffer_limit_bytes)
      return abort(end_reason::overflow);
    sl.held.push_back(e);
    return;
  }
  if (e->seq <= sl.last) return;  // already sent (replayed, or a resumed cursor ahead)
  append(i, e->seq, e->body);
  appended();
}

void sse_stream_core::offer_frame(std::string_view frame) {
  if (dead() || closing_) return;
  shard_.frames.store(++shard_.frames_appended, std::memory_order_relaxed);
  append_raw(frame);
  appended();
}

void sse_stream_core::append(std::uint32_t i, std::int64_t seq, std::string_view body) {
  // A relaxed store (a plain move on x86), not a read-modify-write: only
  // this thread writes it.
  shard_.frames.store(++shard_.frames_appended, std::memory_order_relaxed);
  slots_[i].last = seq;
  sse::set_cursor_seq(cursor_, i, seq);
  append_frame(body);
}

void sse_stream_core::append_frame(std::string_view body) {
  const auto before = pending_.size();
  sse::append_id_line(pending_, cursor_);
  pending_ += body;
  shard_.unsent += pending_.size() - before;
}

void sse_stream_core::append_raw(std::string_view bytes) {
  pending_ += bytes;
  shard_.unsent += bytes.size();
}

// A stream behind by more than a quarter of its limit slows the writers of
// its households while its client is reading (its socket took bytes within
// the last lag window): they wait for it rather than have it dropped. A
// stalled client does not hold writers up: it is dropped at the limit or
// after sseStallMs.
void sse_stream_core::appended() {
  const auto& o = shard_.options();
  const auto n = unsent();
  if (n > o.buffer_limit_bytes) return abort(end_reason::overflow);
  if (n > o.buffer_limit_bytes / 4 && !lagging_)
    set_lagging(!writing_ || clock::now() - last_progress_ < lag_window());
  shard_.mark_dirty(*this);
}

// The kernel reports a full socket writable again only once about a third
// of its buffer has drained: a slow but steady reader shows progress in
// steps, so the window is generous (half the stall limit).
std::chrono::milliseconds sse_stream_core::lag_window() const { return shard_.options().stall / 2; }

void sse_stream_core::set_lagging(bool on) {
  if (lagging_ == on) return;
  lagging_ = on;
  for (auto& sl : slots_)
    if (sl.attached && sl.load) shard_.lagging(sl.household, *sl.load, on);
}

void sse_stream_core::replayed(const std::string& household, const event_batch& events,
                               bool complete, std::int64_t head) {
  if (dead() || closing_) return;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    auto& sl = slots_[i];
    if (sl.household != household) continue;
    for (const auto& e : events)
      if (e->seq > sl.last) append(i, e->seq, e->body);
    if (!complete || sl.last < head) {
      // Events purged from the outbox, or the database away: the client
      // must refetch this household; the stream continues after `head`.
      sl.last = std::max(sl.last, head);
      sse::set_cursor_seq(cursor_, i, sl.last);
      append_frame(sse::resync_body(household, sl.last));
    }
    sl.replaying = false;
    auto held = std::move(sl.held);
    sl.held.clear();
    for (const auto& e : held) held_bytes_ -= std::min(held_bytes_, e->body.size());
    for (const auto& e : held)
      if (e->seq > sl.last) append(i, e->seq, e->body);
    appended();
    return;
  }
}

void sse_stream_core::flush() {
  if (dead() || writing_ || !header_done_) return;
  if (pending_.empty()) {
    if (closing_) {
      writing_ = true;
      start_final();
    }
    return;
  }
  inflight_.swap(pending_);
  pending_.clear();
  writing_ = true;
  last_progress_ = last_output_ = clock::now();
  shard_.writes.fetch_add(1, std::memory_order_relaxed);
  start_write(inflight_);
}

void sse_stream_core::join_shard() { shard_.add(*this); }

void sse_stream_core::header_written() {
  header_done_ = true;
  last_progress_ = last_output_ = clock::now();
  flush();
}

void sse_stream_core::progressed() { last_progress_ = clock::now(); }

void sse_stream_core::written() {
  if (ended_) return;
  writing_ = false;
  shard_.unsent -= inflight_.size();
  inflight_.clear();
  // A burst may have grown the buffers: give the memory back once idle.
  if (inflight_.capacity() > (64u << 10)) std::string().swap(inflight_);
  if (lagging_ && unsent() < shard_.options().buffer_limit_bytes / 16) set_lagging(false);
  flush();
}

void sse_stream_core::close_after_queued(std::string_view final_frame) {
  if (dead() || closing_) return;
  append_raw(final_frame);
  closing_ = true;
  flush();
}

void sse_stream_core::ended(end_reason why) {
  if (ended_) return;
  ended_ = true;
  if (reason_ == end_reason::none) reason_ = why;
  set_lagging(false);
  shard_.blocked(*this, false);
  shard_.unsent -= std::min(shard_.unsent, unsent());
  pending_.clear();
  for (auto& sl : slots_) sl.held.clear();
  shard_.remove(*this);
  shard_.unsent_bytes.store(shard_.unsent, std::memory_order_relaxed);
  if (auto cb = std::move(on_close_)) {
    on_close_ = nullptr;
    cb();
  }
}

}  // namespace hearth::http
