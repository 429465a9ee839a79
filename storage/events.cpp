#include "storage/events.hpp"

namespace hearth::storage {
namespace {

// One statement (one round trip while the household row is locked): take the
// next sequence number and append the outbox row.
constexpr const char* kAppendEvent =
    "WITH s AS (UPDATE auth_household SET event_seq = event_seq + 1 WHERE id = $1 "
    "RETURNING event_seq) "
    "INSERT INTO change_event (auth_household_id, seq, table_name, row_id, operation, updated) "
    "SELECT $1, s.event_seq, $2, $3, $4, $5::timestamptz FROM s RETURNING seq";
constexpr const char* kSelectEvents =
    "SELECT seq, table_name, row_id, operation, hearth_ts(updated) FROM change_event "
    "WHERE auth_household_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4";
constexpr const char* kSelectHead = "SELECT event_seq FROM auth_household WHERE id = $1";
constexpr const char* kSelectHeads =
    "SELECT id::text, event_seq FROM auth_household WHERE id = ANY($1::uuid[])";

}  // namespace

change_event record_change(pqxx::transaction_base& tx, const std::string& household_id,
                           const std::string& table, const std::string& row_id,
                           const std::string& operation, const std::string& updated) {
  change_event e{household_id, 0, table, row_id, operation, updated};
  e.seq = tx.exec_params1(kAppendEvent, household_id, table, row_id, operation, updated)[0]
              .as<std::int64_t>();
  return e;
}

const change_event& change_transaction::record(const std::string& household_id,
                                               const std::string& table, const std::string& row_id,
                                               const std::string& operation,
                                               const std::string& updated) {
  events_.push_back(record_change(tx_, household_id, table, row_id, operation, updated));
  return events_.back();
}

void change_transaction::commit() {
  tx_.commit();
  if (publish_)
    for (const auto& e : events_) publish_(e);
}

std::vector<change_event> load_events(pqxx::connection_base& conn, const std::string& household_id,
                                      std::int64_t after_seq, std::int64_t up_to_seq,
                                      std::int64_t limit) {
  pqxx::read_transaction tx{conn};
  std::vector<change_event> out;
  for (const auto& row : tx.exec_params(kSelectEvents, household_id, after_seq, up_to_seq, limit))
    out.push_back({household_id, row[0].as<std::int64_t>(), row[1].as<std::string>(),
                   row[2].as<std::string>(), row[3].as<std::string>(), row[4].as<std::string>()});
  return out;
}

std::int64_t head_seq(pqxx::connection_base& conn, const std::string& household_id) {
  pqxx::read_transaction tx{conn};
  auto r = tx.exec_params(kSelectHead, household_id);
  return r.empty() ? 0 : r[0][0].as<std::int64_t>();
}

std::vector<std::pair<std::string, std::int64_t>> head_seqs(pqxx::connection_base& conn,
                                                            const std::vector<std::string>& ids) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  if (ids.empty()) return out;
  std::string array = "{";
  for (const auto& id : ids) {
    if (array.size() > 1) array += ',';
    array += id;  // UUIDs: no quoting needed inside an array literal
  }
  array += '}';
  pqxx::read_transaction tx{conn};
  for (const auto& row : tx.exec_params(kSelectHeads, array))
    out.emplace_back(row[0].as<std::string>(), row[1].as<std::int64_t>());
  return out;
}

trace::span change_span(std::string_view name, trace::kind k, const change_event& e) {
  if (!e.trace.valid()) return {};
  trace::span span(name, k, e.trace);
  span.set("hearth.household_id", e.household_id);
  span.set("hearth.seq", e.seq);
  return span;
}

}  // namespace hearth::storage
