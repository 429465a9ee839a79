#include "storage/change_feed.hpp"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <map>
#include <string_view>

#include "domain/tables.hpp"
#include "storage/households.hpp"
#include "storage/table_rows.hpp"

namespace hearth::storage {
namespace {

constexpr const char* kEvents =
    "SELECT seq, table_name, row_id::text, operation FROM change_event "
    "WHERE auth_household_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4";

const table_spec* household_table(const std::string& sql_name) {
  for (const auto* t : domain::household_tables())
    if (t->sql_name == sql_name) return t;
  return nullptr;
}

}  // namespace

change_feed read_changes(pqxx::connection_base& conn, const std::string& account_id,
                         const std::map<std::string, std::int64_t>& since, std::int64_t limit) {
  // One snapshot: the rows are as of the events read.
  pqxx::transaction<pqxx::repeatable_read, pqxx::readwrite_policy::read_only> tx{conn};
  change_feed out;
  std::int64_t budget = limit;
  // (table, row) → index in out.changes of its last change.
  std::map<std::pair<std::string, std::string>, std::size_t> last;
  for (const auto& [household, head] : household_heads(tx, account_id)) {
    auto& cursor = out.cursor[household];
    auto it = since.find(household);
    if (it == since.end() || it->second > head) {
      out.resync.push_back(household);
      cursor = head;
      continue;
    }
    cursor = it->second;
    if (cursor == head) continue;
    if (budget <= 0) {
      out.more = true;
      continue;
    }
    auto events = tx.exec_params(kEvents, household, cursor, head, budget);
    // The outbox numbers a household's events without holes: a first
    // event that is not the next one means the cursor's were purged.
    if (events.empty() || events[0][0].as<std::int64_t>() != cursor + 1) {
      out.resync.push_back(household);
      cursor = head;
      continue;
    }
    for (const auto& e : events) {
      feed_change c{household,
                    e[1].as<std::string>(),
                    e[2].as<std::string>(),
                    e[3].as<std::string>(),
                    e[0].as<std::int64_t>(),
                    std::nullopt};
      const auto key = std::make_pair(c.table, c.row_id);
      if (auto seen = last.find(key); seen != last.end()) {
        auto& prior = out.changes[seen->second];
        // A row created since the cursor is new to the client, whatever
        // followed (unless it is gone again).
        if (prior.operation == "create" && c.operation == "update") c.operation = "create";
        prior.operation.clear();  // folded into this one
      }
      last[key] = out.changes.size();
      out.changes.push_back(std::move(c));
    }
    budget -= static_cast<std::int64_t>(events.size());
    cursor = events[events.size() - 1][0].as<std::int64_t>();
    if (cursor < head) out.more = true;
  }
  std::erase_if(out.changes, [](const feed_change& c) { return c.operation.empty(); });

  // The rows as they are now, one statement per table.
  std::map<const table_spec*, std::vector<feed_change*>> wanted;
  for (auto& c : out.changes)
    if (c.operation != "delete")
      if (const auto* t = household_table(c.table)) wanted[t].push_back(&c);
  for (const auto& [t, changes] : wanted) {
    std::vector<std::string_view> ids;
    for (const auto* c : changes) ids.emplace_back(c->row_id);
    std::map<std::string, std::string> rows;
    for (const auto& r :
         tx.exec_params(fmt::format("SELECT {} FROM {} t WHERE t.id IN (SELECT e::uuid FROM "
                                    "json_array_elements_text($1::json) AS e)",
                                    detail::select_list(*t, "t"), t->sql_name),
                        json_ids(ids))) {
      auto record = detail::to_record(*t, r);
      rows[r[0].as<std::string>()] = boost::json::serialize(record);
    }
    for (auto* c : changes)
      if (auto row = rows.find(c->row_id); row != rows.end()) c->row_json = row->second;
  }
  tx.commit();
  return out;
}

}  // namespace hearth::storage
