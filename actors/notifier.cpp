#include "actors/notifier.hpp"

#include <map>
#include <set>
#include <utility>

#include "actors/household_session.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "storage/events.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {
namespace {

struct notifier_state {
  static inline const char* name = "notifier";
  storage::pool* db = nullptr;
  http::fanout_hub* hub = nullptr;
  std::chrono::milliseconds gap_wait{25};
  struct household_entry {
    household_session_actor session;
    std::size_t connections = 0;
  };
  std::map<std::string, household_entry> households;
  struct connection_entry {
    connection_actor handle;
    std::set<std::string> households;
  };
  std::map<caf::actor_addr, connection_entry> connections;
  // Peer node id → its notifier (remote), while the link is up.
  std::map<std::string, notifier_actor> peers;
  runtime_counters* counters = nullptr;
  cache_actor cache;  // invalid when there is no read cache
  bool recheck_queued = false;
  bool recheck_again = false;  // asked for while one was under way
};

using self_ptr = notifier_actor::stateful_pointer<notifier_state>;

// Backfill safety net: how often active households' heads are re-read even
// when no link changed, and when after a peer's loss they are re-read again
// (its last commits may become visible after its connection dropped).
constexpr std::chrono::seconds kSweepInterval{5};
constexpr std::chrono::milliseconds kRecheckAfterLoss[] = {std::chrono::milliseconds(500),
                                                           std::chrono::milliseconds(2000)};

void deliver_local(self_ptr self, storage::change_event&& e) {
  auto& st = self->state;
  if (auto it = st.households.find(e.household_id); it != st.households.end())
    self->send(it->second.session, std::move(e));
}

// Reads the heads of every active household on the pool; the answer comes
// back as `heads` and each session backfills whatever it has not seen.
void recheck(self_ptr self) {
  auto& st = self->state;
  if (st.households.empty()) return;
  if (st.recheck_queued) {  // that read may predate the reason for this one
    st.recheck_again = true;
    return;
  }
  std::vector<std::string> ids;
  ids.reserve(st.households.size());
  for (const auto& [id, h] : st.households) ids.push_back(id);
  notifier_actor me = self;
  st.recheck_queued = true;
  storage::run_on_pool(
      *st.db,
      [ids = std::move(ids)](storage::connection& conn) { return storage::head_seqs(conn, ids); },
      [me](auto outcome) {
        if (!outcome.ok())
          log::warn_once("notifier.heads", "notifier: cannot read household heads: " +
                                               log::first_line(outcome.error));
        caf::anon_send(me, heads_atom::value,
                       outcome.ok() ? std::move(*outcome.value) : head_list{});
      });
}

// Stopping the notifier stops every session and connection it knows, so
// the actor system can shut down while streams are still open.
void on_exit(self_ptr self, caf::exit_msg& msg) {
  auto& st = self->state;
  for (auto& [id, h] : st.households) self->send_exit(h.session, msg.reason);
  for (auto& [addr, c] : st.connections) self->send_exit(c.handle, msg.reason);
  st.households.clear();
  st.connections.clear();
  self->quit(msg.reason);
}

// A connection ended: it leaves its households' sessions, and a session
// left without connections stops.
void on_down(self_ptr self, caf::down_msg& dm) {
  auto& st = self->state;
  auto it = st.connections.find(dm.source);
  if (it == st.connections.end()) {
    // A session that failed (e.g. could not read its sequence): forget it;
    // its connections' subscribe requests time out and they reconnect.
    for (auto h = st.households.begin(); h != st.households.end(); ++h)
      if (h->second.session.address() == dm.source) {
        st.households.erase(h);
        break;
      }
    return;
  }
  for (const auto& household : it->second.households) {
    auto h = st.households.find(household);
    if (h == st.households.end()) continue;
    self->send(h->second.session, unsubscribe_atom::value, it->second.handle);
    if (--h->second.connections == 0) {
      self->send_exit(h->second.session, caf::exit_reason::normal);
      st.households.erase(h);
    }
  }
  st.connections.erase(it);
}

// A local commit: once per peer (not per subscriber), then locally.
void on_publish(self_ptr self, storage::change_event& e) {
  auto& st = self->state;
  auto span = storage::change_span("notifier.publish", trace::kind::internal, e);
  if (e.trace.valid()) {
    span.set("hearth.peers", static_cast<std::int64_t>(st.peers.size()));
    e.trace = span.ctx();
  }
  for (const auto& [id, peer] : st.peers) {
    if (!e.trace.valid()) {
      self->send(peer, forward_atom::value, e);
      continue;
    }
    // A producer span per peer; the peer's consumer span is its child.
    trace::span forward("notifier.forward", trace::kind::producer, span.ctx());
    forward.set("hearth.peer", id);
    auto copy = e;
    copy.trace = forward.ctx();
    self->send(peer, forward_atom::value, std::move(copy));
  }
  if (st.counters) {
    st.counters->events_forwarded += st.peers.size();
    --st.counters->notifier_mailbox;  // this publish has left the mailbox
    st.counters->households_active = st.households.size();
  }
  deliver_local(self, std::move(e));
}

// A peer's commit: this node's cached lists of the household are stale.
void on_forward(self_ptr self, storage::change_event& e) {
  auto span = storage::change_span("notifier.forward.receive", trace::kind::consumer, e);
  if (e.trace.valid()) e.trace = span.ctx();
  if (auto& c = self->state.cache) self->send(c, invalidate_atom::value, e.household_id);
  deliver_local(self, std::move(e));
}

// A session revoke: a local one goes to every peer, a peer's to the cache.
void on_revoke(self_ptr self, const std::string& account, bool remote) {
  auto& st = self->state;
  // A local revoke reached the cache already (actor_runtime::revoke_account).
  if (remote && st.cache) self->send(st.cache, revoke_atom::value, account);
  if (!remote)
    for (const auto& [id, peer] : st.peers) self->send(peer, revoke_atom::value, account, true);
}

void on_peer_up(self_ptr self, const std::string& node, const caf::actor& peer) {
  auto handle = caf::actor_cast<notifier_actor>(peer);
  self->state.peers[node] = handle;
  // Invalidations the peer sent while unlinked never arrived.
  if (auto& c = self->state.cache) self->send(c, flush_atom::value);
  // Commits the peer made before it knew us were never sent here, and
  // ours before we knew it never went there: both sides re-read heads
  // now that events flow (the peer when our recheck request arrives).
  recheck(self);
  self->send(handle, recheck_atom::value);
}

void on_peer_down(self_ptr self, const std::string& node) {
  self->state.peers.erase(node);
  if (auto& c = self->state.cache) self->send(c, flush_atom::value);
  recheck(self);
  for (auto delay : kRecheckAfterLoss) self->delayed_send(self, delay, recheck_atom::value);
}

// The periodic safety net (kSweepInterval).
void on_sweep(self_ptr self) {
  self->delayed_send(self, kSweepInterval, sweep_atom::value);
  if (auto* c = self->state.counters) {
    c->households_active = self->state.households.size();
  }
  recheck(self);
}

// The answer of recheck(): each session backfills up to its head.
void on_heads(self_ptr self, head_list& heads) {
  auto& st = self->state;
  st.recheck_queued = false;
  for (const auto& [id, head] : heads)
    if (auto it = st.households.find(id); it != st.households.end())
      self->send(it->second.session, head_atom::value, head);
  if (std::exchange(st.recheck_again, false)) recheck(self);
}

// A connection's stream subscribes to a household: its session (spawned on
// first use) answers with the seq the stream starts after.
caf::result<std::int64_t> on_subscribe(self_ptr self, const std::string& household,
                                       connection_actor& conn, http::stream_ref ref) {
  auto& st = self->state;
  auto& c = st.connections[conn.address()];
  if (!c.handle) {
    c.handle = conn;
    self->monitor(conn);
  }
  auto& h = st.households[household];
  if (!h.session) {
    h.session = spawn_household_session(self->system(), household, st.db, st.hub, st.gap_wait);
    self->monitor(h.session);
  }
  if (c.households.insert(household).second) ++h.connections;
  return self->delegate(h.session, subscribe_atom::value, conn, ref);
}

notifier_actor::behavior_type notifier(self_ptr self, storage::pool* db, http::fanout_hub* hub,
                                       std::chrono::milliseconds gap_wait,
                                       runtime_counters* counters, cache_actor cache) {
  self->set_default_handler(engine::drop_unexpected);  // never print a peer's values
  self->state.db = db;
  self->state.hub = hub;
  self->state.cache = cache;
  self->state.counters = counters;
  self->state.gap_wait = gap_wait;
  self->set_exit_handler([=](caf::exit_msg& msg) { on_exit(self, msg); });
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->delayed_send(self, kSweepInterval, sweep_atom::value);
  return {
      [=](publish_atom, storage::change_event& e) { on_publish(self, e); },
      [=](forward_atom, storage::change_event& e) { on_forward(self, e); },
      [=](revoke_atom, const std::string& account, bool remote) {
        on_revoke(self, account, remote);
      },
      [=](peer_up_atom, const std::string& node, const caf::actor& peer) {
        on_peer_up(self, node, peer);
      },
      [=](peer_down_atom, const std::string& node) { on_peer_down(self, node); },
      [=](recheck_atom) { recheck(self); },
      [=](sweep_atom) { on_sweep(self); },
      [=](heads_atom, head_list& heads) { on_heads(self, heads); },
      [=](subscribe_atom, const std::string& household, connection_actor& conn,
          http::stream_ref ref) -> caf::result<std::int64_t> {
        return on_subscribe(self, household, conn, ref);
      },
  };
}

}  // namespace

notifier_actor spawn_notifier(caf::actor_system& sys, storage::pool* db, http::fanout_hub* hub,
                              std::chrono::milliseconds gap_wait, runtime_counters* counters,
                              cache_actor cache) {
  return sys.spawn(notifier, db, hub, gap_wait, counters, std::move(cache));
}

}  // namespace hearth::actors
