#include "actors/scheduler.hpp"

#include "config/logging.hpp"
#include "storage/accounts.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {
namespace {

struct scheduler_state {
  static inline const char* name = "scheduler";
  storage::pool* db = nullptr;
  std::chrono::milliseconds interval{60'000};
  bool leading = false;
};

using self_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

scheduler_actor::behavior_type scheduler(self_ptr self, storage::pool* db,
                                         std::chrono::milliseconds interval, bool leading) {
  self->state.db = db;
  self->state.interval = interval;
  self->state.leading = leading;
  self->delayed_send(self, interval, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& st = self->state;
        self->delayed_send(self, st.interval, tick_atom::value);
        if (!st.leading) return;
        st.db->submit([](storage::connection& conn) {
          auto n = storage::expire_sessions(conn);
          if (n > 0) log::info("scheduler: expired {} sessions", n);
        });
      },
      [=](leading_atom, bool leading) {
        if (self->state.leading != leading)
          log::info("scheduler: {}", leading ? "leading, tasks on" : "following, tasks off");
        self->state.leading = leading;
      },
  };
}

}  // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::pool* db,
                                std::chrono::milliseconds interval, bool leading) {
  return sys.spawn(scheduler, db, interval, leading);
}

}  // namespace hearth::actors
