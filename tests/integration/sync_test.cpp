// The read cache (actors/cache.hpp) and differential sync (docs/architecture.md, "The path of a
// read"): ETag / If-None-Match, ?updatedAfter= with dataIDs, a writer reading its own writes
// through the cache, session revokes and new memberships. Each behaviour runs with the cache on
// (default) and off (HEARTH_CACHE_MIB=0), which must answer the same.

#include <map>
#include <pqxx/pqxx>
#include <set>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

class sync_test : public hearth_test, public ::testing::WithParamInterface<bool> {
 protected:
  std::map<std::string, std::string> extra_env() override {
    if (GetParam()) return {};
    return {{"HEARTH_CACHE_MIB", "0"}};
  }

  json::object list(const std::string& key, const std::string& target, unsigned expected = 200) {
    auto res = http().request_as(key, "GET", target);
    require_status(res, expected, "GET " + target);
    return check_envelope(res, expected, expected == 200 ? "ShopItem" : "");
  }

  std::string create(const std::string& key, const std::string& household,
                     const std::string& name) {
    return str(create_item(key, household, name), "id");
  }
};

std::map<std::string, json::object> rows_by_id(const json::object& envelope) {
  std::map<std::string, json::object> out;
  for (const auto& v : envelope.at("dataValue").as_array())
    out.emplace(str(v.as_object(), "id"), v.as_object());
  return out;
}

std::string max_updated(const std::map<std::string, json::object>& rows) {
  std::string m;
  for (const auto& [id, row] : rows) m = std::max(m, str(row, "updated"));
  return m;
}

TEST_P(sync_test, an_offline_client_converges_with_updated_after_and_data_ids) {
  auto owner = new_user("sync-owner");
  auto other = new_user("sync-other");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, other.email, "edit");
  const auto kept = create(owner.key, hh, "kept");
  const auto changed = create(owner.key, hh, "changed");
  const auto deleted = create(owner.key, hh, "deleted");
  const std::string target = "/api/v1/shop/items?authHouseholdID=" + hh;

  // The client syncs fully, then goes offline.
  auto held = rows_by_id(list(owner.key, target));
  ASSERT_EQ(held.size(), 3u);
  const auto cursor = max_updated(held);

  // Meanwhile another member creates, updates and deletes rows, including one
  // created and deleted while the client was away.
  ASSERT_EQ(http()
                .request_as(other.key, "PUT", "/api/v1/shop/items/" + changed,
                            R"({"done":true,"name":"changed twice"})")
                .status,
            200u);
  ASSERT_EQ(http().request_as(other.key, "DELETE", "/api/v1/shop/items/" + deleted).status, 200u);
  const auto added = create(other.key, hh, "added");
  const auto transient = create(other.key, hh, "transient");
  ASSERT_EQ(http().request_as(other.key, "DELETE", "/api/v1/shop/items/" + transient).status, 200u);

  // Back online: only the newer rows, plus the ids of every current row.
  auto delta = list(owner.key, target + "&updatedAfter=" + cursor);
  auto newer = rows_by_id(delta);
  EXPECT_EQ(newer.size(), 2u) << json::serialize(delta);
  EXPECT_TRUE(newer.count(changed) && newer.count(added)) << json::serialize(delta);
  EXPECT_EQ(delta.at("dataTotal").to_number<std::size_t>(), newer.size());
  ASSERT_TRUE(delta.contains("dataIDs")) << json::serialize(delta);
  std::set<std::string> current;
  for (const auto& v : delta.at("dataIDs").as_array()) {
    const auto& o = v.as_object();
    current.insert(str(o, "id"));
    EXPECT_FALSE(str(o, "updated").empty());
  }
  EXPECT_EQ(current, (std::set<std::string>{kept, changed, added}));

  // The client merges: drop what is not current, take what is newer.
  for (auto it = held.begin(); it != held.end();)
    it = current.count(it->first) ? std::next(it) : held.erase(it);
  for (auto& [id, row] : newer) held[id] = row;

  auto server = rows_by_id(list(owner.key, target));
  ASSERT_EQ(held.size(), server.size());
  for (const auto& [id, row] : server) {
    ASSERT_TRUE(held.count(id)) << id;
    EXPECT_EQ(json::serialize(held.at(id)), json::serialize(row));
  }
  EXPECT_EQ(str(server.at(changed), "name"), "changed twice");

  // Nothing newer than the newest row: an empty delta, every id listed.
  auto none = list(owner.key, target + "&updatedAfter=" + max_updated(server));
  EXPECT_EQ(none.at("dataValue").as_array().size(), 0u);
  EXPECT_EQ(none.at("dataIDs").as_array().size(), 3u);
  // Without updatedAfter there is no dataIDs member.
  EXPECT_FALSE(list(owner.key, target).contains("dataIDs"));
}

TEST_P(sync_test, updated_after_is_validated_and_ids_are_case_insensitive) {
  auto user = new_user("sync-valid");
  const auto hh = create_household(user.key, "Home");
  create(user.key, hh, "one");
  for (const char* bad : {"yesterday", "2026-13-01T00:00:00Z", "2026-01-02T03:04:05",
                          "2026-01-02T03:04:05%2B01:00", "2026-01-02T25:00:00Z"}) {
    auto res =
        http().request_as(user.key, "GET", std::string("/api/v1/shop/items?updatedAfter=") + bad);
    check_envelope(res, 400);
    EXPECT_NE(message_of(res).find("updatedAfter"), std::string::npos) << bad;
  }
  // Fractions of any length up to nanoseconds, and an explicit +00:00.
  for (const char* good : {"2000-01-02T03:04:05Z", "2000-01-02T03:04:05.1Z",
                           "2000-01-02T03:04:05.123456789Z", "2000-01-02T03:04:05%2B00:00"}) {
    auto body = list(user.key, std::string("/api/v1/shop/items?updatedAfter=") + good);
    EXPECT_EQ(body.at("dataValue").as_array().size(), 1u) << good;
  }
  std::string upper = hh;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(list(user.key, "/api/v1/shop/items?authHouseholdID=" + upper)
                .at("dataValue")
                .as_array()
                .size(),
            1u);
}

TEST_P(sync_test, if_none_match_accepts_lists_and_weak_tags) {
  auto user = new_user("sync-etag");
  const auto hh = create_household(user.key, "Home");
  create(user.key, hh, "one");
  auto first = http().request_as(user.key, "GET", "/api/v1/shop/items");
  ASSERT_EQ(first.status, 200u);
  const auto etag = first.header("etag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(first.header("cache-control"), "private, no-cache");
  for (const auto& inm : {"\"other\", " + etag, "W/" + etag, std::string("*")}) {
    auto res = http().request("GET", "/api/v1/shop/items", "",
                              {{"Authorization", "Bearer " + user.key}, {"If-None-Match", inm}});
    EXPECT_EQ(res.status, 304u) << inm;
    EXPECT_TRUE(res.body.empty());
    EXPECT_EQ(res.header("etag"), etag);
  }
  auto miss = http().request("GET", "/api/v1/shop/items", "",
                             {{"Authorization", "Bearer " + user.key}, {"If-None-Match", "\"x\""}});
  EXPECT_EQ(miss.status, 200u);
  // A delta has its own tag: a 304 of the full list must not stand for it.
  auto delta = http().request("GET", "/api/v1/shop/items?updatedAfter=2000-01-01T00:00:00Z", "",
                              {{"Authorization", "Bearer " + user.key}, {"If-None-Match", etag}});
  EXPECT_EQ(delta.status, 200u);
  EXPECT_NE(delta.header("etag"), etag);
}

TEST_P(sync_test, a_writer_reads_its_own_writes_at_once) {
  auto user = new_user("sync-own");
  const auto hh = create_household(user.key, "Home");
  const std::string target = "/api/v1/shop/items?authHouseholdID=" + hh;
  std::set<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    auto id = create(user.key, hh, "item " + std::to_string(i));
    expected.insert(id);
    auto after_create = rows_by_id(list(user.key, target));
    ASSERT_EQ(after_create.size(), expected.size()) << "write " << i;
    ASSERT_TRUE(after_create.count(id));
    ASSERT_EQ(
        http().request_as(user.key, "PUT", "/api/v1/shop/items/" + id, R"({"done":true})").status,
        200u);
    ASSERT_TRUE(rows_by_id(list(user.key, target)).at(id).at("done").as_bool()) << "write " << i;
    if (i % 3 == 0) {
      ASSERT_EQ(http().request_as(user.key, "DELETE", "/api/v1/shop/items/" + id).status, 200u);
      expected.erase(id);
      ASSERT_FALSE(rows_by_id(list(user.key, target)).count(id)) << "write " << i;
    }
  }
  // The unfiltered list (every household of the account) agrees.
  auto all = rows_by_id(list(user.key, "/api/v1/shop/items"));
  std::set<std::string> ids;
  for (const auto& [id, row] : all) ids.insert(id);
  EXPECT_EQ(ids, expected);
}

TEST_P(sync_test, signing_out_revokes_the_key_and_new_memberships_show_at_once) {
  auto owner = new_user("sync-revoke");
  auto joiner = new_user("sync-joiner");
  const auto hh = create_household(owner.key, "Home");
  const auto second = create_household(owner.key, "Cabin");
  create(owner.key, hh, "milk");
  create(owner.key, second, "wood");
  EXPECT_EQ(list(owner.key, "/api/v1/shop/items").at("dataValue").as_array().size(), 2u);

  // The joiner's session is known (and cached) before it joins.
  EXPECT_TRUE(list(joiner.key, "/api/v1/shop/items").at("dataValue").as_array().empty());
  EXPECT_TRUE(list(joiner.key, "/api/v1/shop/items?authHouseholdID=" + hh)
                  .at("dataValue")
                  .as_array()
                  .empty());
  add_member(owner.key, hh, joiner.email, "view");
  EXPECT_EQ(list(joiner.key, "/api/v1/shop/items").at("dataValue").as_array().size(), 1u);
  EXPECT_EQ(list(joiner.key, "/api/v1/shop/items?authHouseholdID=" + hh)
                .at("dataValue")
                .as_array()
                .size(),
            1u);
  // Not a member of the second household: nothing from it.
  EXPECT_TRUE(list(joiner.key, "/api/v1/shop/items?authHouseholdID=" + second)
                  .at("dataValue")
                  .as_array()
                  .empty());

  // Sign-out ends the key at once, also for the cached read path.
  ASSERT_EQ(http().request_as(owner.key, "DELETE", "/api/v1/auth/signin").status, 200u);
  auto res = http().request_as(owner.key, "GET", "/api/v1/shop/items");
  check_envelope(res, 401);
  // Writes and every other authenticated route too (they share the cache).
  check_envelope(create_item_response(owner.key, hh, "after sign-out"), 401);
  check_envelope(http().request_as(owner.key, "GET", "/api/v1/auth/households"), 401);
  check_envelope(http().request_as("not-a-key", "GET", "/api/v1/shop/items"), 401);
  check_envelope(http().request("GET", "/api/v1/shop/items"), 401);
}

TEST_P(sync_test, the_metrics_count_cache_hits_and_misses) {
  auto user = new_user("sync-metrics");
  const auto hh = create_household(user.key, "Home");
  create(user.key, hh, "one");
  auto value = [&](const std::string& name) {
    auto body = http().request("GET", "/metrics").body;
    auto at = body.find("\n" + name + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(body.substr(at + name.size() + 2));
  };
  const auto hits = value("hearth_cache_hits_total");
  const auto misses = value("hearth_cache_misses_total");
  ASSERT_GE(hits, 0) << "no hearth_cache_hits_total";
  list(user.key, "/api/v1/shop/items");
  list(user.key, "/api/v1/shop/items");
  list(user.key, "/api/v1/shop/items");
  if (GetParam()) {
    // The first read after the write misses, the next two hit.
    EXPECT_EQ(value("hearth_cache_misses_total"), misses + 1);
    EXPECT_EQ(value("hearth_cache_hits_total"), hits + 2);
    EXPECT_GT(value("hearth_cache_bytes"), 0);
  } else {
    EXPECT_EQ(value("hearth_cache_hits_total"), 0);
    EXPECT_EQ(value("hearth_cache_bytes"), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(cache, sync_test, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "cached" : "uncached"; });

}  // namespace
}  // namespace hearth::testing

namespace hearth::testing {
namespace {

// GET /api/v1/changes (docs/api.md, "The change feed"): an offline client's
// catch-up. From a cursor: each changed row once, with its last operation
// and the row as it is now; households to read whole; the next cursor. Its
// size follows what changed: one change in a household of 50 000 rows is
// under 2 KB.
using change_feed = hearth_test;

TEST_F(change_feed, gives_each_changed_row_once_and_a_cursor) {
  auto user = new_user("feed");
  const auto home = create_household(user.key, "Home");
  const auto cabin = create_household(user.key, "Cabin");
  auto feed = [&](const std::string& cursor) {
    auto res = http().request_as(user.key, "GET",
                                 "/api/v1/changes" + (cursor.empty() ? "" : "?cursor=" + cursor));
    check_envelope(res, 200, "Change");
    return res;
  };
  auto start = feed("");
  auto doc = start.json().as_object();
  EXPECT_EQ(doc.at("dataValue").as_array().size(), 0u);
  EXPECT_EQ(doc.at("resync").as_array().size(), 2u) << "no cursor: read every household";
  auto cursor = str(doc.at("cursor"));

  auto milk = create_item(user.key, home, "milk");
  auto bread = create_item(user.key, home, "bread");
  const auto milk_id = str(milk, "id"), bread_id = str(bread, "id");
  require_status(http().request_as(user.key, "PUT", "/api/v1/shop/items/" + milk_id,
                                   json::serialize(json::object{{"done", true}})),
                 200, "tick milk");
  require_status(http().request_as(user.key, "DELETE", "/api/v1/shop/items/" + bread_id), 200,
                 "delete bread");
  auto jam = create_item(user.key, cabin, "jam");

  auto got = feed(cursor);
  doc = got.json().as_object();
  std::map<std::string, json::object> by_id;
  for (const auto& v : doc.at("dataValue").as_array())
    by_id[str(v.as_object(), "id")] = v.as_object();
  ASSERT_EQ(by_id.size(), 3u) << got.body;
  EXPECT_EQ(str(by_id[milk_id], "operation"), "create") << "created since the cursor";
  EXPECT_TRUE(by_id[milk_id].at("row").as_object().at("done").as_bool()) << "the row as it is now";
  EXPECT_EQ(str(by_id[bread_id], "operation"), "delete");
  EXPECT_TRUE(by_id[bread_id].at("row").is_null());
  EXPECT_EQ(str(by_id[str(jam, "id")], "authHouseholdID"), cabin);
  EXPECT_TRUE(doc.at("resync").as_array().empty());
  EXPECT_FALSE(doc.at("more").as_bool());
  cursor = str(doc.at("cursor"));
  EXPECT_TRUE(feed(cursor).json().as_object().at("dataValue").as_array().empty());

  // An SSE event id is a cursor too; a household joined since is to resync.
  const auto attic = create_household(user.key, "Attic");
  doc = feed(cursor).json().as_object();
  ASSERT_EQ(doc.at("resync").as_array().size(), 1u);
  EXPECT_EQ(str(doc.at("resync").as_array()[0]), attic);
  check_envelope(http().request_as(user.key, "GET", "/api/v1/changes?cursor=nonsense"), 400);

  // One change in a household of 50 000 rows (made in SQL: old rows, no events).
  cursor = str(doc.at("cursor"));
  {
    pqxx::connection conn(database_url_);
    pqxx::work tx(conn);
    tx.exec_params0(
        "INSERT INTO shop_item (auth_household_id, name) "
        "SELECT $1, 'row ' || g FROM generate_series(1, 50000) g",
        home);
    tx.commit();
  }
  create_item(user.key, home, "one more");
  auto small = feed(cursor);
  EXPECT_EQ(small.json().as_object().at("dataValue").as_array().size(), 1u);
  EXPECT_LE(small.body.size(), 2048u)
      << "catching up after one change cost " << small.body.size() << " bytes";
}

}  // namespace
}  // namespace hearth::testing
