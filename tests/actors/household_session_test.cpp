// household_session (actors/household_session.hpp): ordering, gap waits and
// outbox backfill, driven message by message against a real database. The
// session delivers through the fan-out hub to a recording stream, so each
// test reads exactly what a client's stream would have been sent.

#include "actors/household_session.hpp"

#include "tests/actors/fixture.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;
using actors::backfill_atom;
using actors::gap_atom;
using actors::loaded_atom;
using actors::subscribe_atom;
using storage::change_event;
using seqs = std::vector<std::int64_t>;

constexpr auto kGapWait = 25ms;

class household_session_test : public actor_test {
 protected:
  void SetUp() override { household_ = create_household(); }

  // Spawns the session, answers its head read (the household's event_seq
  // now) and subscribes a recording stream that starts at that head.
  void start_session() {
    session_ = track(actors::spawn_household_session(sys, household_, db_.get(), &hub_, kGapWait));
    sched.run();
    ASSERT_EQ(queued_db_jobs(), 1u) << "the session reads its head on the pool";
    const auto head =
        sql("SELECT event_seq FROM auth_household WHERE id = '" + household_ + "'")[0][0]
            .as<std::int64_t>();
    run_db();
    expect((loaded_atom, std::int64_t), from(_).to(session_).with(_, head));
    stream_ = std::make_unique<recording_stream>(
        hub_.shard(0), std::vector<http::sse::stream_start>{{household_, head}});
    self->send(session_, subscribe_atom::value, spawn_connection(), stream_->ref());
    expect((subscribe_atom, actors::connection_actor, http::stream_ref),
           from(self).to(session_).with(_, _, _));
    expect((std::int64_t), from(session_).to(self).with(head));
    poll_io();
  }

  // What the stream has been sent so far (runs the hub's posted work first).
  seqs delivered() {
    poll_io();
    return stream_->seqs();
  }

  // A live event from the notifier: handled at once.
  void offer(const change_event& e) {
    caf::anon_send(session_, e);
    expect((change_event), from(_).to(session_).with(e));
  }

  static change_event live(const std::string& household, std::int64_t seq) {
    return {household,   seq,
            "shop_item", "00000000-0000-4000-8000-00000000000" + std::to_string(seq),
            "update",    "2026-01-02T03:04:05.000000Z"};
  }

  std::string household_;
  actors::household_session_actor session_;
  std::unique_ptr<recording_stream> stream_;
};

// Concurrent commits reach the session swapped: it delivers them in sequence
// order, each once, and (the hole filling within the gap wait) never reads
// the outbox.
TEST_F(household_session_test, events_offered_out_of_order_are_delivered_in_sequence_order) {
  start_session();
  offer(live(household_, 3));
  offer(live(household_, 2));
  EXPECT_EQ(delivered(), seqs{}) << "2 and 3 must wait for 1";
  ASSERT_TRUE(sched.has_pending_timeout()) << "a hole arms the gap timer";
  offer(live(household_, 1));
  EXPECT_EQ(delivered(), (seqs{1, 2, 3}));
  offer(live(household_, 2));  // a duplicate (e.g. a replayed forward)
  offer(live(household_, 4));
  EXPECT_EQ(delivered(), (seqs{1, 2, 3, 4}));

  // The gap timer fires after the hole closed: nothing to backfill.
  EXPECT_EQ(advance_time(kGapWait), 1u);
  expect((gap_atom, std::int64_t), from(_).to(session_).with(_, _));
  EXPECT_EQ(queued_db_jobs(), 0u) << "no outbox read for a hole that filled itself";
  EXPECT_EQ(delivered(), (seqs{1, 2, 3, 4}));
}

// An event ahead of a hole waits gap_wait (not less) for the missing ones,
// then the hole is read from the outbox and everything goes out in order.
TEST_F(household_session_test, a_hole_is_backfilled_from_the_outbox_after_the_gap_wait) {
  start_session();
  const auto committed = commit_changes(household_, 3);  // seq 1..3 in the outbox
  offer(committed[2]);                                   // only 3 arrives live
  EXPECT_EQ(delivered(), seqs{});

  EXPECT_EQ(advance_time(kGapWait - 1ms), 0u) << "the gap timer must not fire early";
  EXPECT_EQ(queued_db_jobs(), 0u);
  EXPECT_EQ(advance_time(1ms), 1u);
  expect((gap_atom, std::int64_t), from(_).to(session_).with(_, 3));
  ASSERT_EQ(queued_db_jobs(), 1u) << "the backfill read";
  EXPECT_EQ(delivered(), seqs{}) << "nothing goes out before the backfill answers";

  run_db();
  expect((backfill_atom, std::int64_t, actors::event_list, bool),
         from(_).to(session_).with(_, 0, (actors::event_list{committed[0], committed[1]}), true));
  EXPECT_EQ(delivered(), (seqs{1, 2, 3}));
  // The backfilled frames carry the outbox rows (their row ids), not copies of 3.
  EXPECT_NE(stream_->output.find(committed[0].row_id), std::string::npos);
  EXPECT_NE(stream_->output.find(committed[1].row_id), std::string::npos);
  settle();
  EXPECT_EQ(queued_db_jobs(), 0u);
  EXPECT_FALSE(sched.has_pending_timeout());
}

// A backfill that fails (the outbox cannot be read) is retried after 1 s,
// and the events behind the hole keep waiting: never skipped.
TEST_F(household_session_test, a_failed_backfill_is_retried_and_never_skipped) {
  start_session();
  const auto committed = commit_changes(household_, 3);
  offer(committed[2]);
  advance_time(kGapWait);
  expect((gap_atom, std::int64_t), from(_).to(session_).with(_, 3));

  // The outbox is unreadable while the backfill runs (a real error from
  // PostgreSQL: relation does not exist).
  sql("ALTER TABLE change_event RENAME TO change_event_away");
  ASSERT_EQ(run_db(), 1u);
  expect((backfill_atom, std::int64_t, actors::event_list, bool),
         from(_).to(session_).with(_, 0, actors::event_list{}, false));
  EXPECT_EQ(delivered(), seqs{}) << "3 must not go out past the hole";

  // The retry waits a second (the database is away), then fails again.
  EXPECT_EQ(advance_time(999ms), 0u);
  EXPECT_EQ(queued_db_jobs(), 0u);
  EXPECT_EQ(advance_time(1ms), 1u);
  expect((gap_atom, std::int64_t), from(_).to(session_).with(_, 1));
  ASSERT_EQ(run_db(), 1u);
  expect((backfill_atom, std::int64_t, actors::event_list, bool),
         from(_).to(session_).with(_, 0, actors::event_list{}, false));
  EXPECT_EQ(delivered(), seqs{});

  // The outbox is back: the next retry fills the hole.
  sql("ALTER TABLE change_event_away RENAME TO change_event");
  EXPECT_EQ(advance_time(1s), 1u);
  expect((gap_atom, std::int64_t), from(_).to(session_).with(_, 1));
  ASSERT_EQ(run_db(), 1u);
  expect((backfill_atom, std::int64_t, actors::event_list, bool),
         from(_).to(session_).with(_, 0, _, true));
  EXPECT_EQ(delivered(), (seqs{1, 2, 3}));
}

// A backfill the pool refuses (stopping or full) is answered like a failed
// one: retried every second, the waiting events never skipped.
TEST_F(household_session_test, a_refused_backfill_is_retried_and_never_skipped) {
  start_session();
  const auto committed = commit_changes(household_, 3);
  offer(committed[2]);
  db_->stop();  // from now on the pool refuses every job
  for (int attempt = 0; attempt < 3; ++attempt) {
    EXPECT_EQ(advance_time(attempt == 0 ? std::chrono::milliseconds(kGapWait) : 1000ms), 1u)
        << "attempt " << attempt;
    // The first timer names the event ahead of the hole, retries the hole's start.
    expect((gap_atom, std::int64_t), from(_).to(session_).with(_, attempt == 0 ? 3 : 1));
    // run_on_pool answered at once, on the session's own turn.
    expect((backfill_atom, std::int64_t, actors::event_list, bool),
           from(_).to(session_).with(_, 0, actors::event_list{}, false));
    EXPECT_EQ(delivered(), seqs{}) << "attempt " << attempt;
  }
  EXPECT_TRUE(sched.has_pending_timeout()) << "the next retry is scheduled";
}

// A hole whose events were purged from the outbox cannot be filled: the
// session skips it (once the outbox answered) and delivery goes on.
TEST_F(household_session_test, a_purged_hole_is_skipped_and_delivery_goes_on) {
  start_session();
  const auto committed = commit_changes(household_, 4);
  sql("DELETE FROM change_event WHERE auth_household_id = '" + household_ + "' AND seq <= 2");
  offer(committed[3]);  // 4 live; 1..2 purged, 3 still in the outbox
  advance_time(kGapWait);
  expect((gap_atom, std::int64_t), from(_).to(session_).with(_, 4));
  ASSERT_EQ(run_db(), 1u);
  expect((backfill_atom, std::int64_t, actors::event_list, bool),
         from(_).to(session_).with(_, 0, actors::event_list{committed[2]}, true));
  EXPECT_EQ(delivered(), (seqs{3, 4}));
  EXPECT_EQ(queued_db_jobs(), 0u) << "no second read of a hole already skipped";

  offer(live(household_, 5));
  EXPECT_EQ(delivered(), (seqs{3, 4, 5}));
  settle();
  EXPECT_EQ(queued_db_jobs(), 0u);
}

}  // namespace
}  // namespace hearth::testing
