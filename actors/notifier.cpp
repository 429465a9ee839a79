#include "actors/notifier.hpp"

#include <map>
#include <set>

#include "actors/household_session.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {
namespace {

struct notifier_state {
  static inline const char* name = "notifier";
  storage::pool* db = nullptr;
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
};

using self_ptr = notifier_actor::stateful_pointer<notifier_state>;

notifier_actor::behavior_type notifier(self_ptr self, storage::pool* db,
                                       std::chrono::milliseconds gap_wait) {
  self->state.db = db;
  self->state.gap_wait = gap_wait;
  // Stopping the notifier stops every session and connection it knows, so
  // the actor system can shut down while streams are still open.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto& [id, h] : st.households) self->send_exit(h.session, msg.reason);
    for (auto& [addr, c] : st.connections) self->send_exit(c.handle, msg.reason);
    st.households.clear();
    st.connections.clear();
    self->quit(msg.reason);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
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
  });
  return {
      [=](publish_atom, storage::change_event& e) {
        auto& st = self->state;
        if (auto it = st.households.find(e.household_id); it != st.households.end())
          self->send(it->second.session, std::move(e));
      },
      [=](subscribe_atom, const std::string& household,
          connection_actor& conn) -> caf::result<std::int64_t> {
        auto& st = self->state;
        auto& c = st.connections[conn.address()];
        if (!c.handle) {
          c.handle = conn;
          self->monitor(conn);
        }
        auto& h = st.households[household];
        if (!h.session) {
          h.session = spawn_household_session(self->system(), household, st.db, st.gap_wait);
          self->monitor(h.session);
        }
        if (c.households.insert(household).second) ++h.connections;
        return self->delegate(h.session, subscribe_atom::value, conn);
      },
  };
}

}  // namespace

notifier_actor spawn_notifier(caf::actor_system& sys, storage::pool* db,
                              std::chrono::milliseconds gap_wait) {
  return sys.spawn(notifier, db, gap_wait);
}

}  // namespace hearth::actors
