// Every declarative household table (storage/tables.hpp) behaves the same
// way. The fixtures come from the declarations themselves: for each table
// the test builds valid and invalid bodies from its column specs and checks
// CRUD, strict validation, permissions, the SSE change events and the
// OpenAPI schema. A table added to household_tables() is covered here with
// no new test code.

#include <fmt/format.h>

#include "domain/tables.hpp"
#include "storage/tables.hpp"
#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

using storage::column_spec;
using storage::column_type;
using storage::table_spec;

// A valid value of `c` (the `variant`-th of a few); timestamps grow with the
// column's position so that later columns (endsAt) follow earlier ones.
json::value valid_value(const column_spec& c, std::size_t position, int variant) {
  switch (c.type) {
    case column_type::text: {
      std::string s = fmt::format("{} {}", c.json, variant);
      if (s.size() < c.min_length) s.resize(c.min_length, 'x');
      if (c.max_length && s.size() > c.max_length) s.resize(c.max_length);
      return json::string(s);
    }
    case column_type::boolean:
      return variant % 2 == 1;
    case column_type::date:
      return json::string(fmt::format("2026-01-{:02}", 10 + variant));
    case column_type::timestamp:
      return json::string(fmt::format("2026-01-{:02}T{:02}:30:00Z", 10 + variant, position));
  }
  return nullptr;
}

// What the API returns for a value sent (timestamps come back normalised).
json::value returned(const column_spec& c, const json::value& sent) {
  if (c.type == column_type::timestamp) {
    std::string s(sent.as_string());
    return json::string(s.substr(0, 19) + ".000000Z");
  }
  return sent;
}

// Every writable column (read-only ones are the server's).
json::object full_body(const table_spec& t, int variant) {
  json::object o;
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    if (!t.columns[i].read_only) o[t.columns[i].json] = valid_value(t.columns[i], i, variant);
  return o;
}

class household_tables : public hearth_test, public ::testing::WithParamInterface<std::size_t> {
 protected:
  const table_spec& table() const { return *domain::household_tables().at(GetParam()); }
};

TEST_P(household_tables, crud_validation_permissions_and_events) {
  const auto& t = table();
  auto owner = new_user("tables-owner");
  auto viewer = new_user("tables-viewer");
  auto stranger = new_user("tables-stranger");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, viewer.email, "view");
  sse_client stream(port(), {{"Authorization", "Bearer " + owner.key}});

  // Create with every column.
  auto body = full_body(t, 0);
  body["authHouseholdID"] = hh;
  auto created = http().request_as(owner.key, "POST", t.path, json::serialize(body));
  check_envelope(created, 201, t.data_type);
  auto row = first_value(created);
  const auto id = str(row, "id");
  EXPECT_EQ(str(row, "authHouseholdID"), hh);
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    const auto& c = t.columns[i];
    if (c.read_only) {
      EXPECT_TRUE(row.contains(c.json)) << c.json;  // shown, set by the server
      continue;
    }
    EXPECT_EQ(row.at(c.json), returned(c, body.at(c.json))) << c.json;
  }

  // Read it back, alone and in the list.
  auto got = http().request_as(owner.key, "GET", t.path + "/" + id);
  check_envelope(got, 200, t.data_type);
  EXPECT_EQ(json::serialize(first_value(got)), json::serialize(row));
  auto listed = http().request_as(owner.key, "GET", t.path + "?authHouseholdID=" + hh);
  check_envelope(listed, 200, t.data_type);
  ASSERT_EQ(listed.json().as_object().at("dataValue").as_array().size(), 1u);
  EXPECT_FALSE(listed.header("etag").empty());

  // Update every column.
  auto update = full_body(t, 1);
  auto put = http().request_as(owner.key, "PUT", t.path + "/" + id, json::serialize(update));
  check_envelope(put, 200, t.data_type);
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    const auto& c = t.columns[i];
    if (c.read_only) continue;
    EXPECT_EQ(first_value(put).at(c.json), returned(c, update.at(c.json))) << c.json;
  }

  // Strict validation, each failure naming its field.
  auto rejects = [&](const std::string& method, const std::string& target, const json::object& b,
                     const std::string& field) {
    auto res = http().request_as(owner.key, method, target, json::serialize(b));
    check_envelope(res, 400);
    EXPECT_NE(message_of(res).find(field), std::string::npos)
        << method << " " << target << " " << json::serialize(b) << " → " << res.body;
  };
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    const auto& c = t.columns[i];
    auto b = full_body(t, 0);
    b["authHouseholdID"] = hh;
    if (c.read_only) {
      // Not the client's to set on create; a PUT may carry it back (ignored).
      b[c.json] = nullptr;
      rejects("POST", t.path, b, c.json);
      continue;
    }
    if (c.required) {
      b.erase(c.json);
      rejects("POST", t.path, b, c.json);
      b[c.json] = valid_value(c, i, 0);
    }
    b[c.json] = c.type == column_type::boolean ? json::value("yes") : json::value(5);
    rejects("POST", t.path, b, c.json);
    rejects("PUT", t.path + "/" + id, json::object{{c.json, b[c.json]}}, c.json);
    if (!c.nullable) rejects("PUT", t.path + "/" + id, json::object{{c.json, nullptr}}, c.json);
    if (c.type == column_type::text && c.max_length) {
      b[c.json] = std::string(c.max_length + 1, 'a');
      rejects("POST", t.path, b, c.json);
      // Exactly at the limit is fine.
      auto ok = http().request_as(
          owner.key, "PUT", t.path + "/" + id,
          json::serialize(json::object{{c.json, std::string(c.max_length, 'a')}}));
      check_envelope(ok, 200, t.data_type);
    }
    if (c.type == column_type::date || c.type == column_type::timestamp)
      rejects("PUT", t.path + "/" + id, json::object{{c.json, "tomorrow"}}, c.json);
  }
  auto unknown = full_body(t, 0);
  unknown["authHouseholdID"] = hh;
  unknown["sneaky"] = 1;
  rejects("POST", t.path, unknown, "sneaky");

  // Permissions: a viewer reads but cannot write; a stranger sees nothing.
  check_envelope(http().request_as(viewer.key, "GET", t.path + "/" + id), 200, t.data_type);
  body["authHouseholdID"] = hh;
  check_envelope(http().request_as(viewer.key, "POST", t.path, json::serialize(body)), 403);
  check_envelope(http().request_as(viewer.key, "DELETE", t.path + "/" + id), 403);
  check_envelope(http().request_as(stranger.key, "GET", t.path + "/" + id), 404);
  check_envelope(
      http().request_as(stranger.key, "PUT", t.path + "/" + id, json::serialize(full_body(t, 0))),
      404);
  check_envelope(http().request_as(stranger.key, "DELETE", t.path + "/" + id), 404);
  EXPECT_TRUE(http()
                  .request_as(stranger.key, "GET", t.path + "?authHouseholdID=" + hh)
                  .json()
                  .as_object()
                  .at("dataValue")
                  .as_array()
                  .empty());

  // Delete.
  check_envelope(http().request_as(owner.key, "DELETE", t.path + "/" + id), 200);
  check_envelope(http().request_as(owner.key, "GET", t.path + "/" + id), 404);

  // The stream saw create, the updates, delete of this table's row, in order.
  std::vector<std::string> operations;
  while (auto e = stream.next(operations.empty() ? 5s : 500ms)) {
    if (e->event != "change") continue;
    auto data = json::parse(e->data).as_object();
    EXPECT_EQ(str(data, "table"), t.sql_name);
    EXPECT_EQ(str(data, "id"), id);
    operations.push_back(str(data, "operation"));
    if (operations.back() == "delete") break;
  }
  ASSERT_GE(operations.size(), 3u);
  EXPECT_EQ(operations.front(), "create");
  EXPECT_EQ(operations.back(), "delete");
  for (std::size_t i = 1; i + 1 < operations.size(); ++i) EXPECT_EQ(operations[i], "update");
}

// PUT takes the representation GET returned (as Homechart's UI sends it
// back): id, created and updated are ignored, an authHouseholdID equal to the
// row's is accepted, another one moves the row when the caller may edit both
// households, with a delete event in the old household and a create event in
// the new one.
TEST_P(household_tables, put_takes_the_representation_get_returned_and_moves_rows) {
  const auto& t = table();
  auto owner = new_user("put-owner");
  auto editor = new_user("put-editor");
  auto other = new_user("put-other");
  const auto home = create_household(owner.key, "Home");
  const auto cabin = create_household(owner.key, "Cabin");
  add_member(owner.key, home, editor.email, "edit");
  const auto others = create_household(other.key, "Elsewhere");
  add_member(other.key, others, editor.email, "view");
  const auto lonely = create_household(other.key, "Not yours");
  sse_client stream(port(), {{"Authorization", "Bearer " + owner.key}});

  auto body = full_body(t, 0);
  body["authHouseholdID"] = home;
  auto created = http().request_as(owner.key, "POST", t.path, json::serialize(body));
  check_envelope(created, 201, t.data_type);
  const auto id = str(first_value(created), "id");

  // GET, change the first column, PUT the object back.
  auto got = first_value(http().request_as(owner.key, "GET", t.path + "/" + id));
  const auto& first = t.columns.at(0);
  got[first.json] = valid_value(first, 0, 3);
  auto put = http().request_as(owner.key, "PUT", t.path + "/" + id, json::serialize(got));
  check_envelope(put, 200, t.data_type);
  auto after = first_value(put);
  EXPECT_EQ(after.at(first.json), returned(first, got.at(first.json)));
  EXPECT_EQ(str(after, "id"), id);
  EXPECT_EQ(str(after, "authHouseholdID"), home);
  EXPECT_EQ(str(after, "created"), str(got, "created"));
  EXPECT_GT(str(after, "updated"), str(got, "updated"));
  // The answer itself goes back as well (ids in upper case are the same id).
  after["id"] = [](std::string u) {
    for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return u;
  }(id);
  after["updated"] = "whatever the client kept";
  check_envelope(http().request_as(owner.key, "PUT", t.path + "/" + id, json::serialize(after)),
                 200, t.data_type);

  // An id that is not the URL's is refused, naming `id`; so is a bad household.
  auto wrong = got;
  wrong["id"] = "00000000-0000-4000-8000-000000000000";
  auto res = http().request_as(owner.key, "PUT", t.path + "/" + id, json::serialize(wrong));
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res).rfind("id:", 0), 0u) << res.body;
  wrong = got;
  wrong["authHouseholdID"] = "home";
  res = http().request_as(owner.key, "PUT", t.path + "/" + id, json::serialize(wrong));
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res).rfind("authHouseholdID:", 0), 0u) << res.body;
  // Read-only members alone change nothing: still "no field to update".
  res =
      http().request_as(owner.key, "PUT", t.path + "/" + id,
                        json::serialize(json::object{{"id", id}, {"created", got.at("created")}}));
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res), "request body: no field to update");

  // Moves the editor may not make: into a household where they only view
  // (403), into one they are not in (404); the row stays where it was.
  auto move = first_value(http().request_as(editor.key, "GET", t.path + "/" + id));
  move["authHouseholdID"] = others;
  check_envelope(http().request_as(editor.key, "PUT", t.path + "/" + id, json::serialize(move)),
                 403);
  move["authHouseholdID"] = lonely;
  res = http().request_as(editor.key, "PUT", t.path + "/" + id, json::serialize(move));
  check_envelope(res, 404);
  EXPECT_EQ(message_of(res), "authHouseholdID: household not found");
  move["authHouseholdID"] = cabin;  // the owner's other household: editor is not in it
  check_envelope(http().request_as(editor.key, "PUT", t.path + "/" + id, json::serialize(move)),
                 404);
  EXPECT_EQ(
      str(first_value(http().request_as(owner.key, "GET", t.path + "/" + id)), "authHouseholdID"),
      home);

  // The owner, who may edit both, moves it.
  move = first_value(http().request_as(owner.key, "GET", t.path + "/" + id));
  move["authHouseholdID"] = cabin;
  res = http().request_as(owner.key, "PUT", t.path + "/" + id, json::serialize(move));
  check_envelope(res, 200, t.data_type);
  EXPECT_EQ(str(first_value(res), "authHouseholdID"), cabin);
  EXPECT_EQ(str(first_value(res), "id"), id);
  auto rows_of = [&](const std::string& key, const std::string& hh) {
    return http()
        .request_as(key, "GET", t.path + "?authHouseholdID=" + hh)
        .json()
        .as_object()
        .at("dataValue")
        .as_array()
        .size();
  };
  EXPECT_EQ(rows_of(owner.key, home), 0u);
  EXPECT_EQ(rows_of(owner.key, cabin), 1u);
  // The editor, a member of home only, no longer sees it.
  check_envelope(http().request_as(editor.key, "GET", t.path + "/" + id), 404);

  // The stream: in home create, update, update, delete (seq 1..4); in cabin
  // create (seq 1). Households are not ordered relative to each other.
  std::map<std::string, std::vector<std::pair<std::string, std::int64_t>>> seen;
  auto done = [&] { return seen[home].size() >= 4 && !seen[cabin].empty(); };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    auto e = next_change(stream, 2s);
    if (!e) break;
    auto data = change_data(*e);
    EXPECT_EQ(str(data, "id"), id);
    seen[str(data, "authHouseholdID")].emplace_back(str(data, "operation"),
                                                    data.at("seq").to_number<std::int64_t>());
  }
  using op = std::pair<std::string, std::int64_t>;
  EXPECT_EQ(seen[home],
            (std::vector<op>{{"create", 1}, {"update", 2}, {"update", 3}, {"delete", 4}}));
  EXPECT_EQ(seen[cabin], (std::vector<op>{{"create", 1}}));
}

TEST_P(household_tables, are_documented_in_openapi_from_their_declaration) {
  const auto& t = table();
  auto doc = http().request("GET", "/api/docs");
  ASSERT_EQ(doc.status, 200u);
  auto paths = doc.json().as_object().at("paths").as_object();
  ASSERT_TRUE(paths.contains(t.path)) << t.path;
  ASSERT_TRUE(paths.contains(t.path + "/{id}")) << t.path;
  const auto text = json::serialize(paths.at(t.path));
  for (const auto& c : t.columns) EXPECT_NE(text.find("\"" + c.json + "\""), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(all, household_tables,
                         ::testing::Range<std::size_t>(0, domain::household_tables().size()),
                         [](const auto& info) {
                           return domain::household_tables().at(info.param)->data_type;
                         });

class calendar_events : public hearth_test {};

TEST_F(calendar_events, must_not_end_before_they_start) {
  auto user = new_user("calendar");
  const auto hh = create_household(user.key, "Home");
  auto res = http().request_as(user.key, "POST", "/api/v1/calendar/events",
                               json::serialize(json::object{{"authHouseholdID", hh},
                                                            {"name", "Dentist"},
                                                            {"startsAt", "2026-03-01T10:00:00Z"},
                                                            {"endsAt", "2026-03-01T09:00:00Z"}}));
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res), "endsAt: must not be before startsAt");
  res = http().request_as(user.key, "POST", "/api/v1/calendar/events",
                          json::serialize(json::object{{"authHouseholdID", hh},
                                                       {"name", "Holiday"},
                                                       {"startsAt", "2026-03-01T00:00:00Z"},
                                                       {"endsAt", "2026-03-08T00:00:00Z"},
                                                       {"allDay", true}}));
  check_envelope(res, 201, "CalendarEvent");
  const auto id = str(first_value(res), "id");
  EXPECT_EQ(first_value(res).at("allDay").as_bool(), true);
  EXPECT_EQ(str(first_value(res), "details"), "");
  // Moving only the start past the end is caught by the same rule.
  res = http().request_as(user.key, "PUT", "/api/v1/calendar/events/" + id,
                          R"({"startsAt":"2026-03-09T00:00:00Z"})");
  check_envelope(res, 400);
  EXPECT_EQ(message_of(res), "endsAt: must not be before startsAt");
}

}  // namespace
}  // namespace hearth::testing
