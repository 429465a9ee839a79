#include "domain/tables.hpp"

namespace hearth::domain {

const table_spec& shop_item_table() {
  static const table_spec t{"shop_item",
                            "ShopItem",
                            "/api/v1/shop/items",
                            {{"name", "name", column_type::text, true, false, 1000, 1},
                             {"done", "done", column_type::boolean, false, false, 0, 0}}};
  return t;
}

const table_spec& plan_task_table() {
  static const table_spec t{"plan_task",
                            "PlanTask",
                            "/api/v1/plan/tasks",
                            {{"name", "name", column_type::text, true, false, 1000, 1},
                             {"done", "done", column_type::boolean, false, false, 0, 0},
                             {"dueDate", "due_date", column_type::date, false, true, 0, 0}}};
  return t;
}

namespace {

const table_spec& shop_list_table() {
  static const table_spec t{"shop_list",
                            "ShopList",
                            "/api/v1/shop/lists",
                            {{"name", "name", column_type::text, true, false, 200, 1}}};
  return t;
}

const table_spec& shop_category_table() {
  static const table_spec t{"shop_category",
                            "ShopCategory",
                            "/api/v1/shop/categories",
                            {{"name", "name", column_type::text, true, false, 200, 1}}};
  return t;
}

const table_spec& plan_project_table() {
  static const table_spec t{"plan_project",
                            "PlanProject",
                            "/api/v1/plan/projects",
                            {{"name", "name", column_type::text, true, false, 200, 1},
                             {"done", "done", column_type::boolean, false, false, 0, 0}}};
  return t;
}

const table_spec& calendar_event_table() {
  static const table_spec t{
      "calendar_event",
      "CalendarEvent",
      "/api/v1/calendar/events",
      {{"name", "name", column_type::text, true, false, 200, 1},
       {"startsAt", "starts_at", column_type::timestamp, true, false, 0, 0},
       {"endsAt", "ends_at", column_type::timestamp, true, false, 0, 0},
       {"allDay", "all_day", column_type::boolean, false, false, 0, 0},
       {"details", "details", column_type::text, false, false, 10'000, 0},
       // Set on the events imported from an iCalendar subscription
       // (apps/calendar): those rows are read-only.
       {"calendarSubscriptionID", "calendar_subscription_id", column_type::text, false, true, 0, 0,
        true}},
      {{"calendar_event_ends_after_start", "endsAt: must not be before startsAt"}},
      "calendar_subscription_id",
      "CalendarEvent: imported from a calendar subscription, read-only (change it at its "
      "source)"};
  return t;
}

const table_spec& notes_page_table() {
  static const table_spec t{"notes_page",
                            "NotesPage",
                            "/api/v1/notes/pages",
                            {{"name", "name", column_type::text, true, false, 200, 1},
                             // Markdown, at most 64 KiB.
                             {"body", "body", column_type::text, false, false, 65'536, 0}}};
  return t;
}

}  // namespace

const std::vector<const table_spec*>& household_tables() {
  static const std::vector<const table_spec*> all = {
      &shop_item_table(),    &shop_list_table(),      &shop_category_table(), &plan_task_table(),
      &plan_project_table(), &calendar_event_table(), &notes_page_table()};
  return all;
}

}  // namespace hearth::domain
