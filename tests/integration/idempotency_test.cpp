// Idempotency-Key on writes (storage/idempotency.hpp, docs/api.md): a retry
// with the same key returns the first response without writing again, a
// different request with the same key is 422, and a response lost to a
// kill -9 of the node after the commit is still found by the retry.

#include <signal.h>

#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/support/raw_connection.hpp"

namespace hearth::testing {
namespace {

class idempotency : public hearth_test {
 protected:
  http_response keyed(const std::string& user_key, const std::string& method,
                      const std::string& target, const std::string& body,
                      const std::string& idempotency_key) {
    return http().request(
        method, target, body,
        {{"Authorization", "Bearer " + user_key}, {"Idempotency-Key", idempotency_key}});
  }

  static std::string item_body(const std::string& household, const std::string& name) {
    return json::serialize(json::object{{"authHouseholdID", household}, {"name", name}});
  }

  /// Rows of shop_item in `household` (read from the database directly).
  int rows(const std::string& household, const std::string& name = "") {
    pqxx::connection db{database_url_};
    pqxx::read_transaction tx{db};
    return tx
        .exec_params1(
            "SELECT count(*) FROM shop_item WHERE auth_household_id = $1 "
            "AND ($2 = '' OR name = $2)",
            household, name)[0]
        .as<int>();
  }

  /// One statement on the test's own connection (setup the API cannot do).
  void sql(const std::string& statement) {
    pqxx::connection db{database_url_};
    pqxx::work tx{db};
    tx.exec(statement);
    tx.commit();
  }

  /// dataValue of an envelope, serialised (to compare two answers).
  static std::string data_of(const http_response& res) {
    return json::serialize(res.json().as_object().at("dataValue"));
  }
};

TEST_F(idempotency, retried_creation_returns_the_first_response_and_writes_once) {
  auto u = new_user("idem");
  auto h = create_household(u.key, "Keys");
  auto first = keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "milk"), "create-milk-1");
  check_envelope(first, 201, "ShopItem");
  EXPECT_EQ(first.header("idempotent-replayed"), "");
  auto retry = keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "milk"), "create-milk-1");
  auto body = check_envelope(retry, 201, "ShopItem");
  EXPECT_EQ(retry.header("idempotent-replayed"), "true");
  EXPECT_EQ(data_of(retry), data_of(first));
  // The envelope is the retry's own: its request id, not the first one's.
  EXPECT_EQ(str(body.at("requestID")), retry.header("x-request-id"));
  EXPECT_NE(str(body.at("requestID")), str(first.json().as_object().at("requestID")));
  EXPECT_EQ(rows(h), 1);
  // A new key is a new request.
  check_envelope(keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "milk"), "create-milk-2"),
                 201);
  EXPECT_EQ(rows(h), 2);
}

TEST_F(idempotency, retried_update_and_delete_replay_instead_of_writing_again) {
  auto u = new_user("idemud");
  auto h = create_household(u.key, "Keys");
  const auto id = str(create_item(u.key, h, "bread"), "id");
  const auto path = "/api/v1/shop/items/" + id;
  const auto change = json::serialize(json::object{{"done", true}});
  auto put = keyed(u.key, "PUT", path, change, "put-1");
  check_envelope(put, 200, "ShopItem");
  // A second real PUT would move `updated` on; the replay returns the first.
  auto again = keyed(u.key, "PUT", path, change, "put-1");
  check_envelope(again, 200, "ShopItem");
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(data_of(again), data_of(put));
  EXPECT_EQ(str(first_value(http().request_as(u.key, "GET", path)), "updated"),
            str(first_value(put), "updated"));

  auto del = keyed(u.key, "DELETE", path, "", "delete-1");
  check_envelope(del, 200, "ShopItem");
  // A second real DELETE would be 404.
  auto del_again = keyed(u.key, "DELETE", path, "", "delete-1");
  check_envelope(del_again, 200, "ShopItem");
  EXPECT_EQ(del_again.header("idempotent-replayed"), "true");
  EXPECT_EQ(data_of(del_again), "[]");
  EXPECT_EQ(http().request_as(u.key, "DELETE", path).status, 404u);
}

// A replay answers like any other request to the household now: a caller
// who was removed gets 404, one made view-only 403, never the stored body.
// The owner changes the role and removes the member through the routes.
TEST_F(idempotency, a_replay_rechecks_permission_on_the_household) {
  auto owner = new_user("idemowner");
  auto member = new_user("idemmember");
  auto h = create_household(owner.key, "Shared");
  add_member(owner.key, h, member.email, "edit");
  const auto kept = str(create_item(owner.key, h, "kept"), "id");
  const auto gone = str(create_item(owner.key, h, "gone"), "id");
  const auto post_body = item_body(h, "secret name");
  const auto put_body = json::serialize(json::object{{"name", "secret rename"}});
  check_envelope(keyed(member.key, "POST", "/api/v1/shop/items", post_body, "m-post"), 201);
  check_envelope(keyed(member.key, "PUT", "/api/v1/shop/items/" + kept, put_body, "m-put"), 200);
  check_envelope(keyed(member.key, "DELETE", "/api/v1/shop/items/" + gone, "", "m-delete"), 200);
  auto replays = [&] {
    return std::vector<http_response>{
        keyed(member.key, "POST", "/api/v1/shop/items", post_body, "m-post"),
        keyed(member.key, "PUT", "/api/v1/shop/items/" + kept, put_body, "m-put"),
        keyed(member.key, "DELETE", "/api/v1/shop/items/" + gone, "", "m-delete")};
  };
  // Still a member: each replays.
  for (const auto& r : replays()) EXPECT_EQ(r.header("idempotent-replayed"), "true") << r.body;

  const auto member_path = "/api/v1/auth/households/" + h + "/members/" + member.account_id;
  check_envelope(http().request_as(owner.key, "PUT", member_path,
                                   json::serialize(json::object{{"permissions", "view"}})),
                 200, "AuthHouseholdMember");
  for (const auto& r : replays()) {
    check_envelope(r, 403);
    EXPECT_EQ(r.header("idempotent-replayed"), "");
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << r.body;
  }
  check_envelope(http().request_as(owner.key, "DELETE", member_path), 200, "AuthHouseholdMember");
  for (const auto& r : replays()) {
    check_envelope(r, 404);
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << r.body;
  }
  EXPECT_EQ(rows(h), 2) << "nothing written by the refused replays";
}

// The same for the household routes: a member addition's replay needs an
// owner still, a household creation's a member of the household it made.
TEST_F(idempotency, household_and_member_replays_recheck_permission_too) {
  auto owner = new_user("idemhhowner");
  auto friend_ = new_user("idemhhfriend");
  const auto body = json::serialize(json::object{{"name", "Secret cabin"}});
  auto created = keyed(owner.key, "POST", "/api/v1/auth/households", body, "hh-secret");
  check_envelope(created, 201, "AuthHousehold");
  const auto h = str(first_value(created), "id");
  const auto members = "/api/v1/auth/households/" + h + "/members";
  const auto member =
      json::serialize(json::object{{"emailAddress", friend_.email}, {"permissions", "view"}});
  check_envelope(keyed(owner.key, "POST", members, member, "member-secret"), 201);

  sql("UPDATE auth_household_member SET permissions = 'edit' WHERE auth_account_id = '" +
      owner.account_id + "'");
  auto added_again = keyed(owner.key, "POST", members, member, "member-secret");
  check_envelope(added_again, 403);
  EXPECT_EQ(added_again.body.find(friend_.email), std::string::npos) << added_again.body;

  sql("DELETE FROM auth_household_member WHERE auth_account_id = '" + owner.account_id + "'");
  auto created_again = keyed(owner.key, "POST", "/api/v1/auth/households", body, "hh-secret");
  check_envelope(created_again, 404);
  EXPECT_EQ(created_again.body.find("Secret cabin"), std::string::npos) << created_again.body;
}

TEST_F(idempotency, retried_household_creation_and_member_addition_write_once) {
  auto owner = new_user("idemhh");
  auto friend_ = new_user("idemfriend");
  const auto body = json::serialize(json::object{{"name", "Cabin"}});
  auto first = keyed(owner.key, "POST", "/api/v1/auth/households", body, "hh-1");
  check_envelope(first, 201, "AuthHousehold");
  auto retry = keyed(owner.key, "POST", "/api/v1/auth/households", body, "hh-1");
  check_envelope(retry, 201, "AuthHousehold");
  EXPECT_EQ(retry.header("idempotent-replayed"), "true");
  EXPECT_EQ(data_of(retry), data_of(first));
  auto list = http().request_as(owner.key, "GET", "/api/v1/auth/households");
  EXPECT_EQ(list.json().as_object().at("dataTotal").to_number<int>(), 1) << list.body;

  const auto h = str(first_value(first), "id");
  const auto member =
      json::serialize(json::object{{"emailAddress", friend_.email}, {"permissions", "edit"}});
  const auto members = "/api/v1/auth/households/" + h + "/members";
  auto added = keyed(owner.key, "POST", members, member, "member-1");
  check_envelope(added, 201, "AuthHouseholdMember");
  // Without the key a second addition is a 409; with it, the first answer.
  auto added_again = keyed(owner.key, "POST", members, member, "member-1");
  check_envelope(added_again, 201, "AuthHouseholdMember");
  EXPECT_EQ(added_again.header("idempotent-replayed"), "true");
  EXPECT_EQ(data_of(added_again), data_of(added));
  check_envelope(add_member_response(owner.key, h, friend_.email, "edit"), 409);
}

TEST_F(idempotency, same_key_for_a_different_request_is_422) {
  auto u = new_user("idem422");
  auto h = create_household(u.key, "Keys");
  check_envelope(keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "eggs"), "k"), 201);
  auto other_body = keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "ham"), "k");
  check_envelope(other_body, 422);
  EXPECT_NE(message_of(other_body).find("Idempotency-Key"), std::string::npos) << other_body.body;
  auto other_route =
      keyed(u.key, "POST", "/api/v1/plan/tasks",
            json::serialize(json::object{{"authHouseholdID", h}, {"name", "eggs"}}), "k");
  check_envelope(other_route, 422);
  EXPECT_EQ(rows(h), 1);
  EXPECT_EQ(rows(h, "ham"), 0);
}

TEST_F(idempotency, key_syntax_is_checked) {
  auto u = new_user("idemsyntax");
  auto h = create_household(u.key, "Keys");
  for (const std::string& bad : {std::string(), std::string(256, 'a'), std::string("with space"),
                                 std::string("tab\tkey"), std::string("caf\xc3\xa9")}) {
    auto res = keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "x"), bad);
    check_envelope(res, 400);
    EXPECT_NE(message_of(res).find("Idempotency-Key"), std::string::npos) << res.body;
  }
  EXPECT_EQ(rows(h), 0);
  check_envelope(
      keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "x"), std::string(255, '~')), 201);
  check_envelope(
      keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, "y"), "!#$%&'*+-.^_`|~09AZaz"), 201);
}

TEST_F(idempotency, keys_are_per_account_and_failures_are_not_kept) {
  auto owner = new_user("idemowner");
  auto other = new_user("idemother");
  auto h = create_household(owner.key, "Keys");
  auto mine = create_household(other.key, "Mine");
  // The same key in two accounts: two requests.
  check_envelope(keyed(owner.key, "POST", "/api/v1/shop/items", item_body(h, "a"), "shared"), 201);
  auto theirs = keyed(other.key, "POST", "/api/v1/shop/items", item_body(mine, "a"), "shared");
  check_envelope(theirs, 201);
  EXPECT_EQ(theirs.header("idempotent-replayed"), "");
  // A failed request (not a member: 404) is not kept: once a member, the
  // same request with the same key runs.
  auto refused = keyed(other.key, "POST", "/api/v1/shop/items", item_body(h, "b"), "retry-me");
  check_envelope(refused, 404);
  add_member(owner.key, h, other.email, "edit");
  auto accepted = keyed(other.key, "POST", "/api/v1/shop/items", item_body(h, "b"), "retry-me");
  check_envelope(accepted, 201);
  EXPECT_EQ(accepted.header("idempotent-replayed"), "");
  EXPECT_EQ(rows(h, "b"), 1);
}

// Duplicates at the same moment: one writes, the others wait for it and
// replay its response (the key's primary key serialises them).
TEST_F(idempotency, concurrent_duplicates_write_once) {
  auto u = new_user("idemconc");
  auto h = create_household(u.key, "Keys");
  constexpr int kClients = 8;
  std::vector<http_response> answers(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      http_client c(port());
      answers[static_cast<std::size_t>(i)] =
          c.request("POST", "/api/v1/shop/items", item_body(h, "same"),
                    {{"Authorization", "Bearer " + u.key}, {"Idempotency-Key", "burst"}});
    });
  }
  for (auto& t : threads) t.join();
  int replayed = 0;
  for (const auto& a : answers) {
    ASSERT_EQ(a.status, 201u) << a.body;
    EXPECT_EQ(data_of(a), data_of(answers[0]));
    replayed += a.header("idempotent-replayed") == "true";
  }
  EXPECT_EQ(replayed, kClients - 1);
  EXPECT_EQ(rows(h), 1);
}

// kill -9 of the node after its commits and before any client read a
// response: each retry (to the restarted node) finds its key's response if
// the write committed, else (the last requests, never sent: lost before
// they reached the node) writes once. No request is applied twice.
TEST_F(idempotency, retries_after_a_kill_9_between_commit_and_response_write_once) {
  auto u = new_user("idemkill");
  auto h = create_household(u.key, "Keys");
  constexpr int kRequests = 40;  // the last kLost are never sent
  constexpr int kLost = 5;
  auto request_text = [&](int i) {
    const auto body = item_body(h, "kill " + std::to_string(i));
    return "POST /api/v1/shop/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + u.key +
           "\r\nContent-Type: application/json\r\nIdempotency-Key: kill-" + std::to_string(i) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  {
    // One connection per request; no response is ever read.
    std::vector<std::unique_ptr<raw_connection>> conns;
    for (int i = 0; i < kRequests - kLost; ++i) {
      conns.push_back(std::make_unique<raw_connection>(port()));
      conns.back()->send(request_text(i));
    }
    // Every sent request committed; their responses sit unread in the
    // sockets: the node dies now, and the clients never get them.
    ASSERT_TRUE(eventually([&] { return rows(h) == kRequests - kLost; }, 20s)) << rows(h);
    hearth_->stop(SIGKILL);
  }
  const int committed = rows(h);
  std::set<std::string> committed_names;
  {
    pqxx::connection db{database_url_};
    pqxx::read_transaction tx{db};
    for (const auto& r :
         tx.exec_params("SELECT name FROM shop_item WHERE auth_household_id = $1", h))
      committed_names.insert(r[0].as<std::string>());
  }

  // The node again, on the same database; the client retries every key.
  http_.reset();
  hearth_ = std::make_unique<hearth_process>(
      std::map<std::string, std::string>{{"HEARTH_DATABASE_URL", database_url_}});
  http_ = std::make_unique<http_client>(port());
  int replayed = 0;
  for (int i = 0; i < kRequests; ++i) {
    const auto name = "kill " + std::to_string(i);
    auto res =
        keyed(u.key, "POST", "/api/v1/shop/items", item_body(h, name), "kill-" + std::to_string(i));
    ASSERT_EQ(res.status, 201u) << res.body;
    const bool was_committed = committed_names.count(name) > 0;
    EXPECT_EQ(res.header("idempotent-replayed") == "true", was_committed) << name;
    replayed += was_committed;
    EXPECT_EQ(str(first_value(res), "name"), name);
    EXPECT_EQ(rows(h, name), 1) << name;
  }
  EXPECT_EQ(committed, kRequests - kLost);
  EXPECT_EQ(replayed, committed);
  EXPECT_EQ(rows(h), kRequests);
}

}  // namespace
}  // namespace hearth::testing
