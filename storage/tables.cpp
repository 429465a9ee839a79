#include "storage/tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <stdexcept>

#include "storage/crypto.hpp"
#include "storage/errors.hpp"
#include "storage/households.hpp"
#include "storage/pool.hpp"
#include "storage/table_rows.hpp"

namespace hearth::storage {

// The helpers shared with storage/table_creations.cpp (storage/table_rows.hpp).
namespace detail {

std::string select_list(const table_spec& t, const std::string& alias) {
  std::string s = fmt::format(
      "{0}.id, {0}.auth_household_id, hearth_ts({0}.created), "
      "hearth_ts({0}.updated)",
      alias);
  for (const auto& c : t.columns)
    s += c.type == column_type::timestamp ? fmt::format(", hearth_ts({}.{})", alias, c.sql)
                                          : fmt::format(", {}.{}", alias, c.sql);
  return s;
}

record to_record(const table_spec& t, const pqxx::row& r) {
  record o;
  o["id"] = r[0].c_str();
  o["authHouseholdID"] = r[1].c_str();
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    const auto& c = t.columns[i];
    const auto& f = r[static_cast<int>(i + 4)];
    if (f.is_null())
      o[c.json] = nullptr;
    else if (c.type == column_type::boolean)
      o[c.json] = f.as<bool>();
    else
      o[c.json] = f.c_str();
  }
  o["created"] = r[2].c_str();
  o["updated"] = r[3].c_str();
  return o;
}

write_result written(const table_spec& t, const pqxx::row& r, const char* operation, bool timed) {
  const auto seq = static_cast<int>(4 + t.columns.size());
  write_result w{to_record(t, r), {}};
  w.event = change_event{r[1].c_str(), r[seq].as<std::int64_t>(),
                         t.sql_name,   r[0].c_str(),
                         operation,    timed ? r[seq + 1].c_str() : r[3].c_str()};
  return w;
}

std::vector<write_result> written_rows(const table_spec& t, const pqxx::result& result,
                                       std::size_t expected, const char* operation,
                                       const char* verb, bool timed) {
  if (result.size() != expected)
    throw std::runtime_error(
        fmt::format("{}: {} rows {} of {}", t.data_type, result.size(), verb, expected));
  std::vector<write_result> out;
  out.reserve(expected);
  for (const auto& r : result) out.push_back(written(t, r, operation, timed));
  return out;
}

void put_columns(const table_spec& t, const values& v, boost::json::object& o) {
  for (const auto& c : t.columns) {
    auto it = v.find(c.json);
    if (it == v.end()) continue;
    if (it->second)
      o[c.sql] = *it->second;
    else
      o[c.sql] = nullptr;
  }
}

void check_write_permission(pqxx::transaction_base& tx, const std::string& account_id,
                            const std::string& household_id, const std::string& not_found) {
  authorize(permission_of(tx, account_id, household_id), domain::household_action::write, kViewOnly,
            not_found);
}

std::vector<std::optional<std::string>> params_of(const table_spec& t, const values& v,
                                                  std::string& assignments, std::string& names,
                                                  std::string& placeholders, int first_param) {
  std::vector<std::optional<std::string>> params;
  for (const auto& c : t.columns) {
    auto it = v.find(c.json);
    if (it == v.end()) continue;
    params.push_back(it->second);
    int n = first_param + static_cast<int>(params.size()) - 1;
    assignments += fmt::format("{}{} = ${}", assignments.empty() ? "" : ", ", c.sql, n);
    names += fmt::format(", {}", c.sql);
    placeholders += fmt::format(", ${}", n);
  }
  return params;
}

void record_response(pqxx::transaction_base& tx, const table_spec& t, const idempotency* idem,
                     const record* row) {
  if (!idem) return;
  record_idempotent_response(
      tx, *idem,
      {idem->success_status, t.data_type, row ? "[" + boost::json::serialize(*row) + "]" : "[]"});
}

write_result replayed(stored_response r) {
  write_result out;
  out.replay = std::move(r);
  return out;
}

[[noreturn]] void rethrow_check(const table_spec& t, const pqxx::check_violation& e) {
  std::string what = e.what();
  for (const auto& c : t.checks)
    if (what.find(c.constraint) != std::string::npos) throw domain_error(errc::invalid, c.message);
  throw domain_error(errc::invalid, fmt::format("{}: invalid values", t.data_type));
}

}  // namespace detail

using namespace detail;

namespace {

// Locks the row and returns its household, enforcing membership and write
// permission of the caller.
std::string lock_for_write(pqxx::transaction_base& tx, const table_spec& t,
                           const std::string& account_id, const std::string& id) {
  auto r = tx.exec_params(
      fmt::format("SELECT auth_household_id, {} FROM {} WHERE id = $1 FOR UPDATE",
                  t.locked_by.empty() ? "false" : t.locked_by + " IS NOT NULL", t.sql_name),
      id);
  if (r.empty()) throw domain_error(errc::not_found, fmt::format("{} not found", t.data_type));
  auto household_id = r[0][0].as<std::string>();
  check_write_permission(tx, account_id, household_id, fmt::format("{} not found", t.data_type));
  if (r[0][1].as<bool>()) throw domain_error(errc::conflict, t.locked_message);
  return household_id;
}

// The household of row `id` now; "" when the row is gone.
std::string current_household(pqxx::transaction_base& tx, const table_spec& t,
                              const std::string& id) {
  auto found = households_of(tx, t, {id});
  return found.empty() ? std::string() : std::move(found.begin()->second);
}

// A change's replay answers like any other request to the row's household
// now: 404 or 403 when the caller may no longer change it, never the stored
// body. `locked`: the row's household ("" when the row is gone: a replayed
// delete, whose household is its last event's in the outbox within the
// keys' lifetime; none found, the answer is 404).
write_result replayed_change(pqxx::transaction_base& tx, const table_spec& t,
                             const std::string& account_id, const std::string& id,
                             const std::string& locked, stored_response r) {
  std::string household = locked;
  if (household.empty()) {
    auto found = tx.exec_params(
        "SELECT auth_household_id::text FROM change_event WHERE row_id = $1 AND table_name = $2 "
        "AND created > now() - make_interval(hours => $3) ORDER BY created DESC LIMIT 1",
        id, t.sql_name, static_cast<int>(kIdempotencyKeyLifetime.count()));
    if (found.empty())
      throw domain_error(errc::not_found, fmt::format("{} not found", t.data_type));
    household = found[0][0].as<std::string>();
  }
  check_write_permission(tx, account_id, household, fmt::format("{} not found", t.data_type));
  return replayed(std::move(r));
}

// Records the change_event of a written row (and, with `idem`, the stored
// response), without committing. The event time is the row's `updated`, or
// `event_time` when given (a delete happens now, not at the row's last
// update; its response holds no row).
write_result finish(pqxx::transaction_base& tx, const table_spec& t, const pqxx::row& row,
                    const std::string& operation, const idempotency* idem,
                    const char* event_time = nullptr) {
  write_result out{to_record(t, row), {}};
  out.event = record_change(tx, out.row["authHouseholdID"].as_string().c_str(), t.sql_name,
                            out.row["id"].as_string().c_str(), operation,
                            event_time ? event_time : out.row["updated"].as_string().c_str());
  record_response(tx, t, idem, operation == "delete" ? nullptr : &out.row);
  return out;
}

// The household of row `id` (no lock; households_of); domain_error(not_found)
// when missing.
std::string household_of(pqxx::transaction_base& tx, const table_spec& t, const std::string& id) {
  auto found = households_of(tx, t, {id});
  if (found.empty()) throw domain_error(errc::not_found, fmt::format("{} not found", t.data_type));
  return std::move(found.begin()->second);
}

// Locks row `id` (lock_for_write), its household's lock being held already
// (`locked`): a row moved to another household since throws busy, since its
// new household's lock taken now could come out of order.
std::string lock_row_in_locked_household(pqxx::transaction_base& tx, const table_spec& t,
                                         const std::string& account_id, const std::string& id,
                                         const std::string& locked) {
  auto household_id = lock_for_write(tx, t, account_id, id);
  if (household_id != locked)
    throw domain_error(errc::busy,
                       fmt::format("{} moved to another household meanwhile", t.data_type));
  return household_id;
}

}  // namespace

household_list load_household_list(pqxx::connection_base& conn, const table_spec& t,
                                   const std::string& household_id) {
  pqxx::read_transaction tx{conn};
  auto sql =
      fmt::format("SELECT {} FROM {} t WHERE t.auth_household_id = $1 ORDER BY t.created, t.id",
                  select_list(t, "t"), t.sql_name);
  household_list out;
  out.household_id = household_id;
  std::string versions;
  out.rows_json = "[";
  for (const auto& r : tx.exec_params(sql, household_id)) {
    auto rec = to_record(t, r);
    listed_row row;
    row.id = rec["id"].as_string().c_str();
    row.updated = rec["updated"].as_string().c_str();
    row.sort_key = std::string(rec["created"].as_string().c_str()) + row.id;
    row.json = boost::json::serialize(rec);
    versions += row.id;
    versions += row.updated;
    if (out.rows_json.size() > 1) out.rows_json += ',';
    out.rows_json += row.json;
    out.bytes += sizeof(listed_row) + row.sort_key.size() + row.id.size() + row.updated.size() +
                 2 * row.json.size();
    out.rows.push_back(std::move(row));
  }
  out.rows_json += ']';
  out.etag = content_tag(versions);
  out.bytes +=
      sizeof(household_list) + out.rows_json.size() + household_id.size() + out.etag.size();
  return out;
}

list_view make_list_view(const std::vector<std::shared_ptr<const household_list>>& parts,
                         const std::optional<std::string>& updated_after) {
  list_view v;
  std::vector<const household_list*> used;  // the households with rows
  const household_list* only = parts.size() == 1 ? parts[0].get() : nullptr;
  for (const auto& p : parts)
    if (!p->rows.empty()) used.push_back(p.get());
  if (used.size() == 1) only = used[0];
  // The common case, one household with rows and no filter: the list as
  // cached, shared (no copy of its rows).
  if (only && !updated_after) {
    for (const auto& p : parts)
      if (p.get() == only) v.shared = p;
    v.count = only->rows.size();
    v.etag = only->etag;
    return v;
  }
  std::vector<const listed_row*> rows;
  std::string tags;
  for (const auto* p : used) {
    for (const auto& r : p->rows) rows.push_back(&r);
    tags += p->household_id;
    tags += p->etag;
  }
  if (used.size() > 1)
    std::stable_sort(rows.begin(), rows.end(), [](const listed_row* a, const listed_row* b) {
      return a->sort_key < b->sort_key;
    });
  if (updated_after) tags += "|" + *updated_after;
  v.etag = content_tag(tags);
  v.rows_json = "[";
  std::string ids = "[";
  for (const auto* r : rows) {
    if (updated_after) {
      if (ids.size() > 1) ids += ',';
      ids += fmt::format(R"({{"id":"{}","updated":"{}"}})", r->id, r->updated);
      if (r->updated <= *updated_after) continue;
    }
    if (v.rows_json.size() > 1) v.rows_json += ',';
    v.rows_json += r->json;
    ++v.count;
  }
  v.rows_json += ']';
  if (updated_after) v.data_ids_json = ids + "]";
  return v;
}

record get_row(pqxx::connection_base& conn, const table_spec& t, const std::string& account_id,
               const std::string& id) {
  pqxx::read_transaction tx{conn};
  auto sql = fmt::format(
      "SELECT {} FROM {} t JOIN auth_household_member m ON m.auth_household_id = "
      "t.auth_household_id "
      "WHERE m.auth_account_id = $1 AND t.id = $2",
      select_list(t, "t"), t.sql_name);
  auto r = tx.exec_params(sql, account_id, id);
  if (r.empty()) throw domain_error(errc::not_found, fmt::format("{} not found", t.data_type));
  return to_record(t, r[0]);
}

std::map<std::string, std::string> households_of(pqxx::transaction_base& tx, const table_spec& t,
                                                 const std::vector<std::string_view>& ids) {
  std::map<std::string, std::string> out;
  for (const auto& r : exec_prepared_sql(
           tx, "hearth_households_of_" + t.sql_name,
           fmt::format("SELECT t.id, t.auth_household_id FROM {} t WHERE t.id IN "
                       "(SELECT e::uuid FROM json_array_elements_text($1::json) AS e)",
                       t.sql_name),
           json_ids(ids)))
    out.emplace(r[0].as<std::string>(), r[1].as<std::string>());
  return out;
}

std::map<std::string, row_lock> lock_rows(pqxx::transaction_base& tx, const table_spec& t,
                                          const std::vector<std::string_view>& ids) {
  std::map<std::string, row_lock> out;
  for (const auto& r : exec_prepared_sql(
           tx, "hearth_lock_rows_" + t.sql_name,
           fmt::format("SELECT t.id, t.auth_household_id, {} FROM {} t WHERE t.id IN "
                       "(SELECT e::uuid FROM json_array_elements_text($1::json) AS e) "
                       "ORDER BY t.id FOR UPDATE",
                       t.locked_by.empty() ? "false" : "t." + t.locked_by + " IS NOT NULL",
                       t.sql_name),
           json_ids(ids)))
    out.emplace(r[0].as<std::string>(), row_lock{r[1].as<std::string>(), r[2].as<bool>()});
  return out;
}

std::vector<write_result> change_rows_in(pqxx::transaction_base& tx, const table_spec& t,
                                         const std::vector<change>& changes) {
  if (changes.empty()) return {};
  const bool deleting = changes.front().v == nullptr;
  // The columns set (the same in every update), and the statement's name.
  std::string name = fmt::format("hearth_{}_{}_", deleting ? "delete" : "update", t.sql_name);
  std::string assignments;
  for (const auto& c : t.columns)
    if (!deleting && changes.front().v->count(c.json)) {
      name += std::to_string(&c - t.columns.data()) + "_";
      assignments += fmt::format("{} = input.{}, ", c.sql, c.sql);
    }
  boost::json::array in;
  in.reserve(changes.size());
  for (const auto& ch : changes) {
    boost::json::object o;
    o["id"] = *ch.row_id;
    if (!deleting) put_columns(t, *ch.v, o);
    in.emplace_back(std::move(o));
  }
  // One statement: the rows changed, each household's seq range (event_seq
  // bumped once by its count), the events numbered base + position in the
  // household in input order. A delete's event time is now().
  const std::string input = fmt::format(
      "input AS (SELECT r.*, r.ordinality AS hearth_ord FROM "
      "json_populate_recordset(NULL::{}, $1::json) WITH ORDINALITY AS r)",
      t.sql_name);
  const std::string write =
      deleting ? fmt::format(
                     "w AS (DELETE FROM {0} AS t USING input WHERE t.id = input.id "
                     "RETURNING t.*, input.hearth_ord, now() AS hearth_at)",
                     t.sql_name)
               : fmt::format(
                     "w AS (UPDATE {0} AS t SET {1}updated = greatest(now(), t.updated + "
                     "interval '1 microsecond') FROM input WHERE t.id = input.id "
                     "RETURNING t.*, input.hearth_ord, t.updated AS hearth_at)",
                     t.sql_name, assignments);
  auto sql = fmt::format(
      "WITH {0}, {1}, "
      "n AS (SELECT auth_household_id AS h, count(*) AS n FROM w GROUP BY auth_household_id), "
      "s AS (UPDATE auth_household a SET event_seq = a.event_seq + n.n FROM n WHERE a.id = n.h "
      "RETURNING a.id, a.event_seq - n.n AS base), "
      "q AS (SELECT w.*, s.base + row_number() OVER (PARTITION BY w.auth_household_id "
      "ORDER BY w.hearth_ord) AS hearth_seq FROM w JOIN s ON s.id = w.auth_household_id), "
      "ev AS (INSERT INTO change_event (auth_household_id, seq, table_name, row_id, operation, "
      "updated) SELECT q.auth_household_id, q.hearth_seq, '{2}', q.id, '{3}', q.hearth_at "
      "FROM q) "
      "SELECT {4}, q.hearth_seq, hearth_ts(q.hearth_at) FROM q ORDER BY q.hearth_ord",
      input, write, t.sql_name, deleting ? "delete" : "update", select_list(t, "q"));
  pqxx::result result;
  try {
    result = exec_prepared_sql(tx, name, sql, boost::json::serialize(in));
  } catch (const pqxx::check_violation& e) {
    rethrow_check(t, e);
  }
  return written_rows(t, result, changes.size(), deleting ? "delete" : "update", "changed",
                      /*timed=*/true);
}

write_result update_row_in(pqxx::transaction_base& tx, const table_spec& t,
                           const std::string& account_id, const std::string& id, const values& v,
                           const std::string& locked, const write_gate& admit,
                           const std::optional<std::string>& household, const idempotency* idem) {
  if (idem)
    if (auto prior = claim_idempotency_key(tx, *idem))
      return replayed_change(tx, t, account_id, id, locked, std::move(*prior));
  auto household_id = lock_row_in_locked_household(tx, t, account_id, id, locked);
  const bool move = household && *household != household_id;
  if (move) check_write_permission(tx, account_id, *household);
  if (admit) {
    admit(household_id);
    if (move) admit(*household);
  }
  std::string assignments, names, placeholders;
  auto params = params_of(t, v, assignments, names, placeholders, 2);
  params.insert(params.begin(), id);
  if (move) {
    params.push_back(*household);
    assignments +=
        fmt::format("{}auth_household_id = ${}", assignments.empty() ? "" : ", ", params.size());
  }
  auto sql = fmt::format(
      "UPDATE {0} AS t SET {1}{2}updated = greatest(now(), t.updated + interval '1 microsecond') "
      "WHERE id = $1 RETURNING {3}",
      t.sql_name, assignments, assignments.empty() ? "" : ", ", select_list(t, "t"));
  try {
    auto r = tx.exec_params1(sql, pqxx::prepare::make_dynamic_params(params));
    if (!move) return finish(tx, t, r, "update", idem);
    // Seen from the previous household the row is gone; from the new one it
    // appears. Both events carry the row's new `updated`.
    auto gone = record_change(tx, household_id, t.sql_name, r[0].c_str(), "delete", r[3].c_str());
    auto out = finish(tx, t, r, "create", idem);
    out.moved_from = std::move(gone);
    return out;
  } catch (const pqxx::check_violation& e) {
    rethrow_check(t, e);
  }
}

write_result delete_row_in(pqxx::transaction_base& tx, const table_spec& t,
                           const std::string& account_id, const std::string& id,
                           const std::string& locked, const write_gate& admit,
                           const idempotency* idem) {
  if (idem)
    if (auto prior = claim_idempotency_key(tx, *idem))
      return replayed_change(tx, t, account_id, id, locked, std::move(*prior));
  auto household_id = lock_row_in_locked_household(tx, t, account_id, id, locked);
  if (admit) admit(household_id);
  auto r = tx.exec_params1(
      fmt::format("DELETE FROM {0} AS t WHERE id = $1 RETURNING {1}, hearth_ts(now())", t.sql_name,
                  select_list(t, "t")),
      id);
  return finish(tx, t, r, "delete", idem, r[static_cast<int>(r.size()) - 1].c_str());
}

write_result update_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& id, const values& v,
                        const write_gate& admit, const std::optional<std::string>& household,
                        const idempotency* idem) {
  pqxx::work tx{conn};
  if (idem)
    if (auto prior = claim_idempotency_key(tx, *idem))
      return replayed_change(tx, t, account_id, id, current_household(tx, t, id),
                             std::move(*prior));
  // Households first, in id order (the row's and a move's target), then
  // the row: the order every writer takes them in (storage/group_commit.hpp).
  const auto locked = household_of(tx, t, id);
  std::vector<std::string_view> households{locked};
  if (household && *household != locked) households.push_back(*household);
  std::sort(households.begin(), households.end());
  lock_households(tx, households);
  auto out = update_row_in(tx, t, account_id, id, v, locked, admit, household, nullptr);
  record_response(tx, t, idem, &out.row);
  tx.commit();
  return out;
}

write_result delete_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& id,
                        const write_gate& admit, const idempotency* idem) {
  pqxx::work tx{conn};
  if (idem)
    if (auto prior = claim_idempotency_key(tx, *idem))
      return replayed_change(tx, t, account_id, id, current_household(tx, t, id),
                             std::move(*prior));
  const auto locked = household_of(tx, t, id);
  lock_households(tx, {locked});
  auto out = delete_row_in(tx, t, account_id, id, locked, admit, nullptr);
  record_response(tx, t, idem, nullptr);
  tx.commit();
  return out;
}

}  // namespace hearth::storage
