// The cron scheduler (engine/scheduler.hpp): each tick is claimed in
// scheduler_run under the leader's fencing term before its job runs, so a
// deposed leader runs nothing and no tick runs twice, however many
// schedulers believe they lead.
//
// The scheduler reads the wall clock: with an "every 1s" job, telling it
// that it leads makes it claim the current tick and the one before, at
// once (a new leader also catches up every tick missed since the last one
// the cluster claimed). Claims run on the manual pool when the test says so; job runs go to
// a real handler thread. The job waits there until finish_runs() opens its
// gate, so no outcome record (finish_tick, run_sync on the same pool) enters
// the pool's queue before then: the queue holds exactly the claims, and the
// test counts them. finish_runs() then serves those records while it joins
// the handler thread.

#include "engine/scheduler.hpp"

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "engine/pubsub.hpp"
#include "tests/actors/fixture.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;
using engine::cron_atom;
using engine::leading_atom;

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct run_record {
  std::int64_t tick, term;
};

class scheduler_test : public actor_test {
 protected:
  void SetUp() override {
    jobs_.cron("test.tick", "every 1s", [this](const engine::cron_tick& t) {
      std::unique_lock lock(mutex_);
      runs_.push_back({t.scheduled, t.term});
      gate_.wait(lock, [this] { return open_; });
      return std::string("ran");
    });
  }

  void TearDown() override {
    finish_runs();  // never leave a handler waiting for the pool
    actor_test::TearDown();
  }

  engine::scheduler_actor spawn(const std::string& node) {
    auto s = track(engine::spawn_scheduler(sys, db_.get(), node, &jobs_, &handlers_));
    sched.run();
    return s;
  }

  // The cluster elects `node` with `term` (what claim_tick checks against).
  void elect(const std::string& node, std::int64_t term) {
    sql("UPDATE cluster_leader SET term = " + std::to_string(term) + ", node_id = '" + node +
        "' WHERE id = 1");
  }

  void lead(const engine::scheduler_actor& s, std::int64_t term) {
    inject((leading_atom, bool, std::int64_t),
           from(self).to(s).with(leading_atom::value, true, term));
  }

  // Joins the handler thread; meanwhile serves the pool, where each run
  // records its outcome (finish_tick through run_sync) before it returns.
  void finish_runs() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    gate_.notify_all();
    std::atomic<bool> joined{false};
    std::thread joiner([&] {
      handlers_.join();
      joined = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!joined) {
      run_db();
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "cron handlers did not finish within 60 s\n");
        std::abort();
      }
      std::this_thread::sleep_for(1ms);  // polling a real thread, not a synchronisation
    }
    joiner.join();
    run_db();
  }

  std::vector<run_record> runs() {
    std::lock_guard lock(mutex_);
    return runs_;
  }

  // scheduler_run: tick → (term, node, outcome).
  struct row {
    std::int64_t term;
    std::string node, outcome;
  };
  std::map<std::int64_t, row> recorded() {
    std::map<std::int64_t, row> out;
    for (const auto& r : sql("SELECT tick, term, node_id, coalesce(outcome, '<unfinished>') "
                             "FROM scheduler_run WHERE task = 'cron:test.tick'"))
      out[r[0].as<std::int64_t>()] = {r[1].as<std::int64_t>(), r[2].as<std::string>(),
                                      r[3].as<std::string>()};
    return out;
  }

  engine::registry jobs_;
  boost::asio::thread_pool handlers_{1};
  std::mutex mutex_;
  std::condition_variable gate_;
  bool open_ = false;  // job runs wait for it
  std::vector<run_record> runs_;
};

// node-a leads under term 1 and asks for its ticks; node-b is elected
// (term 2) before node-a's claims reach the database: they are refused, no
// job runs and nothing is retried. node-b's own claims, under the current
// term, run.
TEST_F(scheduler_test, a_scheduler_with_a_stale_term_gets_its_claims_refused_and_runs_nothing) {
  elect("node-a", 1);
  auto a = spawn("node-a");
  auto b = spawn("node-b");
  EXPECT_EQ(queued_db_jobs(), 0u) << "following schedulers claim nothing";

  lead(a, 1);
  ASSERT_EQ(queued_db_jobs(), 2u) << "the current tick and the one before";
  elect("node-b", 2);
  ASSERT_EQ(run_db(), 2u);
  disallow((cron_atom, std::string, std::int64_t), from(_).to(a));  // a refusal is final
  sched.run();
  EXPECT_EQ(recorded().size(), 0u) << "a stale term records no run";

  lead(b, 2);
  ASSERT_EQ(run_db(), 2u);
  sched.run();
  finish_runs();

  const auto ran = runs();
  const auto rows = recorded();
  ASSERT_EQ(rows.size(), 2u) << "node-b ran its two ticks";
  ASSERT_EQ(ran.size(), 2u) << "and only those: node-a ran nothing";
  for (const auto& r : ran) EXPECT_EQ(r.term, 2) << "tick " << r.tick;
  for (const auto& [tick, r] : rows) {
    EXPECT_EQ(r.term, 2) << tick;
    EXPECT_EQ(r.node, "node-b") << tick;
    EXPECT_EQ(r.outcome, "ran") << tick;
  }
}

// Two schedulers lead under the same term (a split brain the fencing term
// cannot tell apart), then one of them is re-elected under a new term and
// claims the same ticks again: every tick runs exactly once, recorded once.
TEST_F(scheduler_test, each_tick_runs_once_however_often_it_is_claimed) {
  elect("node-a", 3);
  auto a = spawn("node-a");
  auto b = spawn("node-b");

  const auto first = now_s();
  lead(a, 3);
  lead(b, 3);
  ASSERT_EQ(queued_db_jobs(), 4u) << "each claims the current tick and the one before";
  ASSERT_EQ(run_db(), 4u);
  sched.run();

  // Re-elected under a new term: b forgets its claims and claims again.
  elect("node-b", 4);
  lead(b, 4);
  ASSERT_EQ(queued_db_jobs(), 2u);
  ASSERT_EQ(run_db(), 2u);
  sched.run();
  const auto last = now_s();
  finish_runs();

  const auto ran = runs();
  const auto rows = recorded();
  std::map<std::int64_t, int> runs_per_tick;
  for (const auto& r : ran) ++runs_per_tick[r.tick];
  for (const auto& [tick, n] : runs_per_tick)
    EXPECT_EQ(n, 1) << "tick " << tick << " ran " << n << " times";
  ASSERT_EQ(rows.size(), runs_per_tick.size()) << "one scheduler_run row per tick that ran";
  for (const auto& [tick, r] : rows) {
    EXPECT_EQ(runs_per_tick.count(tick), 1u) << "tick " << tick << " recorded but never ran";
    EXPECT_EQ(r.outcome, "ran") << tick;
    EXPECT_GE(tick, first - 1);
    EXPECT_LE(tick, last);
  }
  // Six claims of the ticks first-1 .. last: at most last-first+2 of them
  // can have run (two when the clock stayed within one second).
  EXPECT_GE(rows.size(), 2u);
  EXPECT_LE(rows.size(), static_cast<std::size_t>(last - first + 2));
}

// A new leader catches up: the cluster last claimed a tick 6 s ago (no node
// led since, or the database was down), so the new leader claims every tick
// from that one up to now, each once, in its term.
TEST_F(scheduler_test, a_new_leader_claims_every_tick_missed_since_the_last_claimed_one) {
  elect("node-a", 5);
  const auto last_claimed = now_s() - 6;
  sql("INSERT INTO scheduler_run (task, tick, term, node_id, finished_at, outcome) VALUES "
      "('cron:test.tick', " +
      std::to_string(last_claimed) + ", 4, 'node-z', now(), 'ran')");
  auto a = spawn("node-a");
  lead(a, 5);
  ASSERT_EQ(queued_db_jobs(), 2u) << "the current tick and the one before (with the catch-up)";
  ASSERT_EQ(run_db(), 2u);
  sched.run();  // the missed ticks come back to the scheduler
  inject((cron_atom), from(self).to(a).with(cron_atom::value));  // its next wake-up
  EXPECT_GE(queued_db_jobs(), 4u) << "the ticks between the last claimed one and the one before";
  while (run_db() > 0) sched.run();
  const auto last = now_s();
  finish_runs();

  const auto rows = recorded();
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.begin()->first, last_claimed) << "the tick claimed before";
  std::int64_t expected = last_claimed;
  for (const auto& [tick, r] : rows) {
    EXPECT_EQ(tick, expected) << "no tick skipped";
    expected = tick + 1;
    if (tick == last_claimed) continue;
    EXPECT_EQ(r.term, 5) << tick;
    EXPECT_EQ(r.outcome, "ran") << tick;
  }
  EXPECT_GE(rows.rbegin()->first, last - 1) << "up to the current tick";
}

}  // namespace
}  // namespace hearth::testing
