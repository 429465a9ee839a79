#include "actors/connection.hpp"

#include <boost/json/serialize.hpp>
#include <map>
#include <set>

#include "actors/ordered_stream.hpp"
#include "config/logging.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {

std::string change_frame(const std::string& id, const storage::change_event& e) {
  boost::json::object data;
  data["authHouseholdID"] = e.household_id;
  data["table"] = e.table;
  data["id"] = e.row_id;
  data["operation"] = e.operation;
  data["updated"] = e.updated;
  data["seq"] = e.seq;
  std::string frame;
  frame.reserve(256 + id.size());
  frame += "id: ";
  frame += id;
  frame += "\nevent: change\ndata: ";
  frame += boost::json::serialize(data);
  frame += "\n\n";
  return frame;
}

namespace {

struct connection_state {
  static inline const char* name = "connection";
  std::shared_ptr<http::event_sink> sink;
  cursor start;     // per household: deliver after this
  cursor position;  // what the client has seen
  std::map<std::string, ordered_stream> streams;
  std::map<std::string, std::int64_t> heads;  // last seq at subscription
  std::set<std::string> replaying;
  storage::pool* db = nullptr;
  connection_options options;
};

using self_ptr = connection_actor::stateful_pointer<connection_state>;

void emit(self_ptr self, const event_list& events) {
  auto& st = self->state;
  for (const auto& e : events) {
    st.position[e.household_id] = e.seq;
    bool sent = st.sink->send(change_frame(encode_cursor(st.position), e));
    if (auto* c = st.options.counters) ++(sent ? c->events_delivered : c->events_dropped);
    if (!sent) return self->quit();
  }
}

void emit_resync(self_ptr self, const std::string& household, std::int64_t head) {
  auto& st = self->state;
  st.position[household] = head;
  boost::json::object data;
  data["authHouseholdID"] = household;
  data["seq"] = head;
  auto frame = "id: " + encode_cursor(st.position) +
               "\nevent: resync\ndata: " + boost::json::serialize(data) + "\n\n";
  if (!st.sink->send(std::move(frame))) self->quit();
}

// The household session's last delivered seq is known: go live, after
// replaying from the outbox what lies between the stream's start and it.
void on_head(self_ptr self, const std::string& household, std::int64_t head) {
  auto& st = self->state;
  st.heads[household] = head;
  auto& stream = st.streams[household];
  event_list out;
  auto from = st.start[household];
  stream.reset(from, out);  // buffers live events above a hole
  emit(self, out);
  if (head <= from) return;  // the session lags the start: its older events are dropped
  st.replaying.insert(household);
  connection_actor me = self;
  bool queued = st.db->submit([me, household, after = from, head](storage::connection& conn) {
    event_list events;
    bool ok = true;
    try {
      events = storage::load_events(conn, household, after, head, head - after);
    } catch (const std::exception& e) {
      log::error("sse: replay of household {} failed: {}", household, e.what());
      ok = false;
    }
    caf::anon_send(me, replay_atom::value, household, std::move(events), ok);
  });
  if (!queued) self->quit();
}

connection_actor::behavior_type connection(self_ptr self, std::shared_ptr<http::event_sink> sink,
                                           std::vector<stream_start> start, notifier_actor notifier,
                                           storage::pool* db, connection_options options) {
  auto& st = self->state;
  st.sink = std::move(sink);
  st.db = db;
  st.options = options;
  for (const auto& s : start) st.start[s.household_id] = st.position[s.household_id] = s.seq;
  for (const auto& s : start)
    if (s.resync) emit_resync(self, s.household_id, s.seq);
  for (const auto& [household, seq] : st.start) {
    st.streams[household];
    self->request(notifier, options.subscribe_timeout, subscribe_atom::value, household,
                  connection_actor{self})
        .then([=](std::int64_t head) { on_head(self, household, head); },
              [=](caf::error& err) {
                log::warn("sse: subscribe to household {} failed: {}", household,
                          self->system().render(err));
                self->state.sink->close();
                self->quit();
              });
  }
  self->delayed_send(self, options.heartbeat, heartbeat_atom::value);
  self->attach_functor([s = st.sink] { s->close(); });
  return {
      [=](storage::change_event& e) {
        auto& st = self->state;
        auto it = st.streams.find(e.household_id);
        if (it == st.streams.end()) return;
        event_list out;
        auto gap = it->second.offer(std::move(e), out);
        // Live events come in order from the household_session; a hole here
        // outside a replay means the session skipped purged events.
        if (gap && !st.replaying.count(it->first)) it->second.skip_gap(out);
        emit(self, out);
      },
      [=](replay_atom, const std::string& household, event_list& events, bool ok) {
        auto& st = self->state;
        st.replaying.erase(household);
        auto& stream = st.streams[household];
        event_list out;
        for (auto& e : events) stream.offer(std::move(e), out);
        emit(self, out);
        if (!ok || stream.last() < st.heads[household]) {
          // Replay incomplete (events purged, or the database away): tell the
          // client to refetch, then continue live.
          emit_resync(self, household, st.heads[household]);
          out.clear();
          stream.reset(st.heads[household], out);
          emit(self, out);
        } else if (stream.current_gap()) {
          out.clear();
          stream.skip_gap(out);
          emit(self, out);
        }
      },
      [=](heartbeat_atom) {
        if (!self->state.sink->send(":\n\n")) return self->quit();
        self->delayed_send(self, self->state.options.heartbeat, heartbeat_atom::value);
      },
      [=](closed_atom) { self->quit(); },
  };
}

}  // namespace

connection_actor spawn_connection(caf::actor_system& sys, std::shared_ptr<http::event_sink> sink,
                                  std::vector<stream_start> start, notifier_actor notifier,
                                  storage::pool* db, connection_options options) {
  auto raw_sink = sink;
  auto actor =
      sys.spawn(connection, std::move(sink), std::move(start), std::move(notifier), db, options);
  raw_sink->on_close([actor] { caf::anon_send(actor, closed_atom::value); });
  return actor;
}

}  // namespace hearth::actors
