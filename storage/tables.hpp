#pragma once
// Declarative household tables: the mechanics (SQL, lists, writes). The
// declaration type is domain/table_spec.hpp, the declarations themselves
// are in domain/tables.cpp. A household-owned table (ShopItem, PlanTask,
// ...) is one table_spec: its columns with JSON names, types and limits. The
// SQL, the request validation (api/table_api.cpp), the routes and the SSE
// change events all come from it, so every such table behaves the same way:
// rows belong to one household, non-members get not_found, "view" members
// get forbidden on writes, and every write records a change_event.
// Every table also has id, authHouseholdID, created and updated.

#include <boost/json/object.hpp>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "domain/table_spec.hpp"
#include "storage/accounts.hpp"
#include "storage/events.hpp"
#include "storage/idempotency.hpp"

namespace hearth::storage {

// The declaration types (domain/table_spec.hpp), by their storage names.
using domain::check_spec;
using domain::column_spec;
using domain::column_type;
using domain::table_spec;

/// One listed row, serialised once: `sort_key` orders rows across
/// households as the API does (created, then id).
struct listed_row {
  std::string sort_key, id, updated, json;
};

/// Every row of one household in one table, serialised: what the read cache
/// (actors/cache.hpp) keeps per (household, table). `rows_json` is the JSON
/// array text; `etag` a content tag of the (id, updated) list; `bytes` an
/// estimate of the memory it holds.
struct household_list {
  std::string household_id;
  std::vector<listed_row> rows;
  std::string rows_json;
  std::string etag;
  std::size_t bytes = 0;
};

/// Reads one household's rows of `t`, oldest first (no membership check: the
/// caller has authorised the household).
household_list load_household_list(pqxx::connection_base& conn, const table_spec& t,
                                   const std::string& household_id);

/// A list response body's parts: `rows_json` (JSON array), its row count,
/// the strong ETag value (without quotes), and with `updated_after` only the
/// rows updated after it plus `data_ids_json`, the JSON array
/// [{"id","updated"}] of every current row (docs/architecture.md, "The path of a read"; as
/// Homechart's dataIDs: a client drops the rows it holds that are not listed).
/// When the view is one household's list as cached, `shared` holds it and
/// its rows_json is the view's (no copy); otherwise `rows_json` does.
struct list_view {
  std::string rows_json;
  std::shared_ptr<const household_list> shared;
  std::size_t count = 0;
  std::string etag;
  std::optional<std::string> data_ids_json;

  /// The JSON array of the listed rows.
  std::string_view rows() const {
    return shared ? std::string_view(shared->rows_json) : std::string_view(rows_json);
  }
};

/// Merges the lists of several households (ordered by created, id) and
/// filters by `updated_after` ("YYYY-MM-DDTHH:MM:SS.ffffffZ", compared as
/// text, which orders like time in this fixed format). Households with no
/// rows add nothing: when only one has rows (and no filter), the view is
/// that list as cached, shared, with its own ETag.
list_view make_list_view(const std::vector<std::shared_ptr<const household_list>>& parts,
                         const std::optional<std::string>& updated_after);

/// The one list-view builder of a list read (the I/O threads' replicas,
/// the cache actor, and the database path without a cache all use it): the
/// households `who` may see (principal_grant::visible_households with the
/// `household` filter), each one's list from `list_of(household id)`, then
/// make_list_view. nullopt as soon as `list_of` returns null (a list not at
/// hand: the caller reads it and builds again).
template <class ListOf>
std::optional<list_view> build_list_view(const principal_grant& who,
                                         const std::optional<std::string>& household,
                                         const std::optional<std::string>& updated_after,
                                         ListOf&& list_of) {
  const auto households = who.visible_households(household);
  std::vector<std::shared_ptr<const household_list>> parts;
  parts.reserve(households.size());
  for (const auto& h : households) {
    std::shared_ptr<const household_list> list = list_of(h);
    if (!list) return std::nullopt;
    parts.push_back(std::move(list));
  }
  return make_list_view(parts, updated_after);
}

/// A row as its JSON object (what the API returns).
using record = boost::json::object;

/// Column values of a write, by JSON name: a text form ("true", "2026-01-02",
/// "milk") or nullopt for SQL NULL. Already validated against the spec.
using values = std::map<std::string, std::optional<std::string>>;

/// A committed write: the row after it and the outbox event it recorded.
/// When an update moved the row to another household, `event` is the
/// "create" in the new household and `moved_from` the "delete" recorded in
/// the previous one (publish both). With an Idempotency-Key seen before
/// (storage/idempotency.hpp): only `replay`, the first response; nothing
/// was written.
struct write_result {
  record row;
  change_event event;
  std::optional<change_event> moved_from = {};
  std::optional<stored_response> replay = std::nullopt;
};

/// One row; domain_error(not_found) when missing or not the caller's.
record get_row(pqxx::connection_base& conn, const table_spec& t, const std::string& account_id,
               const std::string& id);

/// Called with the household a write goes to, after the permission checks
/// and before the write; it may throw (e.g. domain_error(busy)) to refuse it.
using write_gate = std::function<void(const std::string& household_id)>;

/// Writes; each checks membership (not_found) and permission (forbidden for
/// "view") inside the transaction, asks `admit` (when set), and records the
/// change_event before commit. With `idem` (an Idempotency-Key), the key is
/// claimed first in the same transaction (a replay returns `replay` and
/// writes nothing; a key used for another request throws
/// domain_error(unprocessable)) and the response is stored with the write:
/// {idem->success_status, t.data_type, [row]} ([] for a delete).
/// create_row's work inside `tx` (a transaction or a savepoint of one),
/// without committing: the group commit (storage/group_commit.hpp) runs
/// several in one transaction.
///
/// `client_id`: the id the client chose (a row made offline; a canonical
/// lower-case UUID). When the table already has a row with it in the same
/// household, nothing is written and the result is a replay of that row
/// as it is now (200, dataType, [row]): a second POST of one id is the same
/// row, however long after. In another household: domain_error(conflict).
write_result create_row_in(pqxx::transaction_base& tx, const table_spec& t,
                           const std::string& account_id, const std::string& household_id,
                           const values& v, const write_gate& admit = nullptr,
                           const idempotency* idem = nullptr,
                           const std::string* client_id = nullptr);
/// Several creations of table `t` that give the same set of columns, in one
/// statement (storage/group_commit.hpp): each row's values (`rows[i].v`,
/// validated, permission and admission already checked by the caller) go
/// to `rows[i].household_id`; each household's event_seq is bumped once by
/// its number of rows, its rows taking the seqs in `rows` order, with one
/// "create" change_event each. Returns the results in `rows` order. With
/// rows of several households the caller must hold their locks already,
/// taken in id order (lock_households). Throws as create_row_in (a CHECK
/// violation: domain_error(invalid), and then nothing of the statement
/// was written); a failure fails every row of the call.
struct creation {
  const std::string* household_id;
  const values* v;
};
std::vector<write_result> create_rows_in(pqxx::transaction_base& tx, const table_spec& t,
                                         const std::vector<creation>& rows);
/// One creation in one statement that also checks the permission: the row
/// is written only when `account_id` is an `owner` or `edit` member of its
/// household. Run on a pqxx::nontransaction, the statement is its own
/// transaction (autocommit): one round trip for a lone write, instead of
/// BEGIN, the permission's statement, the write's and COMMIT. nullopt when
/// the permission refused it (nothing written: permissions_of() then says
/// why); throws as create_rows_in.
std::optional<write_result> create_row_if_permitted(pqxx::transaction_base& tx, const table_spec& t,
                                                    const std::string& account_id,
                                                    const creation& row);
write_result create_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& household_id,
                        const values& v, const write_gate& admit = nullptr,
                        const idempotency* idem = nullptr);
/// The household of each of rows `ids` of table `t` (row id → household
/// id), without locking; rows not found are absent. One statement.
std::map<std::string, std::string> households_of(pqxx::transaction_base& tx, const table_spec& t,
                                                 const std::vector<std::string_view>& ids);
/// A row as lock_rows found it: its household, and whether it is locked
/// against changes (table_spec::locked_by).
struct row_lock {
  std::string household_id;
  bool locked = false;
};
/// Locks rows `ids` of table `t` (FOR UPDATE, in id order), one statement;
/// rows not found are absent. The caller holds their households' locks.
std::map<std::string, row_lock> lock_rows(pqxx::transaction_base& tx, const table_spec& t,
                                          const std::vector<std::string_view>& ids);

/// Several updates of table `t` that set the same columns, or several
/// deletes (`v` null in every change), in one statement each
/// (storage/group_commit.hpp): rows locked by the caller (lock_rows) and
/// checked (household, permission, locked_by), each row at most once.
/// Each household's event_seq is bumped once by its count, its events
/// numbered in `changes` order. Returns the results in `changes` order
/// (a delete's: the row as it was, its event at now()). Throws as
/// update_row (a CHECK violation: domain_error(invalid)); a failure fails
/// every change of the call.
struct change {
  const std::string* row_id;
  const values* v;  // null: a delete
};
std::vector<write_result> change_rows_in(pqxx::transaction_base& tx, const table_spec& t,
                                         const std::vector<change>& changes);

/// update_row's and delete_row's work inside `tx` (a transaction or a
/// savepoint of one), without committing, for a caller that holds the lock
/// of household `locked` (and of a move's target), taken in id order before
/// the row's (lock_households): the group commit (storage/group_commit.hpp).
/// A row no longer in `locked` (moved meanwhile) throws domain_error(busy);
/// otherwise as update_row / delete_row.
write_result update_row_in(pqxx::transaction_base& tx, const table_spec& t,
                           const std::string& account_id, const std::string& id, const values& v,
                           const std::string& locked, const write_gate& admit = nullptr,
                           const std::optional<std::string>& household = std::nullopt,
                           const idempotency* idem = nullptr);
write_result delete_row_in(pqxx::transaction_base& tx, const table_spec& t,
                           const std::string& account_id, const std::string& id,
                           const std::string& locked, const write_gate& admit = nullptr,
                           const idempotency* idem = nullptr);
/// update_row with `household` (a canonical UUID) other than the row's
/// moves the row there in the same transaction: the caller needs write
/// permission in both households (the row's: not_found / forbidden as for
/// any update; the target's: not_found "authHouseholdID: household not
/// found" / forbidden), and the row gets a "delete" event in the previous
/// household and a "create" event in the new one, each at its household's
/// next seq. `household` equal to the row's (or nullopt) is a plain update.
/// `idem`: as create_row. Locks are taken households first (the row's and
/// the target's, in id order), then the row: the order of every writer, so
/// these never deadlock with the group commit. A row moved between the
/// lookup of its household and the lock throws domain_error(busy).
write_result update_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& id, const values& v,
                        const write_gate& admit = nullptr,
                        const std::optional<std::string>& household = std::nullopt,
                        const idempotency* idem = nullptr);
write_result delete_row(pqxx::connection_base& conn, const table_spec& t,
                        const std::string& account_id, const std::string& id,
                        const write_gate& admit = nullptr, const idempotency* idem = nullptr);

}  // namespace hearth::storage
