#pragma once
// The deterministic actor fixture (tests/actors/): CAF's
// test_coordinator_fixture under GoogleTest, a fresh migrated database in
// the throwaway PostgreSQL, and a manual storage pool.
//
//   - Actors run only when the test says so, on the test's thread:
//     sched.run() empties every mailbox (no timer fires), expect(...) /
//     allow(...) / disallow(...) / inject(...) (caf/test/dsl.hpp; their checks
//     reach GoogleTest through tests/actors/caf_gtest.cpp) look at and run one
//     message at a time, and delayed messages (gap timers, retries, cron
//     wake-ups) wait in sched.clock() until the test advances time
//     (advance_time) or fires them (sched.trigger_timeout()).
//   - Database jobs (storage::run_on_pool) wait in the manual pool's queue
//     until run_db(): the job runs on this thread against the real database
//     and its result reaches the actor as a message at that point, so the
//     test decides where each result lands among the other messages.
//
// Include this header last: dsl.hpp defines the lower-case macros expect,
// allow, disallow and inject.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <regex>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "http/fanout.hpp"
#include "http/fanout_shard.hpp"
#include "http/sse.hpp"
#include "storage/events.hpp"
#include "storage/migrate.hpp"
#include "storage/pool.hpp"
#include "tests/support/throwaway_postgres.hpp"

// GoogleTest's FAIL() takes no argument; dsl.hpp calls a FAIL(msg) of its own.
#pragma push_macro("FAIL")
#undef FAIL
#include <caf/test/dsl.hpp>
#pragma pop_macro("FAIL")

// expect(...).with(e) compares message elements with ==.
namespace hearth::storage {
inline bool operator==(const change_event& a, const change_event& b) {
  return a.household_id == b.household_id && a.seq == b.seq && a.table == b.table &&
         a.row_id == b.row_id && a.operation == b.operation && a.updated == b.updated;
}
}  // namespace hearth::storage

namespace hearth::testing {

/// The message types hearth registers with its actor system (actors/system.cpp).
struct actor_test_config : caf::actor_system_config {
  actor_test_config() {
    add_message_type<storage::change_event>("hearth.change_event");
    add_message_type<actors::event_list>("hearth.event_list");
  }
};

/// A stream of the fan-out hub without a socket: what its shard hands the
/// socket is kept in `output`. Created, fed and read on the test thread
/// (the shard's "I/O thread": the test runs its io_context with poll()).
class recording_stream final : public http::sse_stream_core {
 public:
  recording_stream(http::fanout_shard& shard, std::vector<http::sse::stream_start> start)
      : sse_stream_core(shard, start) {
    join_shard();
    header_written();
  }
  ~recording_stream() override { ended(end_reason::closed); }

  /// The `seq` of every change event written so far, in order.
  std::vector<std::int64_t> seqs() const {
    static const std::regex seq_field("\"seq\":([0-9]+)");
    std::vector<std::int64_t> out;
    for (std::sregex_iterator it(output.begin(), output.end(), seq_field), end; it != end; ++it)
      out.push_back(std::stoll((*it)[1].str()));
    return out;
  }

  std::string output;

 private:
  void start_write(std::string_view payload) override {
    output.append(payload);
    progressed();
    written();
  }
  void start_final() override { ended(end_reason::closed); }
  void close_socket() override { ended(end_reason::closed); }
};

class actor_test : public ::testing::Test, public test_coordinator_fixture<actor_test_config> {
 protected:
  actor_test()
      : database_url_(throwaway_postgres::shared().create_database()),
        db_([this] {
          pqxx::connection conn{database_url_};
          storage::migrate(conn);
          return storage::pool::manual(database_url_);
        }()),
        hub_(std::vector<boost::asio::io_context*>{&ioc_}, http::fanout_options{}) {}

  // Stops every actor the test spawned (and, through their exit handlers,
  // what they spawned: a user_shutdown, unlike kill, reaches those handlers)
  // while the pool, the hub and the database still exist; the fixture's
  // destructor then fires what is left on the clock at dead actors.
  void TearDown() override {
    for (auto& a : actors_) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
    poll_io();
  }

  /// Remembers `a` so that TearDown stops it.
  template <class Handle>
  Handle track(Handle a) {
    actors_.push_back(caf::actor_cast<caf::actor>(a));
    return a;
  }

  /// Runs the queued database jobs (and those they queue) on this thread;
  /// their results are then in the actors' mailboxes. Returns how many ran.
  std::size_t run_db() { return db_->run_pending(); }
  std::size_t queued_db_jobs() const { return db_->queued(); }

  /// Runs actors and database jobs until neither has anything left to do
  /// (timers stay pending), then the fan-out's posted work. Fails (rather
  /// than hangs) when they never go quiet, e.g. a read retried in a loop.
  void settle() {
    int rounds = 0;
    while (sched.run() + run_db() > 0)
      if (++rounds == 1000) {
        ADD_FAILURE() << "actors and database jobs still busy after 1000 rounds";
        break;
      }
    poll_io();
  }

  /// A connection actor for subscribe requests (sessions only keep it to
  /// tell subscribers apart; the notifier monitors it).
  actors::connection_actor spawn_connection() {
    return track(sys.spawn([]() -> actors::connection_actor::behavior_type {
      return {[](actors::replay_atom, const std::string&, const actors::event_list&, bool) {},
              [](actors::replay_retry_atom, const std::string&) {}, [](actors::closed_atom) {}};
    }));
  }

  /// A household row (event_seq 0); returns its id.
  std::string create_household() {
    pqxx::connection conn{database_url_};
    pqxx::work tx{conn};
    auto id = tx.exec1("INSERT INTO auth_household (name) VALUES ('Home') RETURNING id::text")[0]
                  .as<std::string>();
    tx.commit();
    return id;
  }

  /// Commits `n` changes of `household` through the outbox (record_change,
  /// as every write does) and returns their events: the rows backfill reads.
  std::vector<storage::change_event> commit_changes(const std::string& household, int n) {
    pqxx::connection conn{database_url_};
    pqxx::work tx{conn};
    std::vector<storage::change_event> out;
    for (int i = 0; i < n; ++i) {
      auto row = tx.exec1("SELECT gen_random_uuid()::text")[0].as<std::string>();
      out.push_back(storage::record_change(tx, household, "shop_item", row, "create",
                                           "2026-01-02T03:04:05.000000Z"));
    }
    tx.commit();
    return out;
  }

  /// One statement on a connection of its own (setup, inspection).
  pqxx::result sql(const std::string& statement) {
    pqxx::connection conn{database_url_};
    pqxx::work tx{conn};
    auto r = tx.exec(statement);
    tx.commit();
    return r;
  }

  /// Runs the fan-out's posted work (the hub's "I/O thread"). An
  /// io_context that ran out of work is stopped and would run nothing more
  /// until restarted.
  void poll_io() {
    ioc_.restart();
    ioc_.poll();
  }

  std::string database_url_;
  std::unique_ptr<storage::pool> db_;
  boost::asio::io_context ioc_;  // the hub's one "I/O thread": run by poll() here
  http::fanout_hub hub_;
  std::vector<caf::actor> actors_;
};

}  // namespace hearth::testing
