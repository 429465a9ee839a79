// ShopItem and PlanTask CRUD and household-level authorization.

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

using tables = hearth_test;

std::set<std::string> ids_of(const http_response& res) {
  std::set<std::string> ids;
  const auto body = res.json();  // keep it alive for the loop
  for (const auto& v : body.as_object().at("dataValue").as_array()) {
    ids.insert(str(v.as_object(), "id"));
  }
  return ids;
}

TEST_F(tables, shop_item_crud) {
  auto user = new_user("shopper");
  const auto hh = create_household(user.key, "Home");

  auto created =
      http().request_as(user.key, "POST", "/api/v1/shop/items",
                        json::serialize(json::object{{"authHouseholdID", hh}, {"name", "Milk"}}));
  check_envelope(created, 201, "ShopItem");
  auto item = first_value(created);
  const auto id = str(item, "id");
  EXPECT_EQ(str(item, "authHouseholdID"), hh);
  EXPECT_EQ(str(item, "name"), "Milk");
  EXPECT_EQ(item.at("done").as_bool(), false);
  EXPECT_TRUE(item.contains("created"));
  EXPECT_TRUE(item.contains("updated"));

  auto got = http().request_as(user.key, "GET", "/api/v1/shop/items/" + id);
  check_envelope(got, 200, "ShopItem");
  EXPECT_EQ(str(first_value(got), "name"), "Milk");

  // PUT with a subset: only `done`.
  auto put = http().request_as(user.key, "PUT", "/api/v1/shop/items/" + id, R"({"done":true})");
  check_envelope(put, 200, "ShopItem");
  EXPECT_EQ(first_value(put).at("done").as_bool(), true);
  EXPECT_EQ(str(first_value(put), "name"), "Milk");

  // PUT with the other field.
  put = http().request_as(user.key, "PUT", "/api/v1/shop/items/" + id, R"({"name":"Oat milk"})");
  check_envelope(put, 200, "ShopItem");
  EXPECT_EQ(str(first_value(put), "name"), "Oat milk");
  EXPECT_EQ(first_value(put).at("done").as_bool(), true);

  auto list = http().request_as(user.key, "GET", "/api/v1/shop/items");
  check_envelope(list, 200, "ShopItem");
  EXPECT_EQ(ids_of(list), std::set<std::string>{id});

  auto del = http().request_as(user.key, "DELETE", "/api/v1/shop/items/" + id);
  check_envelope(del, 200);
  check_envelope(http().request_as(user.key, "GET", "/api/v1/shop/items/" + id), 404);
  EXPECT_TRUE(ids_of(http().request_as(user.key, "GET", "/api/v1/shop/items")).empty());
}

TEST_F(tables, shop_item_created_done) {
  auto user = new_user("done");
  const auto hh = create_household(user.key, "Home");
  auto res = http().request_as(
      user.key, "POST", "/api/v1/shop/items",
      json::serialize(json::object{{"authHouseholdID", hh}, {"name", "Eggs"}, {"done", true}}));
  check_envelope(res, 201, "ShopItem");
  EXPECT_EQ(first_value(res).at("done").as_bool(), true);
}

// PUT takes the representation GET returned (household_tables_test.cpp
// covers it for every table): read-only members alone are still an empty
// update, an id that is not the URL's is refused, and a move needs rights in
// the target household.
TEST_F(tables, put_rejects_empty_bodies_foreign_ids_and_moves_without_rights) {
  auto user = new_user("putter");
  auto other = new_user("putter-other");
  const auto hh = create_household(user.key, "Home");
  const auto foreign = create_household(other.key, "Other");
  const auto id = str(create_item(user.key, hh, "Bread"), "id");
  const auto target = "/api/v1/shop/items/" + id;

  auto res = http().request_as(user.key, "PUT", target, "{}");
  check_envelope(res, 400);
  res = http().request_as(user.key, "PUT", target,
                          json::serialize(json::object{{"authHouseholdID", foreign}}));
  check_envelope(res, 404);
  EXPECT_EQ(message_of(res), "authHouseholdID: household not found");
  res = http().request_as(user.key, "PUT", target, R"({"authHouseholdID":"x","name":"y"})");
  check_envelope(res, 400);
  EXPECT_NE(message_of(res).find("authHouseholdID"), std::string::npos) << res.body;
  res = http().request_as(user.key, "PUT", target, R"({"id":"x","name":"y"})");
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res).rfind("id:", 0), 0u) << res.body;
  res = http().request_as(user.key, "PUT", target, R"({"created":"2020-01-01T00:00:00Z"})");
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res), "request body: no field to update");
  res = http().request_as(user.key, "PUT", target, R"({"name":"y","colour":"red"})");
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res), "colour: unknown field");
  // Unchanged.
  auto item = first_value(http().request_as(user.key, "GET", target));
  EXPECT_EQ(str(item, "name"), "Bread");
  EXPECT_EQ(str(item, "authHouseholdID"), hh);
}

TEST_F(tables, list_covers_all_households_and_filters) {
  auto user = new_user("lister");
  auto other = new_user("notmine");
  const auto h1 = create_household(user.key, "One");
  const auto h2 = create_household(user.key, "Two");
  const auto foreign = create_household(other.key, "Foreign");
  const auto i1 = str(create_item(user.key, h1, "a"), "id");
  const auto i2 = str(create_item(user.key, h2, "b"), "id");
  const auto i3 = str(create_item(user.key, h2, "c"), "id");
  create_item(other.key, foreign, "not visible");

  auto all = http().request_as(user.key, "GET", "/api/v1/shop/items");
  auto env = check_envelope(all, 200, "ShopItem");
  EXPECT_EQ(ids_of(all), (std::set<std::string>{i1, i2, i3}));
  EXPECT_EQ(env.at("dataTotal").to_number<int>(), 3);

  auto filtered = http().request_as(user.key, "GET", "/api/v1/shop/items?authHouseholdID=" + h2);
  check_envelope(filtered, 200, "ShopItem");
  EXPECT_EQ(ids_of(filtered), (std::set<std::string>{i2, i3}));

  // Filtering on a household the caller does not belong to reveals nothing.
  auto sneaky = http().request_as(user.key, "GET", "/api/v1/shop/items?authHouseholdID=" + foreign);
  if (sneaky.status == 200) {
    EXPECT_TRUE(ids_of(sneaky).empty()) << sneaky.body;
  } else {
    EXPECT_EQ(sneaky.status, 404u) << sneaky.body;
  }
}

TEST_F(tables, plan_task_crud_with_due_date) {
  auto user = new_user("planner");
  const auto hh = create_household(user.key, "Home");

  auto res = http().request_as(
      user.key, "POST", "/api/v1/plan/tasks",
      json::serialize(
          json::object{{"authHouseholdID", hh}, {"name", "Taxes"}, {"dueDate", "2026-04-15"}}));
  check_envelope(res, 201, "PlanTask");
  auto task = first_value(res);
  const auto id = str(task, "id");
  EXPECT_EQ(str(task, "name"), "Taxes");
  EXPECT_EQ(str(task, "dueDate"), "2026-04-15");
  EXPECT_EQ(task.at("done").as_bool(), false);
  EXPECT_EQ(str(task, "authHouseholdID"), hh);
  EXPECT_TRUE(task.contains("created"));
  EXPECT_TRUE(task.contains("updated"));

  auto no_due = create_task(user.key, hh, "Someday");
  ASSERT_TRUE(no_due.contains("dueDate"));
  EXPECT_TRUE(no_due.at("dueDate").is_null());

  const auto target = "/api/v1/plan/tasks/" + id;
  auto put = http().request_as(user.key, "PUT", target, R"({"dueDate":"2026-05-01","done":true})");
  check_envelope(put, 200, "PlanTask");
  EXPECT_EQ(str(first_value(put), "dueDate"), "2026-05-01");
  EXPECT_EQ(first_value(put).at("done").as_bool(), true);

  put = http().request_as(user.key, "PUT", target, R"({"dueDate":null})");
  check_envelope(put, 200, "PlanTask");
  EXPECT_TRUE(first_value(put).at("dueDate").is_null());
  EXPECT_EQ(str(first_value(put), "name"), "Taxes");

  check_envelope(http().request_as(user.key, "PUT", target, R"({"dueDate":"15.04.2026"})"), 400);
  check_envelope(http().request_as(user.key, "PUT", target, R"({"dueDate":"2026-13-45"})"), 400);

  auto list = http().request_as(user.key, "GET", "/api/v1/plan/tasks");
  check_envelope(list, 200, "PlanTask");
  EXPECT_EQ(ids_of(list), (std::set<std::string>{id, str(no_due, "id")}));

  check_envelope(http().request_as(user.key, "DELETE", target), 200);
  check_envelope(http().request_as(user.key, "GET", target), 404);
  check_envelope(http().request_as(user.key, "DELETE", target), 404);
}

TEST_F(tables, non_member_gets_404_everywhere) {
  auto owner = new_user("owner");
  auto stranger = new_user("stranger");
  const auto hh = create_household(owner.key, "Private");
  const auto item = str(create_item(owner.key, hh, "secret"), "id");
  const auto task = str(create_task(owner.key, hh, "secret task"), "id");

  for (const std::string base : {"/api/v1/shop/items/", "/api/v1/plan/tasks/"}) {
    const auto id = base == "/api/v1/shop/items/" ? item : task;
    SCOPED_TRACE(base);
    check_envelope(http().request_as(stranger.key, "GET", base + id), 404);
    check_envelope(http().request_as(stranger.key, "PUT", base + id, R"({"name":"mine"})"), 404);
    check_envelope(http().request_as(stranger.key, "DELETE", base + id), 404);
  }
  check_envelope(create_item_response(stranger.key, hh, "intruder"), 404);
  check_envelope(http().request_as(
                     stranger.key, "POST", "/api/v1/plan/tasks",
                     json::serialize(json::object{{"authHouseholdID", hh}, {"name", "intruder"}})),
                 404);
  EXPECT_TRUE(ids_of(http().request_as(stranger.key, "GET", "/api/v1/shop/items")).empty());
  EXPECT_TRUE(ids_of(http().request_as(stranger.key, "GET", "/api/v1/plan/tasks")).empty());

  // Untouched for the owner.
  auto still = http().request_as(owner.key, "GET", "/api/v1/shop/items/" + item);
  check_envelope(still, 200, "ShopItem");
  EXPECT_EQ(str(first_value(still), "name"), "secret");
}

TEST_F(tables, view_member_reads_but_cannot_write) {
  auto owner = new_user("owner");
  auto viewer = new_user("viewer");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, viewer.email, "view");
  const auto item = str(create_item(owner.key, hh, "look only"), "id");
  const auto task = str(create_task(owner.key, hh, "look only task"), "id");

  check_envelope(http().request_as(viewer.key, "GET", "/api/v1/shop/items/" + item), 200,
                 "ShopItem");
  EXPECT_EQ(ids_of(http().request_as(viewer.key, "GET", "/api/v1/shop/items")),
            std::set<std::string>{item});
  check_envelope(http().request_as(viewer.key, "GET", "/api/v1/plan/tasks/" + task), 200,
                 "PlanTask");

  check_envelope(create_item_response(viewer.key, hh, "nope"), 403);
  check_envelope(
      http().request_as(viewer.key, "PUT", "/api/v1/shop/items/" + item, R"({"done":true})"), 403);
  check_envelope(http().request_as(viewer.key, "DELETE", "/api/v1/shop/items/" + item), 403);
  check_envelope(
      http().request_as(viewer.key, "POST", "/api/v1/plan/tasks",
                        json::serialize(json::object{{"authHouseholdID", hh}, {"name", "nope"}})),
      403);
  check_envelope(
      http().request_as(viewer.key, "PUT", "/api/v1/plan/tasks/" + task, R"({"done":true})"), 403);
  check_envelope(http().request_as(viewer.key, "DELETE", "/api/v1/plan/tasks/" + task), 403);

  auto unchanged = first_value(http().request_as(owner.key, "GET", "/api/v1/shop/items/" + item));
  EXPECT_EQ(unchanged.at("done").as_bool(), false);
}

TEST_F(tables, edit_member_writes) {
  auto owner = new_user("owner");
  auto editor = new_user("editor");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, editor.email, "edit");
  const auto item = str(create_item(owner.key, hh, "shared"), "id");

  check_envelope(create_item_response(editor.key, hh, "from editor"), 201, "ShopItem");
  check_envelope(
      http().request_as(editor.key, "PUT", "/api/v1/shop/items/" + item, R"({"done":true})"), 200,
      "ShopItem");
  auto task = create_task(editor.key, hh, "editor task", "2027-01-01");
  check_envelope(http().request_as(editor.key, "DELETE", "/api/v1/plan/tasks/" + str(task, "id")),
                 200);
  check_envelope(http().request_as(editor.key, "DELETE", "/api/v1/shop/items/" + item), 200);
  check_envelope(http().request_as(owner.key, "GET", "/api/v1/shop/items/" + item), 404);
}

}  // namespace
}  // namespace hearth::testing

namespace hearth::testing {
namespace {

TEST_F(tables, list_etag_gives_304_until_the_list_changes) {
  auto user = new_user("etag");
  const auto hh = create_household(user.key, "Home");
  auto item = create_item(user.key, hh, "milk");
  auto first = http().request_as(user.key, "GET", "/api/v1/shop/items");
  ASSERT_EQ(first.status, 200u) << first.body;
  const auto etag = first.header("etag");
  ASSERT_FALSE(etag.empty());
  auto auth = std::map<std::string, std::string>{{"Authorization", "Bearer " + user.key}};
  auto with_tag = auth;
  with_tag["If-None-Match"] = etag;
  auto same = http().request("GET", "/api/v1/shop/items", "", with_tag);
  EXPECT_EQ(same.status, 304u);
  EXPECT_TRUE(same.body.empty()) << same.body;
  EXPECT_EQ(same.header("etag"), etag);
  // The connection stays usable after a body-less 304.
  EXPECT_EQ(http().request("GET", "/api/v1/health").status, 200u);
  // An update changes the list's version: 200 with a new tag.
  auto put = http().request_as(user.key, "PUT", "/api/v1/shop/items/" + str(item, "id"),
                               R"({"done":true})");
  ASSERT_EQ(put.status, 200u) << put.body;
  auto changed = http().request("GET", "/api/v1/shop/items", "", with_tag);
  EXPECT_EQ(changed.status, 200u);
  EXPECT_NE(changed.header("etag"), etag);
}

}  // namespace
}  // namespace hearth::testing

namespace hearth::testing {
namespace {

// A row made offline (docs/api.md, "Household tables"): POST carries the id
// its client chose; a second POST of that id, however long after and with
// whatever body, is the same row (200, Idempotent-Replayed) and records no
// second event; concurrent POSTs of one id make one row.
TEST_F(tables, a_client_chosen_id_makes_one_row_however_often_it_is_posted) {
  auto user = new_user("offline");
  auto other = new_user("elsewhere");
  const auto hh = create_household(user.key, "Home");
  const auto theirs = create_household(other.key, "Theirs");
  auto stream = open_sse(user.key);
  const std::string id = "5A1F0C2E-7B3D-4E8F-9A6B-1C2D3E4F5A6B";
  const std::string lower = "5a1f0c2e-7b3d-4e8f-9a6b-1c2d3e4f5a6b";
  auto post = [&](const std::string& key, const std::string& household, const std::string& row_id,
                  const std::string& name) {
    return http().request_as(key, "POST", "/api/v1/shop/items",
                             json::serialize(json::object{
                                 {"authHouseholdID", household}, {"id", row_id}, {"name", name}}));
  };
  auto made = post(user.key, hh, id, "milk");
  check_envelope(made, 201, "ShopItem");
  EXPECT_EQ(str(first_value(made), "id"), lower);
  auto created = next_change(*stream, 10s);
  ASSERT_TRUE(created) << "no create event";
  EXPECT_NE(created->data.find(lower), std::string::npos) << created->data;

  // Sent again (the client did not see the answer): the same row, as it is.
  auto again = post(user.key, hh, lower, "oat milk");
  check_envelope(again, 200, "ShopItem");
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(str(first_value(again), "name"), "milk") << "a replay wrote";
  require_status(http().request_as(user.key, "PUT", "/api/v1/shop/items/" + lower,
                                   json::serialize(json::object{{"name", "soy milk"}})),
                 200, "rename");
  auto later = post(user.key, hh, id, "milk");
  check_envelope(later, 200, "ShopItem");
  EXPECT_EQ(str(first_value(later), "name"), "soy milk") << "the row as it is now";
  // The update's event, then the next item's: no second create of the id.
  auto updated = next_change(*stream, 10s);
  ASSERT_TRUE(updated);
  EXPECT_NE(updated->data.find("\"update\""), std::string::npos) << updated->data;
  auto next =
      http().request_as(user.key, "POST", "/api/v1/shop/items",
                        json::serialize(json::object{{"authHouseholdID", hh}, {"name", "bread"}}));
  require_status(next, 201, "bread");
  auto bread = next_change(*stream, 10s);
  ASSERT_TRUE(bread);
  EXPECT_NE(bread->data.find(str(first_value(next), "id")), std::string::npos)
      << "an event came between the update and the next item: " << bread->data;

  // Refusals: not a UUID; the id of another household's row; a household
  // the caller is not in (404 before anything about the id is told).
  check_envelope(post(user.key, hh, "not-a-uuid", "x"), 400);
  check_envelope(post(other.key, theirs, id, "mine"), 409);
  check_envelope(post(other.key, hh, id, "x"), 404);

  // Eight clients post one new id at once: one row, one 201.
  const std::string fresh = "0d9c8b7a-6f5e-4d3c-8b2a-19f8e7d6c5b4";
  std::vector<unsigned> statuses(8);
  std::vector<std::thread> racers;
  for (std::size_t i = 0; i < statuses.size(); ++i)
    racers.emplace_back([&, i] {
      http_client c(port());
      statuses[i] = c.request_as(user.key, "POST", "/api/v1/shop/items",
                                 json::serialize(json::object{
                                     {"authHouseholdID", hh}, {"id", fresh}, {"name", "raced"}}))
                        .status;
    });
  for (auto& t : racers) t.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201u), 1);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200u), 7);
}

}  // namespace
}  // namespace hearth::testing
