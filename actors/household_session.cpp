#include "actors/household_session.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "actors/ordered_stream.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {

struct household_session_state {
  static inline const char* name = "household_session";
  std::string household_id;
  storage::pool* db = nullptr;
  std::chrono::milliseconds gap_wait{25};
  http::fanout_hub* hub = nullptr;
  std::shared_ptr<http::household_load> load;  // shared with the hub's shards
  ordered_stream stream;
  std::vector<std::pair<connection_actor, http::stream_ref>> subscribers;
  std::vector<std::uint32_t> streams_per_shard;  // subscribers on each I/O thread
  struct waiter {
    connection_actor conn;
    http::stream_ref ref;
    caf::typed_response_promise<std::int64_t> promise;
  };
  std::vector<waiter> waiting;
  bool gap_timer_armed = false;
  bool backfilling = false;
};

namespace {

using self_ptr = household_session_actor::stateful_pointer<household_session_state>;

// Encodes each event once and posts the batch once to every I/O thread
// holding streams of this household.
void deliver(self_ptr self, const event_list& events) {
  auto& st = self->state;
  if (events.empty() || st.subscribers.empty()) return;
  http::event_batch batch;
  batch.reserve(events.size());
  for (const auto& e : events) batch.push_back(encode_change(e));
  for (std::uint32_t shard = 0; shard < st.streams_per_shard.size(); ++shard)
    if (st.streams_per_shard[shard] > 0) st.hub->deliver(shard, batch, st.load);
}

// From now on `ref` gets the live events after the last delivered one.
void attach(self_ptr self, const connection_actor& conn, http::stream_ref ref) {
  auto& st = self->state;
  st.hub->attach(ref, st.household_id, st.stream.last(), st.load);
  st.subscribers.emplace_back(conn, ref);
  if (st.streams_per_shard.size() <= ref.shard) st.streams_per_shard.resize(ref.shard + 1, 0);
  ++st.streams_per_shard[ref.shard];
}

void load_head(self_ptr self) {
  household_session_actor me = self;
  auto id = self->state.household_id;
  storage::run_on_pool(
      *self->state.db, [id](storage::connection& conn) { return storage::head_seq(conn, id); },
      [me, id](auto outcome) {
        if (outcome.ok()) return caf::anon_send(me, loaded_atom::value, *outcome.value);
        log::error_once("household_session.load",
                        "cannot read its sequence: " + log::first_line(outcome.error),
                        "household_session " + id);
        caf::anon_send_exit(me, caf::exit_reason::user_shutdown);
      });
}

void backfill(self_ptr self) {
  auto& st = self->state;
  auto gap = st.stream.current_gap();
  if (!gap || st.backfilling) return;
  st.backfilling = true;
  household_session_actor me = self;
  auto id = st.household_id;
  // A refused job answers like a failed one: backfilling is reset and the
  // gap retried, never left waiting for an answer that cannot come.
  storage::run_on_pool(
      *st.db,
      [id, gap = *gap](storage::connection& conn) {
        return storage::load_events(conn, id, gap.after, gap.before - 1, gap.before - gap.after);
      },
      [me, id, after = gap->after](auto outcome) {
        if (!outcome.ok())
          log::error_once("household_session.backfill",
                          "backfill failed, will retry: " + log::first_line(outcome.error),
                          "household_session " + id);
        bool ok = outcome.ok();
        caf::anon_send(me, backfill_atom::value, after,
                       ok ? std::move(*outcome.value) : event_list{}, ok);
      });
}

// A live event from the notifier: in order, or held behind a gap.
void on_change(self_ptr self, storage::change_event& e) {
  auto& st = self->state;
  auto span = storage::change_span("household_session.event", trace::kind::internal, e);
  if (e.trace.valid()) {
    span.set("hearth.subscribers", static_cast<std::int64_t>(st.subscribers.size()));
    e.trace = span.ctx();
  }
  event_list out;
  auto gap = st.stream.offer(std::move(e), out);
  deliver(self, out);
  if (gap && !st.gap_timer_armed) {
    st.gap_timer_armed = true;
    self->delayed_send(self, st.gap_wait, gap_atom::value, gap->before);
  }
}

// A stream joins: now, or once the household's sequence is known.
caf::result<std::int64_t> on_subscribe(self_ptr self, connection_actor& conn,
                                       http::stream_ref ref) {
  auto& st = self->state;
  if (!st.stream.ready()) {
    auto promise = self->make_response_promise<std::int64_t>();
    st.waiting.push_back({conn, ref, promise});
    return promise;
  }
  attach(self, conn, ref);
  return st.stream.last();
}

// A connection ended: its streams of this household go.
void on_unsubscribe(self_ptr self, connection_actor& conn) {
  auto& st = self->state;
  std::erase_if(st.subscribers, [&](const auto& sub) {
    if (sub.first != conn) return false;
    --st.streams_per_shard[sub.second.shard];
    return true;
  });
  std::erase_if(st.waiting, [&](const auto& w) { return w.conn == conn; });
}

// The household's sequence is read (load_head): the waiting streams attach.
void on_loaded(self_ptr self, std::int64_t head) {
  auto& st = self->state;
  event_list out;
  st.stream.reset(head, out);
  deliver(self, out);
  for (auto& w : st.waiting) {
    attach(self, w.conn, w.ref);
    w.promise.deliver(st.stream.last());
  }
  st.waiting.clear();
  if (st.stream.current_gap()) backfill(self);
}

// The database says events up to `head` exist (checked after a peer
// link changed): fetch any this node never received.
// Events on their way get the usual gap wait before the outbox is read.
void on_head(self_ptr self, std::int64_t head) {
  auto& st = self->state;
  st.stream.expect(head);
  if (st.stream.ready() && st.stream.current_gap() && !st.gap_timer_armed) {
    st.gap_timer_armed = true;
    self->delayed_send(self, st.gap_wait, gap_atom::value, head + 1);
  }
}

// The answer of backfill(): the missing events, or a failure to retry.
void on_backfill(self_ptr self, std::int64_t after, event_list& events, bool ok) {
  auto& st = self->state;
  st.backfilling = false;
  if (!ok) {  // the database is away: try again later, never skip
    st.gap_timer_armed = true;
    self->delayed_send(self, std::chrono::seconds(1), gap_atom::value, after + 1);
    return;
  }
  event_list out;
  for (auto& e : events) st.stream.offer(std::move(e), out);
  // Still stuck at the same hole: its events are gone from the outbox
  // (purged). Move on; connections resync through their cursors.
  if (auto gap = st.stream.current_gap(); gap && gap->after == after) {
    log::warn("household_session {}: events {}..{} missing from the outbox, skipping",
              st.household_id, gap->after + 1, gap->before - 1);
    st.stream.skip_gap(out);
  }
  deliver(self, out);
  if (st.stream.current_gap()) backfill(self);
}

household_session_actor::behavior_type household_session(self_ptr self, std::string household_id,
                                                         storage::pool* db, http::fanout_hub* hub,
                                                         std::chrono::milliseconds gap_wait) {
  self->set_default_handler(engine::drop_unexpected);  // never print a peer's values
  self->state.household_id = std::move(household_id);
  self->state.db = db;
  self->state.hub = hub;
  self->state.load = hub->load_of(self->state.household_id);
  self->state.gap_wait = gap_wait;
  load_head(self);
  return {
      [=](storage::change_event& e) { on_change(self, e); },
      [=](subscribe_atom, connection_actor& conn, http::stream_ref ref)
          -> caf::result<std::int64_t> { return on_subscribe(self, conn, ref); },
      [=](unsubscribe_atom, connection_actor& conn) { on_unsubscribe(self, conn); },
      [=](loaded_atom, std::int64_t head) { on_loaded(self, head); },
      [=](head_atom, std::int64_t head) { on_head(self, head); },
      [=](gap_atom, std::int64_t) {
        self->state.gap_timer_armed = false;
        backfill(self);
      },
      [=](backfill_atom, std::int64_t after, event_list& events, bool ok) {
        on_backfill(self, after, events, ok);
      },
  };
}

}  // namespace

household_session_actor spawn_household_session(caf::actor_system& sys, std::string household_id,
                                                storage::pool* db, http::fanout_hub* hub,
                                                std::chrono::milliseconds gap_wait) {
  return sys.spawn(household_session, std::move(household_id), db, hub, gap_wait);
}

http::event_ptr encode_change(const storage::change_event& e) {
  boost::json::object data;
  data["authHouseholdID"] = e.household_id;
  data["table"] = e.table;
  data["id"] = e.row_id;
  data["operation"] = e.operation;
  data["updated"] = e.updated;
  data["seq"] = e.seq;
  auto out = std::make_shared<http::encoded_event>();
  out->household_id = e.household_id;
  out->seq = e.seq;
  out->trace = e.trace;
  out->body = http::sse::event_body("change", boost::json::serialize(data));
  return out;
}

}  // namespace hearth::actors
