// notifier (actors/notifier.hpp): forwarding local commits to peer nodes'
// notifiers (never a peer's commit back to peers), and the recheck of
// household heads that backfills what a peer committed but never sent.
// The peer is a test actor standing in for a remote notifier.

#include "actors/notifier.hpp"

#include "tests/actors/fixture.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;
using actors::forward_atom;
using actors::heads_atom;
using actors::peer_down_atom;
using actors::peer_up_atom;
using actors::publish_atom;
using actors::recheck_atom;
using actors::subscribe_atom;
using storage::change_event;
using seqs = std::vector<std::int64_t>;

constexpr auto kGapWait = 25ms;

using actors::household_ids;
using actors::watch_atom;

// A watch message as a peer received it.
struct watch {
  std::string node;
  bool snapshot;
  household_ids add, drop;
};

// What the stand-in peer notifier received.
struct peer_log {
  std::vector<change_event> forwarded;
  std::vector<watch> watches;
  bool hold_adds = false;  // adds wait for answer(i) instead of being answered at once
  std::vector<caf::typed_response_promise<bool>> held;
};

class notifier_test : public actor_test {
 protected:
  void SetUp() override {
    household_ = create_household();
    notifier_ = track(actors::spawn_notifier(sys, db_.get(), &hub_, kGapWait, &counters_,
                                             actors::cache_actor{}, "node-a"));
    sched.run();
  }

  // A test actor in the place of a peer node's notifier: it records what
  // it gets and answers every watch message.
  caf::actor spawn_peer(peer_log& log) {
    return track(sys.spawn([&log](caf::event_based_actor* peer) -> caf::behavior {
      return {
          [&log](forward_atom, const change_event& e) { log.forwarded.push_back(e); },
          [&log, peer](watch_atom, const std::string& node, bool snapshot, const household_ids& add,
                       const household_ids& drop) -> caf::result<bool> {
            log.watches.push_back({node, snapshot, add, drop});
            if (!log.hold_adds || snapshot || add.empty()) return true;
            log.held.push_back(peer->make_response_promise<bool>());
            return log.held.back();
          },
          // The test's go-ahead for held add i (delivered in the peer's turn).
          [&log](std::size_t i, bool ok) { log.held.at(i).deliver(ok); },
          [](bool) {}};  // the notifier's answers to the peer's own watch messages
    }));
  }

  // The peer (node-b) tells the notifier what it needs.
  void peer_watches(const caf::actor& peer, household_ids add, household_ids drop = {}) {
    inject(
        (watch_atom, std::string, bool, household_ids, household_ids),
        from(peer).to(notifier_).with(watch_atom::value, std::string("node-b"), false, add, drop));
    settle();
  }

  void link_peer(const caf::actor& peer) {
    inject((peer_up_atom, std::string, caf::actor),
           from(self).to(notifier_).with(peer_up_atom::value, std::string("node-b"), peer));
    settle();  // the snapshot, its answer, our recheck of the active households
  }

  // Subscribes a recording stream to the household through the notifier
  // (which spawns the household's session, whose head read is answered here).
  void subscribe() {
    stream_ = std::make_unique<recording_stream>(
        hub_.shard(0), std::vector<http::sse::stream_start>{{household_, 0}});
    connection_ = spawn_connection();
    self->send(notifier_, subscribe_atom::value, household_, connection_, stream_->ref());
    settle();  // the session spawns, reads its head (0), attaches the stream
    expect((std::int64_t), from(_).to(self).with(0));
    poll_io();
  }

  seqs delivered() {
    poll_io();
    return stream_->seqs();
  }

  change_event event(std::int64_t seq) const {
    return {household_,  seq,
            "shop_item", "00000000-0000-4000-8000-00000000000" + std::to_string(seq),
            "create",    "2026-01-02T03:04:05.000000Z"};
  }

  std::string household_;
  actors::runtime_counters counters_;
  actors::notifier_actor notifier_;
  std::unique_ptr<recording_stream> stream_;
  actors::connection_actor connection_;
};

// Interest routing: a local commit goes to the local stream and once to
// each linked peer that said it needs the commit's household, to no other
// peer; a commit forwarded by a peer goes to the local stream only, never
// back out.
TEST_F(notifier_test, a_commit_goes_once_to_each_peer_interested_in_its_household_and_no_other) {
  subscribe();
  peer_log log;
  auto peer = spawn_peer(log);
  link_peer(peer);
  // Linking up: the peer gets a snapshot of our interest (the stream's household).
  ASSERT_EQ(log.watches.size(), 1u);
  EXPECT_EQ(log.watches[0].node, "node-a");
  EXPECT_TRUE(log.watches[0].snapshot);
  EXPECT_EQ(log.watches[0].add, household_ids{household_});

  // The peer has not said it needs our household: a commit stays here.
  inject((publish_atom, change_event),
         from(self).to(notifier_).with(publish_atom::value, event(1)));
  disallow((forward_atom, change_event), from(notifier_).to(peer));
  settle();
  EXPECT_EQ(delivered(), seqs{1});
  EXPECT_EQ(counters_.events_forwarded.load(), 0u);

  // Once it has, each commit goes to it once.
  peer_watches(peer, {household_});
  const auto local = event(2);
  inject((publish_atom, change_event), from(self).to(notifier_).with(publish_atom::value, local));
  expect((forward_atom, change_event), from(notifier_).to(peer).with(forward_atom::value, local));
  settle();
  EXPECT_EQ(delivered(), (seqs{1, 2}));
  EXPECT_EQ(counters_.events_forwarded.load(), 1u);

  // A commit of a household the peer does not need stays here.
  auto other = event(1);
  other.household_id = create_household();
  inject((publish_atom, change_event), from(self).to(notifier_).with(publish_atom::value, other));
  disallow((forward_atom, change_event), from(notifier_).to(peer));
  settle();
  EXPECT_EQ(counters_.events_forwarded.load(), 1u);
  EXPECT_EQ(counters_.commits_published.load(), 3u);

  // The peer's own commit, forwarded to us: delivered here, not sent on.
  const auto remote = event(3);
  inject((forward_atom, change_event), from(peer).to(notifier_).with(forward_atom::value, remote));
  disallow((forward_atom, change_event), from(notifier_).to(peer));
  settle();
  EXPECT_EQ(delivered(), (seqs{1, 2, 3}));
  ASSERT_EQ(log.forwarded.size(), 1u) << "only the local commit it needed reached the peer";
  EXPECT_EQ(log.forwarded[0].seq, 2);

  // The peer no longer needs it: commits stay here again.
  peer_watches(peer, {}, {household_});
  inject((publish_atom, change_event),
         from(self).to(notifier_).with(publish_atom::value, event(4)));
  disallow((forward_atom, change_event), from(notifier_).to(peer));
  settle();
  EXPECT_EQ(delivered(), (seqs{1, 2, 3, 4}));

  // Needed again, then the link goes down: nothing is sent to it.
  peer_watches(peer, {household_});
  inject((peer_down_atom, std::string),
         from(self).to(notifier_).with(peer_down_atom::value, std::string("node-b")));
  settle();
  inject((publish_atom, change_event),
         from(self).to(notifier_).with(publish_atom::value, event(5)));
  disallow((forward_atom, change_event), from(notifier_).to(peer));
  settle();
  EXPECT_EQ(delivered(), (seqs{1, 2, 3, 4, 5}));
  EXPECT_EQ(log.forwarded.size(), 1u);
  EXPECT_EQ(counters_.events_forwarded.load(), 1u);
}

// A household gains its first local stream: the linked peers are told
// (an add they answer), and once they answered, the household's head is
// re-read, so a commit a peer made before it knew is backfilled. When the
// stream ends the interest is withdrawn, but only after the unsubscribe
// delay (5 s), and a stream that comes back within it sends nothing.
TEST_F(notifier_test, a_streams_household_is_announced_to_peers_and_withdrawn_5_s_after_it_ends) {
  peer_log log;
  log.hold_adds = true;
  auto peer = spawn_peer(log);
  link_peer(peer);
  ASSERT_EQ(log.watches.size(), 1u);
  EXPECT_TRUE(log.watches[0].add.empty()) << "no interest yet";

  stream_ = std::make_unique<recording_stream>(
      hub_.shard(0), std::vector<http::sse::stream_start>{{household_, 0}});
  connection_ = spawn_connection();
  self->send(notifier_, subscribe_atom::value, household_, connection_, stream_->ref());
  settle();  // the session starts at head 0; the add waits for the peer
  ASSERT_EQ(log.watches.size(), 2u);
  EXPECT_FALSE(log.watches[1].snapshot);
  EXPECT_EQ(log.watches[1].add, household_ids{household_});
  EXPECT_EQ(counters_.interest_local.load(), 1u);
  commit_changes(household_, 1);  // the peer commits before it knows: never forwarded here
  EXPECT_EQ(delivered(), seqs{});
  caf::anon_send(peer, std::size_t{0}, true);  // the peer answers the add
  sched.run();
  ASSERT_EQ(queued_db_jobs(), 1u) << "then the household's head is read";
  settle();
  EXPECT_EQ(advance_time(kGapWait), 1u);
  settle();
  EXPECT_EQ(delivered(), seqs{1}) << "backfilled from the outbox";

  // The stream ends: nothing is sent before the delay.
  anon_send_exit(connection_, caf::exit_reason::user_shutdown);
  settle();
  EXPECT_EQ(log.watches.size(), 2u);
  // A stream of the household comes back within the delay, ends again.
  stream_ = std::make_unique<recording_stream>(
      hub_.shard(0), std::vector<http::sse::stream_start>{{household_, 0}});
  connection_ = spawn_connection();
  self->send(notifier_, subscribe_atom::value, household_, connection_, stream_->ref());
  settle();
  EXPECT_EQ(log.watches.size(), 2u) << "still known to the peer: no new add";
  anon_send_exit(connection_, caf::exit_reason::user_shutdown);
  settle();

  // The sweep at least 5 s later withdraws it.
  advance_time(std::chrono::seconds(5));
  settle();
  ASSERT_EQ(log.watches.size(), 3u);
  EXPECT_TRUE(log.watches[2].add.empty());
  EXPECT_EQ(log.watches[2].drop, household_ids{household_});
  EXPECT_EQ(counters_.interest_local.load(), 0u);
}

// Events a peer committed but never sent (its link dropped): on recheck the
// notifier reads the heads of its active households on the pool, each
// session learns the head, waits its gap time, then backfills the missed
// events from the outbox.
// A message no handler matches, from a peer, is dropped without printing
// its values: CAF's default handler prints them, and stringifying a
// caf::duration with an invalid unit crashes CAF 0.17.6 (found by
// fuzz/cluster_message.cpp). The notifier then goes on as before.
TEST_F(notifier_test, an_unexpected_message_with_a_value_caf_cannot_print_is_dropped) {
  subscribe();
  caf::duration bad;
  bad.unit = static_cast<caf::time_unit>(0x21212121);  // as the fuzzer's input decoded
  bad.count = 7;
  self->send(caf::actor_cast<caf::actor>(notifier_), bad, std::string("x"));
  sched.run();
  inject((publish_atom, change_event),
         from(self).to(notifier_).with(publish_atom::value, event(1)));
  settle();
  EXPECT_EQ(delivered(), seqs{1});
}

TEST_F(notifier_test, recheck_reads_household_heads_and_backfills_what_was_missed) {
  subscribe();
  const auto missed = commit_changes(household_, 2);  // seq 1..2: never reached this node

  inject((recheck_atom), from(self).to(notifier_).with(recheck_atom::value));
  ASSERT_EQ(queued_db_jobs(), 1u) << "the heads are read on the pool";
  ASSERT_EQ(run_db(), 1u);
  expect((heads_atom, actors::head_list),
         from(_).to(notifier_).with(_, actors::head_list{{household_, 2}}));
  // The notifier hands the head to the household's session, which waits
  // the gap time for events still on their way before reading the outbox.
  sched.run();
  EXPECT_EQ(queued_db_jobs(), 0u) << "no outbox read before the gap wait";
  EXPECT_EQ(delivered(), seqs{});

  EXPECT_EQ(advance_time(kGapWait), 1u);
  sched.run();
  ASSERT_EQ(queued_db_jobs(), 1u) << "the backfill read";
  settle();
  EXPECT_EQ(delivered(), (seqs{1, 2}));
  EXPECT_NE(stream_->output.find(missed[0].row_id), std::string::npos);
  EXPECT_NE(stream_->output.find(missed[1].row_id), std::string::npos);

  // Nothing missed any more: a second recheck reads the heads and arms no backfill.
  inject((recheck_atom), from(self).to(notifier_).with(recheck_atom::value));
  settle();
  EXPECT_EQ(advance_time(kGapWait), 0u) << "a head already delivered arms no gap timer";
  EXPECT_EQ(queued_db_jobs(), 0u);
  EXPECT_EQ(delivered(), (seqs{1, 2}));
}

// Rechecks asked for while one is under way are not lost: the notifier
// reads the heads again once the first answer is in (that read may predate
// the reason for the second).
TEST_F(notifier_test, a_recheck_asked_for_during_a_recheck_reads_the_heads_again) {
  subscribe();
  inject((recheck_atom), from(self).to(notifier_).with(recheck_atom::value));
  ASSERT_EQ(queued_db_jobs(), 1u);
  // A second request arrives while the first read is under way.
  inject((recheck_atom), from(self).to(notifier_).with(recheck_atom::value));
  EXPECT_EQ(queued_db_jobs(), 1u) << "one read of the heads at a time";
  ASSERT_EQ(run_db(), 1u);        // the first read: head 0
  commit_changes(household_, 1);  // a peer commits after it, before its answer is handled
  expect((heads_atom, actors::head_list),
         from(_).to(notifier_).with(_, actors::head_list{{household_, 0}}));
  ASSERT_EQ(queued_db_jobs(), 1u) << "the heads are read again once the first answer is in";
  ASSERT_EQ(run_db(), 1u);
  expect((heads_atom, actors::head_list),
         from(_).to(notifier_).with(_, actors::head_list{{household_, 1}}));
  sched.run();
  EXPECT_EQ(advance_time(kGapWait), 1u);
  settle();
  EXPECT_EQ(delivered(), seqs{1});
}

}  // namespace
}  // namespace hearth::testing
