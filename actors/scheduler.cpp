#include "actors/scheduler.hpp"

#include <boost/asio/post.hpp>
#include <map>

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
  const engine::registry* registry = nullptr;
  boost::asio::thread_pool* handlers = nullptr;
  const std::atomic<bool>* accepting = nullptr;
  std::map<std::string, std::int64_t> claimed;   // cron job → last tick claimed here
  std::map<std::string, std::int64_t> next_due;  // cron job → its next tick
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

std::int64_t now_s() { return now_ms() / 1000; }

// Claims `tick` of `job` on the pool and, when this leader got it, runs the
// job on a handler thread and records its outcome.
void start_tick(self_ptr self, const engine::cron_job& job, std::int64_t tick) {
  auto& st = self->state;
  auto& last = st.claimed[job.name];
  if (tick <= last) return;
  const auto before = last;
  last = tick;
  scheduler_actor me = self;
  bool queued = st.db->submit([&job, tick, term = st.term, node = st.node_id, db = st.db,
                               handlers = st.handlers, accepting = st.accepting,
                               me](storage::connection& conn) {
    auto task = "cron:" + job.name;
    storage::fenced_run r = storage::fenced_run::failed;
    for (int attempt = 1; attempt <= 3 && r == storage::fenced_run::failed; ++attempt) {
      try {  // a lost connection reconnects on the next attempt
        r = storage::claim_tick(conn, task, tick, term, node);
      } catch (const std::exception& e) {
        log::warn("cron {}: cannot claim tick {} (attempt {}): {}", job.name, tick, attempt,
                  e.what());
      }
    }
    if (r == storage::fenced_run::failed) {
      caf::anon_send(me, cron_atom::value, job.name, tick);  // try again at the next wake-up
      return;
    }
    if (r == storage::fenced_run::stale_term)
      log::warn("cron {}: term {} is no longer current, tick {} refused", job.name, term, tick);
    if (r != storage::fenced_run::ran) return;
    if (accepting && !accepting->load()) {
      try {
        storage::finish_tick(conn, task, tick, "not run: node stopping");
      } catch (const std::exception&) {
      }
      return;
    }
    boost::asio::post(*handlers, [&job, tick, term, db, task] {
      std::string outcome;
      try {
        outcome = job.run(engine::cron_tick{job.name, tick, term});
        log::debug("cron {}: tick {}: {}", job.name, tick, outcome);
      } catch (const std::exception& e) {
        outcome = std::string("error: ") + e.what();
        log::error("cron {}: tick {} failed: {}", job.name, tick, e.what());
      }
      try {
        storage::run_sync(
            *db, [&](storage::connection& c) { storage::finish_tick(c, task, tick, outcome); });
      } catch (const std::exception& e) {
        log::warn("cron {}: cannot record tick {}: {}", job.name, tick, e.what());
      }
    });
  });
  if (!queued) last = before;  // the pool is full or stopping: try again later
}

// Starts every due tick and sleeps until the next one (at most 1 s, so a
// clock step is noticed). `catch_up`: also the tick before the current one.
// `rearm`: schedule the next wake-up (only the timer chain does).
void run_cron(self_ptr self, bool catch_up, bool rearm) {
  auto& st = self->state;
  if (!st.registry || !st.handlers || st.registry->cron_jobs().empty()) return;
  auto now = now_s();
  std::int64_t wake = now + 1;
  for (const auto& job : st.registry->cron_jobs()) {
    if (st.leading) {
      auto current = job.schedule.previous(now);
      if (catch_up && current > 0) {
        auto before = job.schedule.previous(current - 1);
        if (before > 0) start_tick(self, job, before);
      }
      if (current > 0) start_tick(self, job, current);
    }
    // next() may scan many minutes for sparse expressions: once per tick.
    auto& due = st.next_due[job.name];
    if (due <= now) due = job.schedule.next(now);
    if (due > 0) wake = std::min(wake, due);
  }
  if (!rearm) return;
  auto delay_ms = std::max<std::int64_t>(wake * 1000 - now_ms(), 1) + 2;
  self->delayed_send(self, std::chrono::milliseconds(delay_ms), cron_atom::value);
}

scheduler_actor::behavior_type scheduler(self_ptr self, storage::pool* db, std::string node_id,
                                         std::chrono::milliseconds interval,
                                         const engine::registry* registry,
                                         boost::asio::thread_pool* handlers,
                                         const std::atomic<bool>* accepting) {
  self->state.accepting = accepting;
  self->state.registry = registry;
  self->state.handlers = handlers;
  self->state.db = db;
  self->state.node_id = std::move(node_id);
  self->state.interval = std::max(interval, std::chrono::milliseconds(1));
  arm(self);
  run_cron(self, false, true);
  return {
      [=](cron_atom) { run_cron(self, false, true); },
      [=](cron_atom, const std::string& job, std::int64_t tick) {
        auto& last = self->state.claimed[job];
        if (last == tick) --last;  // the next wake-up claims it again
      },
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
        if (starts) {
          run_tasks(self);  // the tick in progress may have been missed
          self->state.claimed.clear();
          run_cron(self, true, false);
        }
      },
  };
}

}  // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::pool* db, std::string node_id,
                                std::chrono::milliseconds interval,
                                const engine::registry* registry,
                                boost::asio::thread_pool* handlers,
                                const std::atomic<bool>* accepting) {
  return sys.spawn(scheduler, db, std::move(node_id), interval, registry, handlers, accepting);
}

}  // namespace hearth::actors
