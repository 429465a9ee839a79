#pragma once
// Households and their members (auth_household, auth_household_member).
// Permission levels and what each may do: domain/permissions.hpp (the one
// policy); authorize() applies it and throws the domain errors.

#include <cstdint>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/permissions.hpp"
#include "storage/errors.hpp"
#include "storage/idempotency.hpp"

namespace hearth::storage {

/// A household as seen by one member (`permissions` is that member's
/// level). `time_zone`: an IANA zone name ("UTC" unless set), the members'
/// local clock (a task's due reminder comes at the household's local hour).
struct household {
  std::string id, name;
  domain::permission permissions = domain::permission::view;
  std::string created, updated;
  std::string time_zone = "UTC";
};

struct member {
  std::string household_id, account_id, email_address;
  domain::permission permissions = domain::permission::view;
};

/// A member's role before and after a change, and the seq of the recorded
/// revocation of its account (storage/revocations.hpp; 0 when the role did
/// not change).
struct member_change {
  member now;
  domain::permission before = domain::permission::view;
  std::int64_t revocation = 0;
};

/// A member as it was before it left its household (removed, or the
/// household deleted), and the seq of its account's recorded revocation.
struct member_removal {
  member removed;
  std::int64_t revocation = 0;
};

/// Creates a household with `account_id` as its owner, in `time_zone` (an
/// IANA zone name PostgreSQL knows: domain_error(invalid) otherwise).
household create_household(pqxx::connection_base& conn, const std::string& account_id,
                           const std::string& name, const std::string& time_zone = "UTC");

/// create_household with an Idempotency-Key (storage/idempotency.hpp): a
/// retry of a request that succeeded before returns only `replay` and
/// creates nothing; otherwise `answer(household)` is stored with the key in
/// the creation's transaction. domain_error(unprocessable): the key was
/// used for a different request.
keyed_result<household> create_household(
    pqxx::connection_base& conn, const std::string& account_id, const std::string& name,
    const std::string& time_zone, const idempotency& k,
    const std::function<stored_response(const household&)>& answer);

/// The households `account_id` belongs to, oldest first.
std::vector<household> list_households(pqxx::connection_base& conn, const std::string& account_id);

/// Adds the account with `email` to the household as `permissions`.
/// Throws domain_error: not_found (caller not a member, or no such account),
/// forbidden (caller not an owner), conflict (already a member).
member add_member(pqxx::connection_base& conn, const std::string& caller_account_id,
                  const std::string& household_id, const std::string& email,
                  domain::permission permissions);

/// add_member with an Idempotency-Key, as create_household's keyed form.
keyed_result<member> add_member(pqxx::connection_base& conn, const std::string& caller_account_id,
                                const std::string& household_id, const std::string& email,
                                domain::permission permissions, const idempotency& k,
                                const std::function<stored_response(const member&)>& answer);

/// One household as `account_id` sees it. Throws domain_error(not_found)
/// when the account is not a member (or there is no such household).
household get_household(pqxx::connection_base& conn, const std::string& account_id,
                        const std::string& household_id);

/// Renames a household and/or sets its time zone (owners only; nullopt
/// keeps the field); returns it. Throws domain_error: not_found (not a
/// member), forbidden (not an owner), invalid (an unknown time zone).
household update_household(pqxx::connection_base& conn, const std::string& account_id,
                           const std::string& household_id, const std::optional<std::string>& name,
                           const std::optional<std::string>& time_zone);

/// Deletes a household and, by the schema's cascades, every row of it, its
/// members and its outbox (owners only). Returns who its members were, with
/// each one's recorded revocation, so their sessions' caches and streams
/// can be told. Throws domain_error: not_found (not a member), forbidden
/// (not an owner).
std::vector<member_removal> delete_household(pqxx::connection_base& conn,
                                             const std::string& account_id,
                                             const std::string& household_id);

/// The members of a household, oldest first (any member may list them).
/// Throws domain_error(not_found) for a caller who is not a member.
std::vector<member> list_members(pqxx::connection_base& conn, const std::string& account_id,
                                 const std::string& household_id);

/// Sets a member's permissions (owners only; the same value is a no-op).
/// The household's member rows are locked first, so the rule holds under
/// concurrency: a household always keeps an owner. Throws domain_error:
/// not_found (caller or member not in the household), forbidden (caller not
/// an owner), conflict (the last owner would stop being one).
member_change set_member_permissions(pqxx::connection_base& conn,
                                     const std::string& caller_account_id,
                                     const std::string& household_id,
                                     const std::string& member_account_id,
                                     domain::permission permissions);

/// Removes a member (owners), or the caller leaves (any member: the member
/// is the caller). Returns the member as it was, with its account's
/// recorded revocation. Throws domain_error:
/// not_found, forbidden, conflict (the last owner leaving or removed), as
/// set_member_permissions.
member_removal remove_member(pqxx::connection_base& conn, const std::string& caller_account_id,
                             const std::string& household_id, const std::string& member_account_id);

/// The last change_event sequence number of every household of `account_id`
/// (household id → seq): where a new event stream starts.
std::map<std::string, std::int64_t> household_heads(pqxx::connection_base& conn,
                                                    const std::string& account_id);
/// household_heads inside `tx` (a read of its snapshot).
std::map<std::string, std::int64_t> household_heads(pqxx::transaction_base& tx,
                                                    const std::string& account_id);

/// A level as stored (auth_household_member.permissions and
/// auth_token.permissions, whose CHECKs allow only the three names); throws
/// std::runtime_error for anything else.
domain::permission level_of(const pqxx::field& f);

/// The caller's permission level in a household, or nullopt for non-members.
std::optional<domain::permission> permission_of(pqxx::transaction_base& tx,
                                                const std::string& account_id,
                                                const std::string& household_id);

/// The 403 message of a write by a view-only member.
inline constexpr const char* kViewOnly = "view-only members cannot change this household";
/// The 404 message of a write's household the caller is not in.
inline constexpr const char* kWriteHouseholdNotFound = "authHouseholdID: household not found";

/// Applies the policy (domain::may) to a member of level `level` (nullopt:
/// not a member) asking `action`: returns when allowed; throws
/// domain_error(not_found, `not_found`) for a non-member,
/// domain_error(forbidden, `forbidden`) for a level too low.
void authorize(std::optional<domain::permission> level, domain::household_action action,
               const std::string& forbidden, const std::string& not_found = "household not found");

/// permission_of for many (account id, household id) pairs in one statement
/// (one round trip): the i-th answer is the i-th pair's level, or nullopt
/// for a non-member. Throws pqxx errors (a pair that is not a UUID: pqxx::data_exception).
std::vector<std::optional<domain::permission>> permissions_of(
    pqxx::transaction_base& tx,
    const std::vector<std::pair<std::string_view, std::string_view>>& pairs);

/// Deletes an account: its sessions, memberships, notifications and keys
/// go with it (ON DELETE CASCADE). A household of which it is the only
/// member is deleted with every row. A household with other members but no
/// other owner refuses the whole deletion (domain_error conflict, naming
/// the household): ownership must be handed over first, so no household is
/// left without an owner. Records the account's revocation (its streams
/// and cached grants end on every node); returns the revocation's seq.
std::int64_t delete_account(pqxx::connection_base& conn, const std::string& account_id);

/// `ids` as a JSON array of strings: the parameter of a statement that
/// reads them with json_array_elements_text (any number of ids, one
/// prepared statement).
std::string json_ids(const std::vector<std::string_view>& ids);

/// Locks the rows of households `ids` (auth_household, FOR NO KEY UPDATE) in
/// id order, in one statement: a transaction that bumps several households'
/// event_seq takes their locks in the order every such writer uses, so two
/// of them cannot deadlock (storage/group_commit.hpp, update_row's move).
void lock_households(pqxx::transaction_base& tx, const std::vector<std::string_view>& ids);

}  // namespace hearth::storage
