#include "actors/notifier.hpp"

#include <fmt/chrono.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "actors/household_session.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "storage/events.hpp"
#include "storage/pool.hpp"
#include "storage/revocations.hpp"

namespace hearth::actors {
namespace {

struct notifier_state {
  static inline const char* name = "notifier";
  storage::pool* db = nullptr;
  http::fanout_hub* hub = nullptr;
  account_streams* accounts = nullptr;  // ends the streams of a peer's revoke
  std::chrono::milliseconds gap_wait{25};
  bool periodic_recheck = true;  // the sweep re-reads the outbox heads (outboxRecheck)
  std::string node_id;           // this node's, as peers know it
  struct household_entry {
    household_session_actor session;
    std::size_t connections = 0;
    // The highest seq routed or announced (as a head) to the session: a
    // recheck head at or below it is not sent again.
    std::int64_t routed = 0;
  };
  std::map<std::string, household_entry> households;
  // Interest routing (docs/architecture.md "Interest routing"). What this
  // node needs its peers' events of: households with a local stream (the
  // table above) or with lists in the read cache.
  struct interest_entry {
    bool cache = false;       // the cache holds (or is reading) lists of it
    bool confirmed = false;   // every linked peer answered our add, since the last link-up
    bool announcing = false;  // an add is waiting for the peers' answers
    std::optional<caf::actor_clock::time_point> released;  // no longer needed, since
  };
  std::unordered_map<std::string, interest_entry> interest;
  std::uint64_t link_epoch = 0;  // peer links come up: confirmations made before are void
  // What each peer needs (from its watch messages), and the same by household.
  struct peer_interest {
    notifier_actor handle;
    std::unordered_set<std::string> households;
  };
  std::unordered_map<std::string, peer_interest> remote;
  std::unordered_map<std::string, std::vector<std::string>> interested;  // household → nodes
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
  bool recheck_again = false;                    // all asked for while one was under way
  std::unordered_set<std::string> recheck_some;  // some asked for while one was under way
  // Recorded revocations (storage/revocations.hpp): where the next read
  // starts (the database's clock at the last one, this node's start at
  // first), and those applied here (seq → when), by message or by a read.
  std::string revocations_since;
  std::unordered_map<std::int64_t, caf::actor_clock::time_point> revocations_applied;
  bool revocations_reading = false;
  bool revocations_again = false;  // asked for while one was under way
};

using self_ptr = notifier_actor::stateful_pointer<notifier_state>;

// Backfill safety net: how often active households' heads are re-read even
// when no link changed, and when after a peer's loss they are re-read again
// (its last commits may become visible after its connection dropped).
constexpr std::chrono::seconds kSweepInterval{5};
constexpr std::chrono::milliseconds kRecheckAfterLoss[] = {std::chrono::milliseconds(500),
                                                           std::chrono::milliseconds(2000)};
// Interest that ends is withdrawn from the peers at the first sweep at
// least this long after (so 5–10 s after): a client that reconnects in
// between does not make the node unsubscribe and subscribe again.
constexpr std::chrono::seconds kUnsubscribeDelay{5};
// How long a peer has to answer a watch message (an add or a snapshot).
constexpr std::chrono::seconds kWatchTimeout{5};

void deliver_local(self_ptr self, storage::change_event&& e) {
  auto& st = self->state;
  if (auto it = st.households.find(e.household_id); it != st.households.end()) {
    it->second.routed = std::max(it->second.routed, e.seq);
    self->send(it->second.session, std::move(e));
  }
}

void publish_interest_counters(notifier_state& st) {
  if (!st.counters) return;
  st.counters->interest_local = st.interest.size();
  st.counters->interest_remote = st.interested.size();
}

// Reads the heads of `ids` on the pool; the answer comes back as `heads`
// and each session backfills whatever it has not seen.
void read_heads(self_ptr self, std::vector<std::string> ids) {
  auto& st = self->state;
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

// Re-reads the heads of the active households (all, or `one`), one read
// at a time: asked for while one is under way, it runs after it.
void recheck(self_ptr self, const std::string* one = nullptr) {
  auto& st = self->state;
  if (st.households.empty()) return;
  if (one && !st.households.count(*one)) return;
  if (st.recheck_queued) {  // that read may predate the reason for this one
    if (one)
      st.recheck_some.insert(*one);
    else
      st.recheck_again = true;
    return;
  }
  std::vector<std::string> ids;
  if (one) {
    ids.push_back(*one);
  } else {
    ids.reserve(st.households.size());
    for (const auto& [id, h] : st.households) ids.push_back(id);
  }
  read_heads(self, std::move(ids));
}

// The peers answered (or failed to answer) our add of `household`, sent
// in link epoch `epoch`: interest is confirmed when all answered and no
// link came up since (a new peer learnt it from our snapshot, which nobody
// has answered yet). The cache learns the outcome; a local stream's
// session re-reads its head, for the commits made before the peers knew.
void on_announced(self_ptr self, const std::string& household, std::uint64_t epoch, bool ok) {
  auto& st = self->state;
  auto it = st.interest.find(household);
  if (it == st.interest.end()) return;
  auto& e = it->second;
  e.announcing = false;
  e.confirmed = ok && epoch == st.link_epoch;
  if (e.cache && st.cache) self->send(st.cache, interest_atom::value, household, e.confirmed);
  recheck(self, &household);
}

// Tells every linked peer that this node needs `household`'s events,
// waiting for their answers (on_announced).
void announce(self_ptr self, const std::string& household) {
  auto& st = self->state;
  auto& e = st.interest[household];
  e.announcing = true;
  e.confirmed = false;
  const auto epoch = st.link_epoch;
  if (st.peers.empty()) {  // nobody to tell, nothing committed elsewhere to re-read
    e.announcing = false;
    e.confirmed = true;
    if (e.cache && st.cache) self->send(st.cache, interest_atom::value, household, true);
    return;
  }
  struct tally {
    std::size_t waiting;
    bool ok = true;
  };
  auto t = std::make_shared<tally>(tally{st.peers.size()});
  auto done = [self, household, epoch, t](bool ok) {
    t->ok = t->ok && ok;
    if (--t->waiting == 0) on_announced(self, household, epoch, t->ok);
  };
  for (const auto& [id, peer] : st.peers)
    self->request(peer, kWatchTimeout, watch_atom::value, st.node_id, false,
                  household_ids{household}, household_ids{})
        .then([done](bool ok) { done(ok); }, [done](caf::error&) { done(false); });
  if (st.counters) st.counters->interest_messages += st.peers.size();
}

// This node needs `household`'s events: for a new local stream, or (from
// the cache) for its lists, which the cache may keep once it hears back.
void gain(self_ptr self, const std::string& household, bool for_cache) {
  auto& st = self->state;
  auto [it, fresh] = st.interest.try_emplace(household);
  auto& e = it->second;
  if (for_cache) e.cache = true;
  e.released.reset();
  if (fresh || (!e.confirmed && !e.announcing))
    announce(self, household);
  else if (for_cache && e.confirmed)
    self->send(st.cache, interest_atom::value, household, true);
  publish_interest_counters(st);
}

// A local stream's session or the cache's lists of `household` are gone:
// once neither needs it, it is withdrawn from the peers after
// kUnsubscribeDelay (on_sweep).
void release(self_ptr self, const std::string& household, bool for_cache) {
  auto& st = self->state;
  auto it = st.interest.find(household);
  if (it == st.interest.end()) return;
  if (for_cache) it->second.cache = false;
  if (!it->second.cache && !st.households.count(household))
    it->second.released = self->clock().now();
}

// Withdraws the interest released at least kUnsubscribeDelay ago.
void withdraw_released(self_ptr self) {
  auto& st = self->state;
  const auto cutoff = self->clock().now() - kUnsubscribeDelay;
  household_ids gone;
  for (auto it = st.interest.begin(); it != st.interest.end();) {
    if (it->second.released && *it->second.released <= cutoff) {
      gone.push_back(it->first);
      it = st.interest.erase(it);
    } else {
      ++it;
    }
  }
  if (gone.empty()) return;
  for (const auto& [id, peer] : st.peers)
    caf::anon_send(peer, watch_atom::value, st.node_id, false, household_ids{}, gone);
  if (st.counters) st.counters->interest_messages += st.peers.size();
  publish_interest_counters(st);
}

// Peer `node` no longer needs `household` (the by-household index).
void unindex(notifier_state& st, const std::string& household, const std::string& node) {
  auto i = st.interested.find(household);
  if (i == st.interested.end()) return;
  auto& nodes = i->second;
  nodes.erase(std::remove(nodes.begin(), nodes.end(), node), nodes.end());
  if (nodes.empty()) st.interested.erase(i);
}

void forget_peer_interest(notifier_state& st, const std::string& node) {
  auto it = st.remote.find(node);
  if (it == st.remote.end()) return;
  for (const auto& h : it->second.households) unindex(st, h, node);
  st.remote.erase(it);
}

// A peer's watch message: what it needs from now on.
bool on_watch(self_ptr self, const std::string& node, bool snapshot, const household_ids& add,
              const household_ids& drop) {
  auto& st = self->state;
  if (node.empty() || node == st.node_id) return false;
  if (snapshot) forget_peer_interest(st, node);
  auto& peer = st.remote[node];
  peer.handle = caf::actor_cast<notifier_actor>(self->current_sender());
  for (const auto& h : add)
    if (peer.households.insert(h).second) st.interested[h].push_back(node);
  for (const auto& h : drop)
    if (peer.households.erase(h)) unindex(st, h, node);
  publish_interest_counters(st);
  return true;
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
        auto household = h->first;
        st.households.erase(h);
        release(self, household, false);
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
      release(self, household, false);
    }
  }
  st.connections.erase(it);
}

// A local commit: once per peer (not per subscriber), then locally.
void on_publish(self_ptr self, storage::change_event& e) {
  auto& st = self->state;
  auto span = storage::change_span("notifier.publish", trace::kind::internal, e);
  static const std::vector<std::string> nobody;
  auto found = st.interested.find(e.household_id);
  const auto& nodes = found == st.interested.end() ? nobody : found->second;
  if (e.trace.valid()) {
    span.set("hearth.peers", static_cast<std::int64_t>(nodes.size()));
    e.trace = span.ctx();
  }
  std::size_t sent = 0;
  for (const auto& id : nodes) {
    auto p = st.remote.find(id);
    if (p == st.remote.end() || !p->second.handle) continue;
    const auto& peer = p->second.handle;
    ++sent;
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
    ++st.counters->commits_published;
    st.counters->events_forwarded += sent;
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

// A session revoke: a local one goes to every peer, a peer's to the cache
// and to the account's streams on this node. `seq` (its recorded
// revocation, 0 for none) is marked applied: a read of the recorded ones
// skips it.
void on_revoke(self_ptr self, const std::string& account, std::int64_t seq, bool remote) {
  auto& st = self->state;
  if (seq > 0) st.revocations_applied.emplace(seq, self->clock().now());
  // A local revoke reached the cache and the streams already
  // (actor_runtime::revoke_account).
  if (remote && st.cache) self->send(st.cache, revoke_atom::value, account);
  if (remote && st.accounts) st.accounts->end(account);
  if (!remote)
    for (const auto& [id, peer] : st.peers)
      self->send(peer, revoke_atom::value, account, seq, true);
}

// Reads the revocations recorded since the last read (one read at a time:
// asked for while one is under way, it runs after it). A revoke sent while
// a link was down never arrived; its record is read here, at each sweep
// and link change.
void read_revocations(self_ptr self) {
  auto& st = self->state;
  if (st.revocations_reading) {
    st.revocations_again = true;
    return;
  }
  st.revocations_reading = true;
  notifier_actor me = self;
  storage::run_on_pool(
      *st.db,
      [since = st.revocations_since](storage::connection& conn) {
        return storage::read_revocations(conn, since);
      },
      [me](storage::pool_outcome<storage::revocation_window> outcome) {
        if (!outcome.ok()) {
          log::warn_once("notifier.revocations", "notifier: cannot read recorded revocations: " +
                                                     log::first_line(outcome.error));
          caf::anon_send(me, revocations_atom::value, false, std::string(),
                         std::vector<std::int64_t>{}, std::vector<std::string>{});
          return;
        }
        auto& w = *outcome.value;
        if (w.truncated)
          log::error(
              "notifier: more than {} revocations in one read; the newest wait for the "
              "next one",
              storage::kRevocationReadLimit);
        caf::anon_send(me, revocations_atom::value, true, std::move(w.read_at), std::move(w.seqs),
                       std::move(w.account_ids));
      });
}

// Applies the revocations read that this node has not applied yet (they
// were missed while a link was down): the account's cached grants and its
// streams here end, as for a peer's revoke. A failed read leaves `since`
// as it was, so the next one covers the gap.
void on_revocations(self_ptr self, bool ok, std::string& read_at, std::vector<std::int64_t>& seqs,
                    std::vector<std::string>& accounts) {
  auto& st = self->state;
  st.revocations_reading = false;
  if (ok) {
    const auto now = self->clock().now();
    std::unordered_set<std::int64_t> read(seqs.begin(), seqs.end());
    for (std::size_t i = 0; i < seqs.size() && i < accounts.size(); ++i) {
      if (!st.revocations_applied.emplace(seqs[i], now).second) continue;
      log::info("notifier: revocation {} of account {} was missed while unlinked: applied now",
                seqs[i], accounts[i]);
      if (st.cache) self->send(st.cache, revoke_atom::value, accounts[i]);
      if (st.accounts) st.accounts->end(accounts[i]);
    }
    if (!read_at.empty()) st.revocations_since = std::move(read_at);
    // Seqs this read did not return fall out of later windows too, once
    // the lookback has passed them.
    const auto keep = std::chrono::seconds(4 * storage::kRevocationLookbackSeconds);
    for (auto it = st.revocations_applied.begin(); it != st.revocations_applied.end();)
      it = (now - it->second > keep && !read.count(it->first)) ? st.revocations_applied.erase(it)
                                                               : std::next(it);
  }
  if (std::exchange(st.revocations_again, false)) read_revocations(self);
}

// A link came up: the peer gets a snapshot of this node's interest (which
// replaces whatever it knew), and once it answered, every commit it
// publishes reaches us; so our sessions re-read their heads then, to
// backfill what it committed before. The peer does the same the other way.
void on_peer_up(self_ptr self, const std::string& node, const caf::actor& peer) {
  auto& st = self->state;
  auto handle = caf::actor_cast<notifier_actor>(peer);
  st.peers[node] = handle;
  // Confirmations the cache holds did not cover this peer: the cache is
  // flushed and asks again.
  ++st.link_epoch;
  household_ids snapshot;
  snapshot.reserve(st.interest.size());
  for (auto& [h, e] : st.interest) {
    e.confirmed = false;
    snapshot.push_back(h);
  }
  // Invalidations the peer sent while unlinked never arrived.
  if (auto& c = st.cache) self->send(c, flush_atom::value);
  self->request(handle, kWatchTimeout, watch_atom::value, st.node_id, true, std::move(snapshot),
                household_ids{})
      .then([self](bool) { recheck(self); }, [self](caf::error&) { recheck(self); });
  if (st.counters) ++st.counters->interest_messages;
  read_revocations(self);  // what the peer revoked while unlinked
}

void on_peer_down(self_ptr self, const std::string& node) {
  self->state.peers.erase(node);
  forget_peer_interest(self->state, node);
  publish_interest_counters(self->state);
  if (auto& c = self->state.cache) self->send(c, flush_atom::value);
  recheck(self);
  for (auto delay : kRecheckAfterLoss) self->delayed_send(self, delay, recheck_atom::value);
  read_revocations(self);  // revokes it sent before the loss may not have arrived
}

// The periodic safety net (kSweepInterval).
void on_sweep(self_ptr self) {
  self->delayed_send(self, kSweepInterval, sweep_atom::value);
  if (auto* c = self->state.counters) {
    c->households_active = self->state.households.size();
  }
  withdraw_released(self);
  if (self->state.periodic_recheck) recheck(self);
  read_revocations(self);
}

// The answer of recheck(): each session backfills up to its head.
void on_heads(self_ptr self, head_list& heads) {
  auto& st = self->state;
  st.recheck_queued = false;
  // A session already sent an event (or head) at or past this head has
  // nothing to learn from it (a hole below it is its own gap check's).
  for (const auto& [id, head] : heads)
    if (auto it = st.households.find(id); it != st.households.end() && head > it->second.routed) {
      it->second.routed = head;
      self->send(it->second.session, head_atom::value, head);
    }
  if (std::exchange(st.recheck_again, false)) {
    st.recheck_some.clear();
    recheck(self);
  } else if (!st.recheck_some.empty()) {
    // One read for all of them: recheck() of one id at a time would queue.
    auto some = std::exchange(st.recheck_some, {});
    std::vector<std::string> ids;
    for (const auto& id : some)
      if (st.households.count(id)) ids.push_back(id);
    if (!ids.empty()) read_heads(self, std::move(ids));
  }
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
    gain(self, household, false);
  }
  if (c.households.insert(household).second) ++h.connections;
  return self->delegate(h.session, subscribe_atom::value, conn, ref);
}

notifier_actor::behavior_type notifier(self_ptr self, storage::pool* db, http::fanout_hub* hub,
                                       std::chrono::milliseconds gap_wait,
                                       runtime_counters* counters, cache_actor cache,
                                       std::string node_id, account_streams* accounts,
                                       bool periodic_recheck) {
  self->set_default_handler(engine::drop_unexpected);  // never print a peer's values
  self->state.node_id = std::move(node_id);
  self->state.periodic_recheck = periodic_recheck;
  self->state.accounts = accounts;
  self->state.db = db;
  self->state.hub = hub;
  self->state.cache = cache;
  self->state.counters = counters;
  self->state.gap_wait = gap_wait;
  // Revocations are read from this node's start on (less the lookback):
  // none before can concern its streams or its cache.
  self->state.revocations_since = fmt::format(
      "{:%Y-%m-%d %H:%M:%S}+00",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  self->set_exit_handler([=](caf::exit_msg& msg) { on_exit(self, msg); });
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->delayed_send(self, kSweepInterval, sweep_atom::value);
  return {
      [=](publish_atom, storage::change_event& e) { on_publish(self, e); },
      [=](forward_atom, storage::change_event& e) { on_forward(self, e); },
      [=](revoke_atom, const std::string& account, std::int64_t seq, bool remote) {
        on_revoke(self, account, seq, remote);
      },
      [=](revocations_atom, bool ok, std::string& read_at, std::vector<std::int64_t>& seqs,
          std::vector<std::string>& accounts) {
        on_revocations(self, ok, read_at, seqs, accounts);
      },
      [=](peer_up_atom, const std::string& node, const caf::actor& peer) {
        on_peer_up(self, node, peer);
      },
      [=](peer_down_atom, const std::string& node) { on_peer_down(self, node); },
      [=](recheck_atom) { recheck(self); },
      [=](sweep_atom) { on_sweep(self); },
      [=](heads_atom, head_list& heads) { on_heads(self, heads); },
      [=](watch_atom, const std::string& node, bool snapshot, const household_ids& add,
          const household_ids& drop) { return on_watch(self, node, snapshot, add, drop); },
      [=](interest_atom, const std::string& household, bool on) {
        if (on)
          gain(self, household, true);
        else
          release(self, household, true);
      },
      [=](subscribe_atom, const std::string& household, connection_actor& conn,
          http::stream_ref ref) -> caf::result<std::int64_t> {
        return on_subscribe(self, household, conn, ref);
      },
  };
}

}  // namespace

notifier_actor spawn_notifier(caf::actor_system& sys, storage::pool* db, http::fanout_hub* hub,
                              std::chrono::milliseconds gap_wait, runtime_counters* counters,
                              cache_actor cache, std::string node_id, account_streams* accounts,
                              bool periodic_recheck) {
  auto n = sys.spawn(notifier, db, hub, gap_wait, counters, cache, std::move(node_id), accounts,
                     periodic_recheck);
  if (cache) caf::anon_send(cache, attach_atom::value, n);
  return n;
}

}  // namespace hearth::actors
