// Writes publish themselves (storage/events.hpp): the group commit and every
// module's change_transaction hand their change events to the notifier at
// commit, and no route publishes by hand. With the notifier's periodic
// outbox re-read switched off (outboxRecheck false), a write whose events
// were not published would never reach an open stream: each step below
// waits for its own events before the next write (a later event of the
// household would otherwise backfill a missing one through the gap check).

#include <map>
#include <string>

#include "tests/integration/fixture.hpp"
#include "tests/support/fake_http_server.hpp"

namespace hearth::testing {
namespace {

class writes_publish_themselves : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    // The calendar feed is on loopback, which users' fetches may reach only
    // when the operator allows it.
    return {{"HEARTH_OUTBOX_RECHECK", "false"},
            {"HEARTH_CALENDAR_REFRESH_SCHEDULE", "every 1s"},
            {"HEARTH_OUTBOUND_ALLOW", "127.0.0.1/32"}};
  }

  // The next change event: of `table`, `operation` and household `hh`.
  ::testing::AssertionResult next_is(sse_client& sse, const std::string& table,
                                     const std::string& operation, const std::string& hh) {
    auto ev = next_change(sse, 10s);
    if (!ev)
      return ::testing::AssertionFailure()
             << "no " << table << " " << operation << " event within 10 s (never published?)";
    auto data = change_data(*ev);
    if (str(data, "table") != table || str(data, "operation") != operation ||
        str(data, "authHouseholdID") != hh)
      return ::testing::AssertionFailure()
             << "expected " << table << " " << operation << " of " << hh << ", got " << ev->data;
    return ::testing::AssertionSuccess();
  }
};

TEST_F(writes_publish_themselves, table_and_module_writes_reach_a_stream_with_no_outbox_recheck) {
  auto owner = new_user("publisher");
  const auto home = create_household(owner.key, "Home");
  const auto cabin = create_household(owner.key, "Cabin");
  auto stream = open_sse(owner.key);

  // The group commit: a creation, an update, a move (a delete in the old
  // household, then a create in the new), a delete.
  auto made =
      http().request_as(owner.key, "POST", "/api/v1/shop/items",
                        json::serialize(json::object{{"authHouseholdID", home}, {"name", "milk"}}));
  require_status(made, 201, "create");
  const auto id = str(first_value(made), "id");
  ASSERT_TRUE(next_is(*stream, "shop_item", "create", home));
  require_status(http().request_as(owner.key, "PUT", "/api/v1/shop/items/" + id,
                                   json::serialize(json::object{{"name", "oat milk"}})),
                 200, "update");
  ASSERT_TRUE(next_is(*stream, "shop_item", "update", home));
  require_status(http().request_as(owner.key, "PUT", "/api/v1/shop/items/" + id,
                                   json::serialize(json::object{{"authHouseholdID", cabin}})),
                 200, "move");
  ASSERT_TRUE(next_is(*stream, "shop_item", "delete", home));
  ASSERT_TRUE(next_is(*stream, "shop_item", "create", cabin));
  require_status(http().request_as(owner.key, "DELETE", "/api/v1/shop/items/" + id), 200, "delete");
  ASSERT_TRUE(next_is(*stream, "shop_item", "delete", cabin));

  // A module's transactions: the calendar import (a cron job's) creates the
  // feed's event; unsubscribing (a route's) deletes it.
  fake_http_server site;
  site.set_body(
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
      "UID:fair@school\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\n"
      "SUMMARY:Fair\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
      "text/calendar");
  auto sub = http().request_as(
      owner.key, "POST", "/api/v1/calendar/subscriptions",
      json::serialize(json::object{{"authHouseholdID", home}, {"url", site.url("/school.ics")}}));
  require_status(sub, 201, "subscribe");
  ASSERT_TRUE(next_is(*stream, "calendar_event", "create", home));
  require_status(http().request_as(owner.key, "DELETE",
                                   "/api/v1/calendar/subscriptions/" + str(first_value(sub), "id")),
                 200, "unsubscribe");
  ASSERT_TRUE(next_is(*stream, "calendar_event", "delete", home));
}

}  // namespace
}  // namespace hearth::testing
