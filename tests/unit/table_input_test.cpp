// The bodies of a declarative table's writes (api/table_input.hpp), checked
// against the tables of domain/tables.cpp without a server: what a POST and
// a PUT accept, how they normalise it, and the 400 each refusal names.

#include "api/table_input.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "domain/tables.hpp"
#include "http/json_input.hpp"

namespace hearth::api {
namespace {

constexpr const char* kHousehold = "0B5E6F3A-1C2D-4E5F-8A9B-0C1D2E3F4A5B";
constexpr const char* kHouseholdLower = "0b5e6f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
constexpr const char* kRow = "7d9f2a1e-3b4c-4d5e-9f60-718293a4b5c6";

const domain::table_spec& table(const std::string& sql_name) {
  for (const auto* t : domain::household_tables())
    if (t->sql_name == sql_name) return *t;
  throw std::runtime_error("no table " + sql_name);
}

// The message of the input_error `f` throws ("" when it throws none).
std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const http::input_error& e) {
    return e.what();
  }
  return "";
}

std::string create_refusal(const std::string& body, const std::string& t = "shop_item") {
  return refusal([&] { read_create_body(body, table(t)); });
}

std::string update_refusal(const std::string& body, const std::string& t = "shop_item") {
  return refusal([&] { read_update_body(body, table(t), kRow); });
}

std::string with_household(const std::string& members) {
  return std::string(R"({"authHouseholdID":")") + kHousehold + "\"" +
         (members.empty() ? "" : "," + members) + "}";
}

TEST(table_input, a_creation_is_read_and_its_household_lower_cased) {
  auto in = read_create_body(with_household(R"("name":"milk","done":true)"), table("shop_item"));
  EXPECT_EQ(in.household, kHouseholdLower);
  EXPECT_EQ(in.values.at("name"), "milk");
  EXPECT_EQ(in.values.at("done"), "true");
  // Optional columns left out are not written.
  auto bare = read_create_body(with_household(R"("name":"bread")"), table("shop_item"));
  EXPECT_EQ(bare.values.count("done"), 0u);
  EXPECT_FALSE(bare.id) << "the server picks the id";
  // A row made offline brings its own id (lower-cased); null leaves it to the server.
  auto offline = read_create_body(
      with_household(R"("id":"7D9F2A1E-3B4C-4D5E-9F60-718293A4B5C6","name":"eggs")"),
      table("shop_item"));
  EXPECT_EQ(offline.id, kRow);
  EXPECT_FALSE(
      read_create_body(with_household(R"("id":null,"name":"eggs")"), table("shop_item")).id);
  EXPECT_EQ(create_refusal(with_household(R"("id":"row-1","name":"eggs")")), "id: must be a UUID");
}

TEST(table_input, a_creation_names_the_field_it_refuses) {
  EXPECT_EQ(create_refusal(R"({"name":"milk"})"), "authHouseholdID: required");
  EXPECT_EQ(create_refusal(R"({"authHouseholdID":"home","name":"milk"})"),
            "authHouseholdID: must be a UUID");
  EXPECT_EQ(create_refusal(with_household("")), "name: required");
  EXPECT_EQ(create_refusal(with_household(R"("name":null)")), "name: must not be null");
  EXPECT_EQ(create_refusal(with_household(R"("name":"")")).rfind("name:", 0), 0u);
  EXPECT_EQ(create_refusal(with_household("\"name\":\"" + std::string(1001, 'x') + "\""))
                .rfind("name:", 0),
            0u)
      << "1001 bytes is over the 1000-byte limit";
  EXPECT_EQ(create_refusal(with_household("\"name\":\"" + std::string(1000, 'x') + "\"")), "");
  EXPECT_EQ(create_refusal(with_household(R"("name":"milk","done":"yes")")).rfind("done:", 0), 0u);
  EXPECT_EQ(create_refusal(with_household(R"("name":"milk","colour":"red")")),
            "colour: unknown field");
  EXPECT_EQ(create_refusal(with_household(R"("name":"milk","name":"oat milk")")),
            "name: duplicate field");
  EXPECT_EQ(create_refusal("[1]"), "request body: must be a JSON object");
  EXPECT_NE(create_refusal("{\"name\":"), "") << "malformed JSON";
}

TEST(table_input, dates_and_times_are_checked_and_times_normalised) {
  auto task = read_create_body(with_household(R"("name":"pay rent","dueDate":"2026-02-28")"),
                               table("plan_task"));
  EXPECT_EQ(task.values.at("dueDate"), "2026-02-28");
  auto undated =
      read_create_body(with_household(R"("name":"someday","dueDate":null)"), table("plan_task"));
  EXPECT_EQ(undated.values.at("dueDate"), std::nullopt);
  EXPECT_EQ(create_refusal(with_household(R"("name":"x","dueDate":"2026-02-30")"), "plan_task"),
            "dueDate: must be a date YYYY-MM-DD or null");
  EXPECT_EQ(create_refusal(with_household(R"("name":"x","dueDate":"tomorrow")"), "plan_task"),
            "dueDate: must be a date YYYY-MM-DD or null");

  auto event = read_create_body(
      with_household(
          R"("name":"dentist","startsAt":"2026-03-04T09:30:00Z","endsAt":"2026-03-04T10:00:00.1234567+00:00")"),
      table("calendar_event"));
  EXPECT_EQ(event.values.at("startsAt"), "2026-03-04T09:30:00.000000Z");
  EXPECT_EQ(event.values.at("endsAt"), "2026-03-04T10:00:00.123456Z");
  EXPECT_EQ(create_refusal(with_household(R"("name":"x","startsAt":"2026-03-04T09:30:00+01:00")"),
                           "calendar_event")
                .rfind("startsAt: must be an RFC 3339 UTC time", 0),
            0u)
      << "a time that is not UTC";
}

TEST(table_input, read_only_columns_are_refused_on_creation_and_ignored_on_update) {
  EXPECT_EQ(
      create_refusal(
          with_household(
              R"("name":"x","startsAt":"2026-03-04T09:30:00Z","endsAt":"2026-03-04T10:00:00Z","calendarSubscriptionID":"s")"),
          "calendar_event"),
      "calendarSubscriptionID: read-only");
  auto u = read_update_body(R"({"name":"y","calendarSubscriptionID":"s"})", table("calendar_event"),
                            kRow);
  EXPECT_EQ(u.values.size(), 1u);
  EXPECT_EQ(u.values.at("name"), "y");
}

TEST(table_input, an_update_takes_back_the_representation_get_returned) {
  // What GET returned, with a change: id (the URL's, any case), created and
  // updated are the server's, the household a no-op or a move.
  std::string row = std::string(R"({"id":")") + "7D9F2A1E-3B4C-4D5E-9F60-718293A4B5C6" +
                    R"(","authHouseholdID":")" + kHousehold +
                    R"(","name":"oat milk","done":false,"created":"2026-01-01T00:00:00.000000Z",)"
                    R"("updated":"2026-01-01T00:00:00.000000Z"})";
  auto u = read_update_body(row, table("shop_item"), kRow);
  EXPECT_EQ(u.household, kHouseholdLower);
  EXPECT_EQ(u.values.at("name"), "oat milk");
  EXPECT_EQ(u.values.at("done"), "false");

  EXPECT_EQ(update_refusal(R"({"id":"8d9f2a1e-3b4c-4d5e-9f60-718293a4b5c6","name":"x"})"),
            "id: must be the id in the URL (or left out)");
  EXPECT_EQ(update_refusal(R"({"authHouseholdID":"elsewhere"})"),
            "authHouseholdID: must be a UUID");
  EXPECT_EQ(update_refusal("{}"), "request body: no field to update");
  EXPECT_EQ(update_refusal(std::string(R"({"id":")") + kRow + "\"}"),
            "request body: no field to update");
  EXPECT_EQ(update_refusal(R"({"name":null})"), "name: must not be null");
  EXPECT_EQ(update_refusal(R"({"name":"x","colour":"red"})"), "colour: unknown field");
  // Nothing is required on an update.
  auto done = read_update_body(R"({"done":true})", table("shop_item"), kRow);
  EXPECT_EQ(done.values.size(), 1u);
  EXPECT_FALSE(done.household);
}

}  // namespace
}  // namespace hearth::api
