// The I/O threads' read replicas (actors/read_replica.hpp): hits answered
// from the replica alone, lists answered only while their household's
// version is the one their read started at (a write bumps it), and the
// blocking that keeps a session read which raced a sign-out out of the
// replica until the cache actor has seen that sign-out.

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

// A list as the cache actor posts it: read when the household was at `version`.
versioned_list at(const household_versions& v, list_ptr list) {
  return {std::move(list), v.current(kHousehold)};
}

TEST(read_replica, answers_a_read_only_when_the_session_and_every_list_are_there) {
  household_versions versions;
  read_replica r(versions);
  EXPECT_FALSE(r.try_answer(items_query()));
  EXPECT_EQ(r.try_authenticate(kKey), nullptr);
  r.put_grant(kKey, grant_of("a"));
  EXPECT_FALSE(r.try_answer(items_query())) << "the list is missing";
  const auto* who = r.try_authenticate(kKey);
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->account_id, "a");
  list_query no_table;
  no_table.session_key = kKey;
  EXPECT_FALSE(r.try_answer(no_table)) << "a list read names its table";
  r.put_list(kItems, at(versions, list_of("[1]", 1)));
  auto hit = r.try_answer(items_query());
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->view.rows(), "[1]");
  EXPECT_EQ(hit->view.count, 1u);
}

TEST(read_replica, an_expired_session_is_not_answered) {
  household_versions versions;
  read_replica r(versions);
  auto g = grant_of("a");
  g.grant.expires_ms = 1;
  r.put_grant(kKey, g);
  r.put_list(kItems, at(versions, list_of("[1]", 1)));
  EXPECT_FALSE(r.try_answer(items_query()));
  g = grant_of("a");
  g.loaded -= kGrantMaxAge + std::chrono::seconds(1);
  r.put_grant(kKey, g);
  EXPECT_FALSE(r.try_answer(items_query())) << "a session read too long ago is read again";
}

TEST(read_replica, a_write_makes_its_households_lists_stale_at_once) {
  household_versions versions;
  read_replica r(versions);
  r.put_grant(kKey, grant_of("a"));
  r.put_list(kItems, at(versions, list_of("[old]", 1)));
  ASSERT_TRUE(r.try_answer(items_query()));
  versions.bump(kHousehold);  // actor_runtime::publish: no post to this thread
  EXPECT_FALSE(r.try_answer(items_query())) << "the written household's list was answered";
  EXPECT_EQ(r.lists(), 1u) << "stale, not erased: the next read replaces it";
}

TEST(read_replica, a_list_read_before_a_write_is_refused_when_it_arrives_after_it) {
  household_versions versions;
  read_replica r(versions);
  r.put_grant(kKey, grant_of("a"));
  const auto started = versions.current(kHousehold);  // the actor starts a read
  versions.bump(kHousehold);                          // a write commits meanwhile
  r.put_list(kItems, versioned_list{list_of("[old]", 1), started});
  EXPECT_FALSE(r.try_answer(items_query())) << "a list that predates the write was answered";
  r.put_list(kItems, at(versions, list_of("[new]", 2)));  // the re-read
  auto hit = r.try_answer(items_query());
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->view.rows(), "[new]");
}

TEST(read_replica, another_households_write_leaves_a_list_current) {
  household_versions versions;
  read_replica r(versions);
  r.put_grant(kKey, grant_of("a"));
  r.put_list(kItems, at(versions, list_of("[1]", 1)));
  // Other ids, on other stripes (of 65 536: a collision would cost a miss only).
  for (int i = 0; i < 8; ++i) versions.bump("other-household-" + std::to_string(i));
  ASSERT_EQ(versions.current(kHousehold), 0u) << "these ids share a stripe with kHousehold";
  EXPECT_TRUE(r.try_answer(items_query()));
}

TEST(read_replica, sign_out_revokes_at_once_and_refuses_older_session_reads) {
  household_versions versions;
  read_replica r(versions);
  r.put_grant(kKey, grant_of("a"));
  r.put_grant("other", grant_of("b"));
  r.revoke("a", true);
  EXPECT_EQ(r.try_authenticate(kKey), nullptr) << "a revoked session was answered";
  EXPECT_NE(r.try_authenticate("other"), nullptr) << "another account's session went too";
  r.put_grant(kKey, grant_of("a"));  // read before the sign-out
  EXPECT_EQ(r.try_authenticate(kKey), nullptr);
  r.settle_revoke("a");
  r.put_grant(kKey, grant_of("a"));
  EXPECT_NE(r.try_authenticate(kKey), nullptr);
}

TEST(read_replica, flush_drops_everything) {
  household_versions versions;
  read_replica r(versions);
  r.put_grant(kKey, grant_of("a"));
  r.put_list(kItems, at(versions, list_of("[1]", 1)));
  r.flush();
  EXPECT_EQ(r.grants(), 0u);
  EXPECT_EQ(r.lists(), 0u);
}

}  // namespace
}  // namespace hearth::actors
