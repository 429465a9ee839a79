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

// The chaos soak's skipped tick, second cause: a leader that wakes up
// seconds late (frozen by SIGSTOP, or starved of CPU, but never deposed)
// claims every tick it slept through, not only the current one.
TEST_F(scheduler_test, a_leader_waking_up_late_claims_the_ticks_it_slept_through) {
  elect("node-a", 3);
  auto a = spawn("node-a");
  lead(a, 3);
  ASSERT_EQ(run_db(), 2u) << "the current tick and the one before";
  sched.run();
  const auto first_current = now_s();
  // The next wake-up is a timer the test does not fire: wait on the wall
  // clock (polled, with a deadline) until three ticks have gone by.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (now_s() < first_current + 3) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the wall clock stood still";
    std::this_thread::sleep_for(20ms);
  }
  inject((cron_atom), from(self).to(a).with(cron_atom::value));  // the late wake-up
  EXPECT_GE(queued_db_jobs(), 3u) << "the ticks slept through and the current one";
  while (run_db() > 0) sched.run();
  finish_runs();

  const auto rows = recorded();
  ASSERT_GE(rows.size(), 5u);
  std::int64_t expected = rows.begin()->first;
  for (const auto& [tick, r] : rows) {
    EXPECT_EQ(tick, expected) << "no tick skipped";
    expected = tick + 1;
    EXPECT_EQ(r.term, 3) << tick;
    EXPECT_EQ(r.outcome, "ran") << tick;
  }
  EXPECT_GE(rows.rbegin()->first, first_current + 3) << "up to the current tick";
}

// The chaos soak's skipped tick: a new leader whose catch-up cannot be read
// (the database fails at that moment) reads it again at its next wake-up,
// so the ticks missed while no node led are still claimed and run.
TEST_F(scheduler_test, a_catch_up_the_database_failed_to_answer_is_read_again) {
  elect("node-a", 6);
  const auto last_claimed = now_s() - 6;
  sql("INSERT INTO scheduler_run (task, tick, term, node_id, finished_at, outcome) VALUES "
      "('cron:test.tick', " +
      std::to_string(last_claimed) + ", 5, 'node-z', now(), 'ran')");
  auto a = spawn("node-a");
  lead(a, 6);
  ASSERT_EQ(queued_db_jobs(), 2u) << "the current tick and the one before (with the catch-up)";
  sql("ALTER TABLE scheduler_run RENAME TO scheduler_run_away");  // every read and claim fails
  ASSERT_EQ(run_db(), 2u);
  sql("ALTER TABLE scheduler_run_away RENAME TO scheduler_run");
  sched.run();
  EXPECT_TRUE(recorded().count(last_claimed)) << "nothing recorded while the table was away";
  EXPECT_EQ(recorded().size(), 1u);

  // The next wake-ups claim the failed ticks again and read the catch-up
  // again; what it finds is claimed at the wake-up after.
  for (int wake = 0; wake < 3; ++wake) {
    inject((cron_atom), from(self).to(a).with(cron_atom::value));
    while (run_db() > 0) sched.run();
  }
  const auto last = now_s();
  finish_runs();

  const auto rows = recorded();
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.begin()->first, last_claimed);
  std::int64_t expected = last_claimed;
  for (const auto& [tick, r] : rows) {
    EXPECT_EQ(tick, expected) << "no tick skipped";
    expected = tick + 1;
    if (tick == last_claimed) continue;
    EXPECT_EQ(r.term, 6) << tick;
    EXPECT_EQ(r.outcome, "ran") << tick;
  }
  EXPECT_GE(rows.rbegin()->first, last - 1) << "up to the current tick";
}

// A claim lost in doubt at a leader change: node-a's claim of a tick
// committed, but its connection broke before the answer came, so node-a
// never started it; then node-b was elected. That leaves a claimed row of
// the old term that was never started (run_at NULL), the state inserted
// here. node-b's catch-up takes it over and runs it, once, in its term. A
// tick that was started (its node died during the run) is not run again.
TEST_F(scheduler_test, a_claim_lost_in_doubt_at_a_leader_change_is_run_by_the_next_leader) {
  const auto floor = now_s() - 7;
  const auto in_doubt = floor + 1, died_running = floor + 2;
  const auto t = [](std::int64_t tick) { return std::to_string(tick); };
  sql("INSERT INTO scheduler_run (task, tick, term, node_id, run_at, finished_at, outcome) VALUES "
      "('cron:test.tick', " +
      t(floor) + ", 7, 'node-a', now(), now(), 'ran'), ('cron:test.tick', " + t(in_doubt) +
      ", 7, 'node-a', NULL, NULL, NULL), ('cron:test.tick', " + t(died_running) +
      ", 7, 'node-a', now(), NULL, NULL)");
  elect("node-b", 8);
  auto b = spawn("node-b");
  lead(b, 8);
  ASSERT_EQ(run_db(), 2u);
  sched.run();
  inject((cron_atom), from(self).to(b).with(cron_atom::value));  // claims what the catch-up found
  while (run_db() > 0) sched.run();
  const auto last = now_s();
  finish_runs();

  const auto ran = runs();
  std::map<std::int64_t, int> runs_per_tick;
  for (const auto& r : ran) ++runs_per_tick[r.tick];
  EXPECT_EQ(runs_per_tick[in_doubt], 1) << "the claim lost in doubt ran once";
  EXPECT_EQ(runs_per_tick.count(died_running), 0u) << "a started tick never runs again";
  for (const auto& [tick, n] : runs_per_tick) EXPECT_EQ(n, 1) << "tick " << tick;

  const auto rows = recorded();
  ASSERT_TRUE(rows.count(in_doubt));
  EXPECT_EQ(rows.at(in_doubt).term, 8);
  EXPECT_EQ(rows.at(in_doubt).node, "node-b");
  EXPECT_EQ(rows.at(in_doubt).outcome, "ran");
  ASSERT_TRUE(rows.count(died_running));
  EXPECT_EQ(rows.at(died_running).outcome, "<unfinished>");
  EXPECT_EQ(rows.at(died_running).node, "node-a");
  std::int64_t expected = floor;
  for (const auto& [tick, r] : rows) {
    EXPECT_EQ(tick, expected) << "no tick skipped";
    expected = tick + 1;
  }
  EXPECT_GE(rows.rbegin()->first, last - 1);
}

// The same, on the leader that lost its own claim in doubt and still leads:
// its next claim of that tick (a failed claim is claimed again) finds its
// own unstarted claim and starts it.
TEST_F(scheduler_test, a_leader_starts_its_own_claim_lost_in_doubt_when_it_claims_again) {
  elect("node-a", 9);
  auto a = spawn("node-a");
  lead(a, 9);
  ASSERT_EQ(run_db(), 2u);
  sched.run();
  const auto tick = now_s() - 30;  // outside every catch-up window: only the retry finds it
  sql("INSERT INTO scheduler_run (task, tick, term, node_id, run_at) VALUES "
      "('cron:test.tick', " +
      std::to_string(tick) + ", 9, 'node-a', NULL)");
  inject((cron_atom, std::string, std::int64_t),
         from(self).to(a).with(cron_atom::value, std::string("test.tick"), tick));
  inject((cron_atom), from(self).to(a).with(cron_atom::value));
  while (run_db() > 0) sched.run();
  finish_runs();
  std::map<std::int64_t, int> runs_per_tick;
  for (const auto& r : runs()) ++runs_per_tick[r.tick];
  EXPECT_EQ(runs_per_tick[tick], 1);
  EXPECT_EQ(recorded().at(tick).outcome, "ran");
}

}  // namespace
}  // namespace hearth::testing
