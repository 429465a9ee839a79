#include "actors/scheduler.hpp"

#include "config/logging.hpp"
#include "storage/accounts.hpp"
#include "storage/cluster.hpp"
#include "storage/pool.hpp"

namespace hearth::actors {
namespace {

constexpr const char* kExpireSessionsTask = "expire_sessions";

struct scheduler_state {
  static inline const char* name = "scheduler";
  storage::pool* db = nullptr;
  std::string node_id;
  std::chrono::milliseconds interval{60'000};
  bool leading = false;
  std::int64_t term = 0;
};

using self_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Fires just after the start of the next tick.
void arm(self_ptr self) {
  auto interval = self->state.interval.count();
  auto delay = interval - now_ms() % interval + 1;
  self->delayed_send(self, std::chrono::milliseconds(delay), tick_atom::value);
}

void run_tasks(self_ptr self) {
  auto& st = self->state;
  auto tick = now_ms() / st.interval.count();
  st.db->submit([tick, term = st.term, node = st.node_id](storage::connection& conn) {
    std::int64_t expired = 0;
    auto r = storage::run_fenced(conn, kExpireSessionsTask, tick, term, node, [&](pqxx::work& tx) {
      expired = storage::expire_sessions(tx);
      return "expired " + std::to_string(expired);
    });
    switch (r) {
      case storage::fenced_run::ran:
        if (expired > 0) log::info("scheduler: expired {} sessions (term {})", expired, term);
        break;
      case storage::fenced_run::failed:
        log::error("scheduler: {} failed in tick {} (see scheduler_run)", kExpireSessionsTask,
                   tick);
        break;
      case storage::fenced_run::stale_term:
        log::warn("scheduler: term {} is no longer current, run of tick {} refused", term, tick);
        break;
      case storage::fenced_run::already_ran:
        break;
    }
  });
}

scheduler_actor::behavior_type scheduler(self_ptr self, storage::pool* db, std::string node_id,
                                         std::chrono::milliseconds interval) {
  self->state.db = db;
  self->state.node_id = std::move(node_id);
  self->state.interval = std::max(interval, std::chrono::milliseconds(1));
  arm(self);
  return {
      [=](tick_atom) {
        arm(self);
        if (self->state.leading) run_tasks(self);
      },
      [=](leading_atom, bool leading, std::int64_t term) {
        auto& st = self->state;
        bool starts = leading && (!st.leading || st.term != term);
        if (st.leading != leading)
          log::info("scheduler: {} (term {})",
                    leading ? "leading, tasks on" : "following, tasks off", term);
        st.leading = leading;
        st.term = term;
        if (starts) run_tasks(self);  // the tick in progress may have been missed
      },
  };
}

}  // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::pool* db, std::string node_id,
                                std::chrono::milliseconds interval) {
  return sys.spawn(scheduler, db, std::move(node_id), interval);
}

}  // namespace hearth::actors
