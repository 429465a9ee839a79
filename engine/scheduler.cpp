#include "engine/scheduler.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <map>
#include <set>
#include <vector>

#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "engine/store.hpp"
#include "storage/pool.hpp"

namespace hearth::engine {
namespace {

struct scheduler_state {
  static inline const char* name = "scheduler";
  storage::pool* db = nullptr;
  std::string node_id;
  bool leading = false;
  std::int64_t term = 0;
  const registry* jobs = nullptr;
  boost::asio::thread_pool* handlers = nullptr;
  const std::atomic<bool>* accepting = nullptr;
  std::map<std::string, std::int64_t> claimed;   // cron job → last tick claimed here
  std::map<std::string, std::int64_t> next_due;  // cron job → its next tick
  // cron job → older ticks still to claim: a claim that failed (the database
  // was unreachable) or a tick missed while no node led (catch-up).
  std::map<std::string, std::set<std::int64_t>> missed;
  // cron job → the tick before which a catch-up is still to be read (its
  // first read failed).
  std::map<std::string, std::int64_t> catch_up;
};

// At most this many missed ticks per job are kept to claim later (the
// newest); older ones are given up, with a warning.
constexpr std::size_t kMaxMissedTicks = 100;

using self_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t now_s() { return now_ms() / 1000; }

// On a handler thread: runs the claimed tick and records its outcome.
void run_tick(storage::pool& db, const cron_job& job, const std::string& task, std::int64_t tick,
              std::int64_t term) {
  std::string outcome;
  try {
    outcome = job.run(cron_tick{job.name, tick, term});
    log::debug("cron {}: tick {}: {}", job.name, tick, outcome);
  } catch (const std::exception& e) {
    outcome = std::string("error: ") + e.what();
    log::error_once("cron.tick", fmt::format("cron {}: tick failed: {}", job.name, e.what()),
                    fmt::format("tick {}", tick));
  }
  try {
    storage::run_sync(db, [&](storage::connection& c) { finish_tick(c, task, tick, outcome); });
  } catch (const std::exception& e) {
    log::warn_once(
        "cron.record",
        fmt::format("cron {}: cannot record a tick: {}", job.name, log::first_line(e.what())),
        fmt::format("tick {}", tick));
  }
}

// A new leader's catch-up: the ticks of `job` before `before` (the newest
// kMaxMissedTicks of its schedule) that nobody claimed, above the oldest one
// claimed in that window, or above the job's last claimed tick when none in
// it was (nothing for a job that never ran); and, among those claimed, the
// ones an older term claimed and never started (a claim lost in doubt, or a
// leader deposed between claim and start): claiming them again takes them
// over (claim_tick). Runs on a pool thread; throws when the database fails.
std::vector<std::int64_t> missed_ticks(storage::connection& conn, const cron_job& job,
                                       const std::string& task, std::int64_t before,
                                       std::int64_t term) {
  std::vector<std::int64_t> window;  // descending
  for (auto t = job.schedule.previous(before - 1); t > 0 && window.size() < kMaxMissedTicks;
       t = job.schedule.previous(t - 1)) {
    window.push_back(t);
  }
  if (window.empty()) return {};
  const auto found = claimed_ticks(conn, task, window.back(), term);
  const auto& claimed = found.claimed;
  const std::int64_t floor = claimed.empty() ? last_run(conn, task).tick : claimed.front();
  std::vector<std::int64_t> missed;
  for (auto it = window.rbegin(); it != window.rend(); ++it) {
    if (floor >= 0 && *it > floor && !std::binary_search(claimed.begin(), claimed.end(), *it))
      missed.push_back(*it);
  }
  for (auto t : found.unstarted)
    if (t < before) missed.push_back(t);
  std::sort(missed.begin(), missed.end());
  return missed;
}

struct claim_result {
  fenced_run run = fenced_run::failed;
  std::vector<std::int64_t> missed;  // older ticks nobody claimed or started (catch-up)
  bool caught_up = false;            // the catch-up was read (when one was asked)
};

// Claims and starts (engine/store.hpp) `tick` under `term`, with up to three
// attempts while the database fails. A claim whose commit was lost in doubt
// is this node's own unstarted claim at the next attempt: taken over and
// started. A start that fails leaves the attempt failed (a later claim
// takes the unstarted tick over); one that finds the claim taken or the
// term gone is final (already_ran).
fenced_run claim_and_start(storage::connection& conn, const std::string& task, std::int64_t tick,
                           std::int64_t term, const std::string& node) {
  fenced_run r = fenced_run::failed;
  for (int attempt = 1; attempt <= 3 && r == fenced_run::failed; ++attempt) {
    try {  // a lost connection reconnects on the next attempt
      r = claim_tick(conn, task, tick, term, node);
      if (r == fenced_run::ran && !start_tick_run(conn, task, tick, term, node))
        r = fenced_run::already_ran;
    } catch (const std::exception& e) {
      r = fenced_run::failed;
      log::warn_once("cron.claim",
                     fmt::format("{}: cannot claim a tick: {}", task, log::first_line(e.what())),
                     fmt::format("tick {} attempt {}", tick, attempt));
    }
  }
  return r;
}

// Claims `tick` of `job` on the pool and, when this leader got it, runs the
// job on a handler thread and records its outcome. A tick older than the
// last one claimed here is claimed only as a missed one (`missed`); the
// database's (task, tick) key keeps every tick to one run. `catch_up_before`
// > 0 (a new leader's first claims): the same pool job first looks for the
// ticks before `catch_up_before` that nobody claimed (missed_ticks); they
// come back to the actor as missed ones, so no tick is lost while no node
// led, the database was down or a leader died with claims still to make.
void start_tick(self_ptr self, const cron_job& job, std::int64_t tick, bool missed = false,
                std::int64_t catch_up_before = 0) {
  auto& st = self->state;
  auto& last = st.claimed[job.name];
  if (!missed) {
    if (tick <= last) return;
    last = tick;
  }
  scheduler_actor me = self;
  const auto task = "cron:" + job.name;
  storage::run_on_pool(
      *st.db,
      [&job, task, tick, catch_up_before, term = st.term,
       node = st.node_id](storage::connection& conn) {
        claim_result out;
        if (catch_up_before > 0) {
          try {
            out.missed = missed_ticks(conn, job, task, catch_up_before, term);
            out.caught_up = true;
          } catch (const std::exception& e) {
            log::warn("{}: cannot read its last ticks, catch-up again later: {}", task,
                      log::first_line(e.what()));
          }
        }
        fenced_run& r = out.run;
        r = claim_and_start(conn, task, tick, term, node);
        if (r == fenced_run::stale_term) {
          log::warn("{}: term {} is no longer current, tick {} refused", task, term, tick);
          out.missed.clear();
        }
        return out;
      },
      [&job, tick, catch_up_before, me, task, term = st.term, db = st.db, handlers = st.handlers,
       accepting = st.accepting](storage::pool_outcome<claim_result> outcome) {
        if (outcome.ok()) {
          for (auto t : outcome.value->missed)  // claimed at the next wake-up
            caf::anon_send(me, cron_atom::value, job.name, t);
        }
        // A catch-up not read (the database failed, the pool refused the
        // job) is read again at the next wake-up, unless the term is gone:
        // otherwise the ticks missed while no node led would be skipped.
        if (catch_up_before > 0 &&
            (!outcome.ok() ||
             (!outcome.value->caught_up && outcome.value->run != fenced_run::stale_term)))
          caf::anon_send(me, catch_up_atom::value, job.name, catch_up_before);
        if (!outcome.ok() || outcome.value->run == fenced_run::failed) {
          caf::anon_send(me, cron_atom::value, job.name, tick);  // claim it at the next wake-up
          return;
        }
        if (outcome.value->run != fenced_run::ran) return;
        if (accepting && !accepting->load()) {
          storage::run_on_pool(
              *db,
              [task, tick](storage::connection& c) {
                finish_tick(c, task, tick, "not run: node stopping");
              },
              [](auto) {});
          return;
        }
        boost::asio::post(*handlers,
                          [&job, tick, term, db, task] { run_tick(*db, job, task, tick, term); });
      });
}

// Keeps `tick` of `job` to claim at a later wake-up (bounded, newest kept).
void remember_missed(scheduler_state& st, const std::string& job, std::int64_t tick) {
  auto& ticks = st.missed[job];
  ticks.insert(tick);
  if (ticks.size() > kMaxMissedTicks) {
    log::warn("cron {}: more than {} missed ticks, tick {} given up", job, kMaxMissedTicks,
              *ticks.begin());
    ticks.erase(ticks.begin());
  }
}

// Starts every due tick (and the missed ones) and sleeps until the next one
// (at most 1 s, so a clock step is noticed). `catch_up` (a new leader): also
// the tick before the current one, and whatever the cluster missed before it
// (start_tick). `rearm`: schedule the next wake-up (only the timer chain does).
void run_cron(self_ptr self, bool catch_up, bool rearm) {
  auto& st = self->state;
  if (!st.jobs || !st.handlers || st.jobs->cron_jobs().empty()) return;
  auto now = now_s();
  std::int64_t wake = now + 1;
  for (const auto& job : st.jobs->cron_jobs()) {
    if (st.leading) {
      auto current = job.schedule.previous(now);
      if (auto it = st.catch_up.find(job.name); it != st.catch_up.end()) {
        const auto before = it->second;
        st.catch_up.erase(it);
        start_tick(self, job, before, true, before);
      }
      if (auto it = st.missed.find(job.name); it != st.missed.end()) {
        auto ticks = std::move(it->second);
        st.missed.erase(it);
        for (auto t : ticks) start_tick(self, job, t, true);
      }
      if (catch_up && current > 0) {
        auto before = job.schedule.previous(current - 1);
        if (before > 0) start_tick(self, job, before, false, before);
      }
      if (current > 0) {
        // A wake-up later than a tick (the node was frozen or starved of
        // CPU while it kept the lead) claims the ticks it slept through:
        // the newest kMaxMissedTicks after the last one claimed here.
        const auto last = st.claimed[job.name];
        std::vector<std::int64_t> slept;
        for (auto t = job.schedule.previous(current - 1);
             last > 0 && t > last && slept.size() < kMaxMissedTicks;
             t = job.schedule.previous(t - 1))
          slept.push_back(t);
        for (auto it = slept.rbegin(); it != slept.rend(); ++it) start_tick(self, job, *it, true);
        start_tick(self, job, current);
      }
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
                                         const registry* jobs, boost::asio::thread_pool* handlers,
                                         const std::atomic<bool>* accepting) {
  self->set_default_handler(drop_unexpected);  // never print a peer's values
  auto& st = self->state;
  st.accepting = accepting;
  st.jobs = jobs;
  st.handlers = handlers;
  st.db = db;
  st.node_id = std::move(node_id);
  run_cron(self, false, true);
  return {
      [=](cron_atom) { run_cron(self, false, true); },
      [=](cron_atom, const std::string& job, std::int64_t tick) {
        if (self->state.leading) remember_missed(self->state, job, tick);  // claim it again
      },
      [=](catch_up_atom, const std::string& job, std::int64_t before) {
        if (!self->state.leading) return;           // the next leader catches up itself
        auto& pending = self->state.catch_up[job];  // read it again; a late answer of an
        pending = std::max(pending, before);        // older term never lowers it
      },
      [=](leading_atom, bool leading, std::int64_t term) {
        auto& st = self->state;
        bool starts = leading && (!st.leading || st.term != term);
        if (st.leading != leading)
          log::info("scheduler: {} (term {})", leading ? "leading, cron on" : "following, cron off",
                    term);
        st.leading = leading;
        st.term = term;
        if (!leading) {  // the next leader catches up from the database
          st.missed.clear();
          st.catch_up.clear();
        }
        if (starts) {  // ticks may have been missed while no node led: catch up
          st.claimed.clear();
          st.catch_up.clear();  // this catch-up supersedes one still to read
          run_cron(self, true, false);
        }
      },
  };
}

}  // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::pool* db, std::string node_id,
                                const registry* jobs, boost::asio::thread_pool* handlers,
                                const std::atomic<bool>* accepting) {
  return sys.spawn(scheduler, db, std::move(node_id), jobs, handlers, accepting);
}

}  // namespace hearth::engine
