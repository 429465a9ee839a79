#pragma once
// The household tables of this build (the domain): ShopItem, ShopList,
// ShopCategory, PlanTask, PlanProject, CalendarEvent, NotesPage. Each is one
// table_spec (columns with JSON names, types and limits, table-level
// checks, its route path and envelope dataType) plus its migration in
// migrations/; routes, validation, permissions, SQL, SSE change events,
// caching, OpenAPI schemas and the generic tests follow from it
// (docs/architecture.md, "How to add a table").

#include <vector>

#include "domain/table_spec.hpp"

namespace hearth::domain {

/// ShopItem {name (1..1000 bytes), done}.
const table_spec& shop_item_table();
/// PlanTask {name, done, dueDate (YYYY-MM-DD or null)}.
const table_spec& plan_task_table();
/// Every household table, in route order. Static lifetime.
const std::vector<const table_spec*>& household_tables();

}  // namespace hearth::domain
