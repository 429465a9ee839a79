// The I/O threads' read replicas (actors/read_replica.hpp): hits answered
// from the replica alone, and the blocking that keeps a read which raced a
// local write (or a sign-out) out of the replica until the cache actor has
// seen that write.

#include "actors/read_replica.hpp"

#include <gtest/gtest.h>

#include "domain/tables.hpp"

namespace hearth::actors {
namespace {

constexpr const char* kHousehold = "7f1c2a3e-0000-4000-8000-000000000001";
constexpr const char* kKey = "session-key";

std::int64_t in_an_hour() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() +
         3'600'000;
}

cached_grant grant_of(const std::string& account) {
  cached_grant g;
  g.grant.account_id = account;
  g.grant.session_id = "s-" + account;
  g.grant.expires_ms = in_an_hour();
  g.grant.households = {kHousehold};
  g.loaded = std::chrono::steady_clock::now();
  return g;
}

list_ptr list_of(const std::string& rows_json, std::size_t rows) {
  auto l = std::make_shared<storage::household_list>();
  l->household_id = kHousehold;
  l->rows_json = rows_json;
  l->rows.resize(rows);
  l->etag = "tag-" + rows_json;
  return l;
}

list_query items_query() {
  list_query q;
  q.session_key = kKey;
  q.table = &domain::shop_item_table();
  return q;
}

const std::string kItems = list_key(kHousehold, domain::shop_item_table());

TEST(read_replica, answers_a_read_only_when_the_session_and_every_list_are_there) {
  read_replica r;
  EXPECT_FALSE(r.try_answer(items_query()));
  r.put_grant(kKey, grant_of("a"));
  EXPECT_FALSE(r.try_answer(items_query())) << "the list is missing";
  list_query auth_only;
  auth_only.session_key = kKey;
  auto who = r.try_answer(auth_only);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->who->account_id, "a");
  r.put_list(kHousehold, kItems, list_of("[1]", 1));
  auto hit = r.try_answer(items_query());
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->view.rows(), "[1]");
  EXPECT_EQ(hit->view.count, 1u);
}

TEST(read_replica, an_expired_session_is_not_answered) {
  read_replica r;
  auto g = grant_of("a");
  g.grant.expires_ms = 1;
  r.put_grant(kKey, g);
  r.put_list(kHousehold, kItems, list_of("[1]", 1));
  EXPECT_FALSE(r.try_answer(items_query()));
  g = grant_of("a");
  g.loaded -= kGrantMaxAge + std::chrono::seconds(1);
  r.put_grant(kKey, g);
  EXPECT_FALSE(r.try_answer(items_query())) << "a session read too long ago is read again";
}

TEST(read_replica, a_local_write_blocks_its_household_until_the_actor_settles_it) {
  read_replica r;
  r.put_grant(kKey, grant_of("a"));
  r.put_list(kHousehold, kItems, list_of("[old]", 1));
  r.invalidate(kHousehold, true);
  EXPECT_FALSE(r.try_answer(items_query())) << "the written household's list must go";
  // A read that started before the write finishes now: refused.
  r.put_list(kHousehold, kItems, list_of("[old]", 1));
  EXPECT_FALSE(r.try_answer(items_query())) << "a list that may predate the write was taken";
  r.settle(kHousehold);
  r.put_list(kHousehold, kItems, list_of("[new]", 2));
  auto hit = r.try_answer(items_query());
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->view.rows(), "[new]");
}

TEST(read_replica, two_writes_block_until_both_are_settled) {
  read_replica r;
  r.put_grant(kKey, grant_of("a"));
  r.invalidate(kHousehold, true);
  r.invalidate(kHousehold, true);
  r.settle(kHousehold);
  r.put_list(kHousehold, kItems, list_of("[x]", 1));
  EXPECT_FALSE(r.try_answer(items_query())) << "taken while one write is still unsettled";
  r.settle(kHousehold);
  r.put_list(kHousehold, kItems, list_of("[y]", 1));
  EXPECT_TRUE(r.try_answer(items_query()));
}

TEST(read_replica, a_peer_invalidation_erases_without_blocking) {
  read_replica r;
  r.put_grant(kKey, grant_of("a"));
  r.put_list(kHousehold, kItems, list_of("[1]", 1));
  r.invalidate(kHousehold, false);
  EXPECT_FALSE(r.try_answer(items_query()));
  r.put_list(kHousehold, kItems, list_of("[2]", 1));
  EXPECT_TRUE(r.try_answer(items_query()));
}

TEST(read_replica, sign_out_revokes_at_once_and_refuses_older_session_reads) {
  read_replica r;
  r.put_grant(kKey, grant_of("a"));
  r.put_grant("other", grant_of("b"));
  r.revoke("a", true);
  list_query q;
  q.session_key = kKey;
  EXPECT_FALSE(r.try_answer(q)) << "a revoked session was answered";
  q.session_key = "other";
  EXPECT_TRUE(r.try_answer(q)) << "another account's session went too";
  r.put_grant(kKey, grant_of("a"));  // read before the sign-out
  q.session_key = kKey;
  EXPECT_FALSE(r.try_answer(q));
  r.settle_revoke("a");
  r.put_grant(kKey, grant_of("a"));
  EXPECT_TRUE(r.try_answer(q));
}

TEST(read_replica, flush_drops_everything) {
  read_replica r;
  r.put_grant(kKey, grant_of("a"));
  r.put_list(kHousehold, kItems, list_of("[1]", 1));
  r.flush();
  EXPECT_EQ(r.grants(), 0u);
  EXPECT_EQ(r.lists(), 0u);
}

}  // namespace
}  // namespace hearth::actors
