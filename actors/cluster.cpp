#include "actors/cluster.hpp"

#include <caf/io/all.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>

#include "actors/election.hpp"
#include "config/config.hpp"
#include "config/logging.hpp"

namespace hearth::actors {
namespace {

struct peer_entry {
  std::string addr;
  std::string link = "down";
  caf::actor remote;    // its cluster actor while linked
  bool alive = false;   // its database heartbeat is fresh
  bool warned = false;  // a failed dial was logged at warn since the last link
  // Alive in the database but not linked since (the check that warns when
  // a link never comes up, whichever side dials).
  std::optional<std::chrono::steady_clock::time_point> unlinked_since;
  bool warned_unlinked = false;
};

// A live peer left unlinked this long is said once at warn: the usual
// cause is that one side runs cluster TLS and the other does not, or the
// advertised address cannot be reached.
constexpr std::chrono::seconds kUnlinkedWarnAfter{10};

struct cluster_state {
  static inline const char* name = "cluster";
  cluster_options options;
  notifier_actor notifier;
  scheduler_actor scheduler;
  status_board* board = nullptr;
  election* elect = nullptr;
  std::map<std::string, peer_entry> peers;
  bool leading = false;
  std::int64_t term = 0;
  std::string leader_id;
};

using self_ptr = cluster_actor::stateful_pointer<cluster_state>;

void publish_status(self_ptr self) {
  auto& st = self->state;
  cluster_status s;
  s.node_id = st.options.node_id;
  s.leading = st.leading;
  s.leader_id = st.leader_id;
  s.term = st.term;
  s.transport = st.options.tls_middleman ? "tls" : "plaintext";
  for (const auto& [id, p] : st.peers) s.peers.push_back({id, p.addr, p.link, s.transport});
  st.board->set(std::move(s));
}

void link_up(self_ptr self, const std::string& id, const caf::actor& remote,
             const caf::actor& remote_notifier) {
  auto& p = self->state.peers[id];
  if (p.remote && p.remote != remote) self->demonitor(p.remote);
  p.remote = remote;
  p.link = "up";
  p.alive = true;
  p.warned = false;
  p.unlinked_since.reset();
  p.warned_unlinked = false;
  self->monitor(remote);
  self->send(self->state.notifier, peer_up_atom::value, id, remote_notifier);
  log::info("cluster: linked with {} ({})", id, p.addr);
  publish_status(self);
}

void dial_failed(self_ptr self, const std::string& id, const caf::error& err) {
  auto it = self->state.peers.find(id);
  if (it == self->state.peers.end() || it->second.link != "connecting") return;
  it->second.link = "down";
  // With TLS, a connection closed during the handshake is most likely a
  // certificate one of the two sides refused: said once per peer (until it
  // links), the retries every heartbeat at debug.
  if (self->state.options.tls_middleman && err == caf::sec::disconnect_during_handshake &&
      !it->second.warned) {
    it->second.warned = true;
    log::warn(
        "cluster: TLS handshake with {} at {} failed: is its certificate (and ours) signed by the "
        "cluster CA, and does it run cluster TLS? ({})",
        id, it->second.addr, self->system().render(err));
  } else if (!self->state.options.tls_middleman && it->second.alive && !it->second.warned) {
    // A plaintext node's dial to a live peer: said once, since a TLS
    // cluster refuses it without a word on this side otherwise.
    it->second.warned = true;
    log::warn(
        "cluster: cannot link with {} at {}: {} (this node runs plaintext cluster links: if the "
        "cluster runs TLS, set clusterTLSCert, clusterTLSKey and clusterTLSCA here too)",
        id, it->second.addr, self->system().render(err));
  }
  log::debug("cluster: cannot reach {} at {}: {}", id, it->second.addr, self->system().render(err));
  publish_status(self);
}

// Connects to the peer's middleman and greets its cluster actor.
void dial(self_ptr self, const std::string& id) {
  auto& st = self->state;
  auto& p = st.peers[id];
  std::pair<std::string, std::uint16_t> hp;
  try {
    hp = config::split_host_port(p.addr);
  } catch (const std::exception&) {
    log::warn("cluster: peer {} registered a bad address \"{}\"", id, p.addr);
    return;
  }
  p.link = "connecting";
  auto timeout = st.options.dial_timeout;
  auto mm = st.options.tls_middleman ? st.options.tls_middleman
                                     : self->system().middleman().actor_handle();
  self->request(mm, timeout, caf::connect_atom::value, hp.first, hp.second)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr) return dial_failed(self, id, caf::sec::no_actor_published_at_port);
            auto remote = caf::actor_cast<peer_actor>(ptr);
            auto& s = self->state;
            self->request(remote, timeout, hello_atom::value, s.options.node_id,
                          caf::actor_cast<caf::actor>(self),
                          caf::actor_cast<caf::actor>(s.notifier))
                .then(
                    [=](const std::string& their_id, const caf::actor& their_notifier) {
                      if (their_id != id) {
                        log::warn("cluster: {} answered as {}", id, their_id);
                        return dial_failed(self, id, caf::sec::unexpected_response);
                      }
                      auto it = self->state.peers.find(id);
                      if (it == self->state.peers.end() || it->second.link != "connecting") return;
                      link_up(self, id, caf::actor_cast<caf::actor>(remote), their_notifier);
                    },
                    [=](caf::error& err) { dial_failed(self, id, err); });
          },
          [=](caf::error& err) { dial_failed(self, id, err); });
  publish_status(self);
}

cluster_actor::behavior_type cluster(self_ptr self, cluster_options options,
                                     notifier_actor notifier, scheduler_actor scheduler,
                                     status_board* board, election* elect) {
  self->set_default_handler(engine::drop_unexpected);  // never print a peer's values
  auto& st = self->state;
  st.options = std::move(options);
  st.notifier = std::move(notifier);
  st.scheduler = std::move(scheduler);
  st.board = board;
  st.elect = elect;
  publish_status(self);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto& [id, p] : st.peers) {
      if (!p.remote || p.remote.address() != dm.source) continue;
      p.remote = nullptr;
      p.link = "down";
      // A peer that stops cleanly ends its cluster actor first: its exit
      // reason arrives here. Anything else is a lost link.
      if (dm.reason == caf::exit_reason::user_shutdown || dm.reason == caf::exit_reason::normal)
        log::info("cluster: {} left (it stopped)", id);
      else
        log::warn("cluster: lost link with {} ({})", id, self->system().render(dm.reason));
      self->send(st.notifier, peer_down_atom::value, id);
      if (st.elect) st.elect->poke();  // it may have led: try the lock now
      publish_status(self);
      return;
    }
  });
  return {
      [=](hello_atom, const std::string& id, const caf::actor& remote,
          const caf::actor& remote_notifier) -> std::tuple<std::string, caf::actor> {
        auto& st = self->state;
        if (id != st.options.node_id) link_up(self, id, remote, remote_notifier);
        return {st.options.node_id, caf::actor_cast<caf::actor>(st.notifier)};
      },
      [=](members_atom, std::vector<storage::node_row>& nodes) {
        auto& st = self->state;
        const auto& me = st.options.node_id;
        for (auto& [id, p] : st.peers) p.alive = false;
        for (auto& n : nodes) {
          if (n.node_id == me || !n.alive) continue;
          auto& p = st.peers[n.node_id];
          p.alive = true;
          // A restarted peer may have moved; a peer that dialed us is
          // listed before its address is known.
          if (p.link == "down" || p.addr.empty()) p.addr = n.cluster_addr;
          if (p.link == "down" && me < n.node_id) dial(self, n.node_id);
          if (p.link == "up") {
            p.unlinked_since.reset();
          } else if (!p.unlinked_since) {
            p.unlinked_since = std::chrono::steady_clock::now();
          } else if (!p.warned_unlinked &&
                     std::chrono::steady_clock::now() - *p.unlinked_since > kUnlinkedWarnAfter) {
            p.warned_unlinked = true;
            log::warn(
                "cluster: {} at {} is alive (its database heartbeat is fresh) but not linked for "
                "{} s: do both run the same cluster transport (this node: {}), and can each "
                "reach the other's clusterAddr?",
                n.node_id, p.addr, kUnlinkedWarnAfter.count(),
                st.options.tls_middleman ? "TLS" : "plaintext");
          }
        }
        for (auto it = st.peers.begin(); it != st.peers.end();)
          it = (!it->second.alive && it->second.link == "down") ? st.peers.erase(it) : ++it;
        publish_status(self);
      },
      [=](leading_atom, bool leading, std::int64_t term, std::string& leader_id) {
        auto& st = self->state;
        bool changed = st.leading != leading || (leading && st.term != term);
        st.leading = leading;
        st.term = term;
        st.leader_id = std::move(leader_id);
        if (changed) self->send(st.scheduler, leading_atom::value, leading, term);
        publish_status(self);
      },
  };
}

}  // namespace

cluster_actor spawn_cluster(caf::actor_system& sys, cluster_options options,
                            notifier_actor notifier, scheduler_actor scheduler, status_board* board,
                            election* elect) {
  return sys.spawn(cluster, std::move(options), std::move(notifier), std::move(scheduler), board,
                   elect);
}

}  // namespace hearth::actors
