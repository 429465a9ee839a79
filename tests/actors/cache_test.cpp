// cache (actors/cache.hpp): list reads served from memory, read from the
// database on the pool on a miss, and invalidations that race those reads.
// A reader never gets a list older than its own write, and a list read that
// started before an invalidation never enters the cache.

#include "actors/cache.hpp"

#include "actors/notifier.hpp"
#include "domain/tables.hpp"
#include "storage/accounts.hpp"
#include "storage/crypto.hpp"
#include "storage/households.hpp"
#include "storage/tables.hpp"
#include "tests/actors/fixture.hpp"

namespace hearth::testing {
namespace {

using actors::invalidate_atom;
using actors::loaded_list_atom;
using actors::lookup_atom;

// The answers one reader got (callbacks run on the cache's turn, on this thread).
struct answers {
  std::vector<actors::list_result> got;
};

class cache_test : public actor_test {
 protected:
  void SetUp() override {
    storage::crypto_init();
    pqxx::connection conn{database_url_};
    account_ = storage::create_account(conn, "reader@example.com", "Reader",
                                       storage::hash_password("correct horse"))
                   .id;
    key_ = storage::sign_in(conn, "reader@example.com", "correct horse", 3'600'000).key;
    household_ = storage::create_household(conn, account_, "Home").id;
    cache_ = track(actors::spawn_cache(sys, db_.get(), 1 << 20, &counters_));
    sched.run();
  }

  actors::cache_request list_request(answers& to) {
    actors::list_query q;
    q.session_key = key_;
    q.table = &domain::shop_item_table();
    q.household = household_;
    return {q, [&to](actors::list_result r) { to.got.push_back(std::move(r)); }};
  }

  // GET /api/v1/shop/items?authHouseholdID=<household> (actor_runtime::read_list).
  void read(answers& to) { caf::anon_send(cache_, lookup_atom::value, list_request(to)); }

  // A committed write (as the API's POST does it, on its own connection).
  std::string write(const std::string& name) {
    pqxx::connection conn{database_url_};
    return storage::create_row(conn, domain::shop_item_table(), account_, household_,
                               storage::values{{"name", name}})
        .row.at("id")
        .as_string()
        .c_str();
  }

  std::string account_, key_, household_;
  actors::runtime_counters counters_;
  actors::cache_actor cache_;
};

// A list read starts; a write commits and its invalidation (and the
// writer's next read) reach the cache before the read's result, which
// predates the write. That stale result answers only the reader that asked
// before the invalidation: it is not cached, and the later reader gets a
// fresh read that shows the write.
TEST_F(cache_test, a_read_invalidated_while_under_way_is_not_cached_nor_served_to_a_later_reader) {
  answers before, after, later;
  read(before);
  sched.run();
  ASSERT_EQ(run_db(), 1u) << "the session read";
  sched.run();
  ASSERT_EQ(queued_db_jobs(), 1u) << "the list read";
  ASSERT_EQ(run_db(), 1u);  // it runs now: no rows yet; its result waits in the cache's mailbox

  const auto row = write("milk");
  // The invalidation and the next read overtake the pool's answer, as when
  // the pool thread is slower than the writer: sent urgent, they are
  // handled before the normal message already queued.
  caf::anon_send<caf::message_priority::high>(cache_, invalidate_atom::value, household_);
  caf::anon_send<caf::message_priority::high>(cache_, lookup_atom::value, list_request(after));
  expect((invalidate_atom, std::string), from(_).to(cache_).with(_, household_));
  expect((lookup_atom, actors::cache_request), from(_).to(cache_).with(_, _));
  EXPECT_EQ(queued_db_jobs(), 0u) << "the later read waits for the read under way";
  expect((loaded_list_atom, std::string, std::uint64_t, actors::list_load),
         from(_).to(cache_).with(_, _, _, _));

  ASSERT_EQ(before.got.size(), 1u) << "the first reader gets the read it asked for";
  EXPECT_EQ(before.got[0].result, actors::list_result::outcome::ok);
  EXPECT_EQ(before.got[0].view.count, 0u) << "the read predates the write";
  EXPECT_TRUE(after.got.empty())
      << "the stale list must not answer a read that came after the write";
  EXPECT_EQ(counters_.cache_entries.load(), 1u) << "the session only: the stale list is not cached";
  ASSERT_EQ(queued_db_jobs(), 1u) << "the later reader's list is read afresh";

  ASSERT_EQ(run_db(), 1u);
  sched.run();
  ASSERT_EQ(after.got.size(), 1u);
  EXPECT_EQ(after.got[0].result, actors::list_result::outcome::ok);
  EXPECT_EQ(after.got[0].view.count, 1u);
  EXPECT_NE(after.got[0].view.rows().find(row), std::string::npos);
  EXPECT_NE(after.got[0].view.etag, before.got[0].view.etag);

  // The fresh list is the one cached: the next reader is a hit that shows the write.
  const auto hits = counters_.cache_hits.load();
  read(later);
  sched.run();
  EXPECT_EQ(queued_db_jobs(), 0u) << "served from memory";
  ASSERT_EQ(later.got.size(), 1u);
  EXPECT_EQ(later.got[0].view.count, 1u);
  EXPECT_EQ(later.got[0].view.etag, after.got[0].view.etag);
  EXPECT_EQ(counters_.cache_hits.load(), hits + 1);
}

// The write path invalidates before the write's response is sent
// (actor_runtime::publish), so the writer's next read, enqueued after it,
// misses the cached pre-write list and reads its own write.
TEST_F(cache_test, a_writer_reads_its_own_write) {
  answers first, second, third;
  read(first);
  settle();
  ASSERT_EQ(first.got.size(), 1u);
  EXPECT_EQ(first.got[0].view.count, 0u);
  const auto misses = counters_.cache_misses.load();

  const auto row = write("bread");
  caf::anon_send(cache_, invalidate_atom::value, household_);  // publish(), before the response
  read(second);                                                // the writer's next request
  sched.run();
  ASSERT_EQ(queued_db_jobs(), 1u) << "the invalidated list is read again";
  EXPECT_TRUE(second.got.empty()) << "not answered from the pre-write list";
  run_db();
  sched.run();
  ASSERT_EQ(second.got.size(), 1u);
  EXPECT_EQ(second.got[0].view.count, 1u);
  EXPECT_NE(second.got[0].view.rows().find(row), std::string::npos);
  EXPECT_EQ(counters_.cache_misses.load(), misses + 1);

  read(third);
  sched.run();
  EXPECT_EQ(queued_db_jobs(), 0u) << "cached again";
  ASSERT_EQ(third.got.size(), 1u);
  EXPECT_EQ(third.got[0].view.count, 1u);
}

// Cluster: a peer forwards a household's events (the cache's invalidations)
// only once it knows this node needs them. So a list is stored only when
// its read started after every linked peer answered the notifier's add;
// until then reads wait, and a refused add still answers the reader
// without storing the list.
TEST_F(cache_test, a_list_is_cached_only_once_every_peer_knows_the_nodes_interest) {
  auto notifier = track(actors::spawn_notifier(sys, db_.get(), &hub_, std::chrono::milliseconds(25),
                                               &counters_, cache_, "node-a"));
  // A peer notifier that holds its answers to the add until the test gives them.
  std::vector<caf::typed_response_promise<bool>> held;
  std::vector<actors::household_ids> adds;
  auto peer = track(sys.spawn([&](caf::event_based_actor* peer_self) -> caf::behavior {
    return {[&, peer_self](actors::watch_atom, const std::string&, bool,
                           const actors::household_ids& add,
                           const actors::household_ids&) -> caf::result<bool> {
              adds.push_back(add);
              if (add.empty()) return true;  // the snapshot at link-up
              held.push_back(peer_self->make_response_promise<bool>());
              return held.back();
            },
            [](actors::forward_atom, const storage::change_event&) {},
            // The test's go-ahead: answer held add i (in the peer's turn).
            [&](std::size_t i, bool ok) { held.at(i).deliver(ok); }};
  }));
  caf::anon_send(notifier, actors::peer_up_atom::value, std::string("node-b"), peer);
  settle();
  ASSERT_EQ(adds.size(), 1u) << "the snapshot (empty)";

  answers first, second, third, fourth;
  read(first);
  settle();
  ASSERT_EQ(adds.size(), 2u);
  EXPECT_EQ(adds[1], actors::household_ids{household_});
  EXPECT_TRUE(first.got.empty()) << "the list read waits for the peer's answer";
  EXPECT_EQ(queued_db_jobs(), 0u);

  caf::anon_send(peer, std::size_t{0}, true);  // the peer answers
  settle();
  ASSERT_EQ(first.got.size(), 1u);
  read(second);
  sched.run();
  EXPECT_EQ(queued_db_jobs(), 0u) << "stored: answered from memory";
  ASSERT_EQ(second.got.size(), 1u);

  // Another household whose add the peer refuses: its reader is answered,
  // the list is not stored.
  std::string other;
  {
    pqxx::connection conn{database_url_};
    other = storage::create_household(conn, account_, "Cabin").id;
  }
  auto other_request = [&](answers& to) {
    auto r = list_request(to);
    r.query.household = other;
    caf::anon_send(cache_, lookup_atom::value, std::move(r));
  };
  caf::anon_send(cache_, actors::revoke_atom::value, account_);  // the grant predates "Cabin"
  other_request(third);
  settle();
  ASSERT_EQ(held.size(), 2u);
  caf::anon_send(peer, std::size_t{1}, false);  // the peer answers
  settle();
  ASSERT_EQ(third.got.size(), 1u);
  const auto misses = counters_.cache_misses.load();
  other_request(fourth);
  settle();
  EXPECT_EQ(counters_.cache_misses.load(), misses + 1) << "not stored: read again";
  ASSERT_EQ(held.size(), 3u) << "after asking the peers again";
  EXPECT_TRUE(fourth.got.empty());
  caf::anon_send(peer, std::size_t{2}, true);  // the peer answers
  settle();
  ASSERT_EQ(fourth.got.size(), 1u);
}

}  // namespace
}  // namespace hearth::testing
