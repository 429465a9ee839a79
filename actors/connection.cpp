#include "actors/connection.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "actors/household_session.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {
namespace {

struct connection_state {
  static inline const char* name = "connection";
  http::fanout_hub* hub = nullptr;
  http::stream_ref ref;
  cursor start;  // per household: deliver after this
  cursor heads;  // per household: the session's last delivered seq at subscription
  storage::pool* db = nullptr;
  std::map<std::string, int> replay_failures;  // per household: failed reads in a row
};

// A replay that could not be read (the database away: a restart, a
// failover) is read again after 100 ms, doubling up to 2 s, at most this
// many times (about 20 s in all) before the stream gets `resync`: an outage
// the database recovers from within that time costs the client a wait, not
// a full refetch. Live events are held meanwhile (counted against the
// stream's buffer, http/fanout.hpp).
constexpr int kReplayRetries = 14;

std::chrono::milliseconds replay_backoff(int failures) {
  return std::min(std::chrono::milliseconds(100 << std::min(failures - 1, 5)),
                  std::chrono::milliseconds(2000));
}

using self_ptr = connection_actor::stateful_pointer<connection_state>;

// The household session's last delivered seq is known (and the stream now
// receives its later events): replay from the outbox what lies between the
// stream's start and it.
void on_head(self_ptr self, const std::string& household, std::int64_t head) {
  auto& st = self->state;
  st.heads[household] = head;
  const auto from = st.start[household];
  if (head <= from) return;  // live from its start (the stream drops older events)
  connection_actor me = self;
  storage::run_on_pool(
      *st.db,
      [household, after = from, head](storage::connection& conn) {
        return storage::load_events(conn, household, after, head, head - after);
      },
      [me, household](auto outcome) {
        if (!outcome.ok())
          log::error_once("sse.replay", "replay failed: " + log::first_line(outcome.error),
                          "sse: household " + household);
        bool ok = outcome.ok();
        caf::anon_send(me, replay_atom::value, household,
                       ok ? std::move(*outcome.value) : event_list{}, ok);
      });
}

connection_actor::behavior_type connection(self_ptr self, http::fanout_hub* hub,
                                           http::stream_ref ref, std::vector<stream_start> start,
                                           notifier_actor notifier, storage::pool* db,
                                           connection_options options) {
  self->set_default_handler(engine::drop_unexpected);  // never print a peer's values
  auto& st = self->state;
  st.hub = hub;
  st.ref = ref;
  st.db = db;
  for (const auto& s : start) st.start[s.household_id] = s.seq;
  for (const auto& [household, seq] : st.start) {
    self->request(notifier, options.subscribe_timeout, subscribe_atom::value, household,
                  connection_actor{self}, ref)
        .then([=](std::int64_t head) { on_head(self, household, head); },
              [=](caf::error& err) {
                log::warn("sse: subscribe to household {} failed: {}", household,
                          self->system().render(err));
                self->quit();
              });
  }
  // However the actor ends, the stream ends with it.
  self->attach_functor([hub, ref] { hub->close(ref); });
  return {
      [=](replay_atom, const std::string& household, event_list& events, bool ok) {
        auto& st = self->state;
        if (!ok) {
          auto& failures = st.replay_failures[household];
          if (failures < kReplayRetries) {
            ++failures;
            self->delayed_send(self, replay_backoff(failures), replay_retry_atom::value, household);
            return;
          }
        }
        st.replay_failures.erase(household);
        http::event_batch batch;
        batch.reserve(events.size());
        for (const auto& e : events) batch.push_back(encode_change(e));
        // Events purged from the outbox (or the database away for every
        // retry): the stream sends a resync for the household and
        // continues after the head.
        st.hub->replayed(st.ref, household, std::move(batch), ok, st.heads[household]);
      },
      [=](replay_retry_atom, const std::string& household) {
        on_head(self, household, self->state.heads[household]);
      },
      [=](closed_atom) { self->quit(); },
  };
}

}  // namespace

connection_actor spawn_connection(caf::actor_system& sys, http::fanout_hub* hub,
                                  http::stream_ref ref, std::vector<stream_start> start,
                                  notifier_actor notifier, storage::pool* db,
                                  connection_options options) {
  return sys.spawn(connection, hub, ref, std::move(start), std::move(notifier), db, options);
}

}  // namespace hearth::actors
