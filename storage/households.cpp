#include "storage/households.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <stdexcept>

#include "storage/errors.hpp"
#include "storage/pool.hpp"
#include "storage/revocations.hpp"

namespace hearth::storage {
namespace {

constexpr const char* kInsertHousehold =
    "INSERT INTO auth_household (name, time_zone) VALUES ($1, $2) "
    "RETURNING id, name, hearth_ts(created), hearth_ts(updated), time_zone";
constexpr const char* kInsertMember =
    "INSERT INTO auth_household_member (auth_household_id, auth_account_id, permissions) "
    "VALUES ($1, $2, $3)";
constexpr const char* kSelectHouseholds =
    "SELECT h.id, h.name, m.permissions, hearth_ts(h.created), hearth_ts(h.updated), "
    "h.time_zone FROM auth_household h "
    "JOIN auth_household_member m ON m.auth_household_id = h.id "
    "WHERE m.auth_account_id = $1 ORDER BY h.created, h.id";
constexpr const char* kSelectHeads =
    "SELECT h.id, h.event_seq FROM auth_household h "
    "JOIN auth_household_member m ON m.auth_household_id = h.id WHERE m.auth_account_id = $1";
constexpr const char* kSelectPermission =
    "SELECT permissions FROM auth_household_member "
    "WHERE auth_household_id = $1 AND auth_account_id = $2";
// permissions_of: $1 = [{"i": index, "a": account id, "h": household id}].
constexpr const char* kSelectPermissions =
    "SELECT p.i, m.permissions FROM json_to_recordset($1::json) AS p(i int, a uuid, h uuid) "
    "LEFT JOIN auth_household_member m ON m.auth_household_id = p.h AND m.auth_account_id = p.a";
// lock_households: $1 = [household id, ...]; ORDER BY sorts before the rows
// are locked, so the locks are taken in id order.
constexpr const char* kLockHouseholds =
    "SELECT a.id FROM auth_household a "
    "WHERE a.id IN (SELECT e::uuid FROM json_array_elements_text($1::json) AS e) "
    "ORDER BY a.id FOR NO KEY UPDATE";
constexpr const char* kSelectHousehold =
    "SELECT h.id, h.name, m.permissions, hearth_ts(h.created), hearth_ts(h.updated), "
    "h.time_zone FROM auth_household h "
    "JOIN auth_household_member m ON m.auth_household_id = h.id "
    "WHERE h.id = $1 AND m.auth_account_id = $2";
// A NULL parameter keeps the column as it is.
constexpr const char* kUpdateHousehold =
    "UPDATE auth_household SET name = coalesce($2, name), time_zone = coalesce($3, time_zone), "
    "updated = now() WHERE id = $1 "
    "RETURNING id, name, hearth_ts(created), hearth_ts(updated), time_zone";
constexpr const char* kTimeZoneKnown =
    "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)";
constexpr const char* kDeleteHousehold = "DELETE FROM auth_household WHERE id = $1";
constexpr const char* kLockAccountHouseholds =
    "SELECT h.id FROM auth_household h JOIN auth_household_member m "
    "ON m.auth_household_id = h.id WHERE m.auth_account_id = $1 ORDER BY h.id FOR UPDATE OF h";
// Each household of the account: its role there, how many other members
// and other owners it has, its name.
constexpr const char* kAccountHouseholds =
    "SELECT m.auth_household_id, m.permissions, "
    "(SELECT count(*) FROM auth_household_member o WHERE o.auth_household_id = "
    "m.auth_household_id AND o.auth_account_id <> $1), "
    "(SELECT count(*) FROM auth_household_member o WHERE o.auth_household_id = "
    "m.auth_household_id AND o.auth_account_id <> $1 AND o.permissions = 'owner'), h.name "
    "FROM auth_household_member m JOIN auth_household h ON h.id = m.auth_household_id "
    "WHERE m.auth_account_id = $1 ORDER BY m.auth_household_id";
constexpr const char* kDeleteAccount = "DELETE FROM auth_account WHERE id = $1";
// Before its members are read: a member added meanwhile waits, so the
// members returned (whose streams are ended) are all the household had.
constexpr const char* kLockHousehold = "SELECT 1 FROM auth_household WHERE id = $1 FOR UPDATE";
// A household's members, oldest first; kLockMembers also locks them (FOR
// UPDATE) so that two changes of its members cannot both see an owner the
// other removes: the last-owner rule holds under concurrency.
#define HEARTH_SELECT_MEMBERS                                                     \
  "SELECT m.auth_account_id, a.email_address, m.permissions "                     \
  "FROM auth_household_member m JOIN auth_account a ON a.id = m.auth_account_id " \
  "WHERE m.auth_household_id = $1 ORDER BY m.created, m.auth_account_id"
constexpr const char* kSelectMembers = HEARTH_SELECT_MEMBERS;
constexpr const char* kLockMembers = HEARTH_SELECT_MEMBERS " FOR UPDATE OF m";
#undef HEARTH_SELECT_MEMBERS
// Every member of a household, locked (FOR UPDATE) so that two changes of
// its members cannot both see an owner the other removes: the last-owner
// rule holds under concurrency.
constexpr const char* kSetPermissions =
    "UPDATE auth_household_member SET permissions = $3 "
    "WHERE auth_household_id = $1 AND auth_account_id = $2";
constexpr const char* kDeleteMember =
    "DELETE FROM auth_household_member WHERE auth_household_id = $1 AND auth_account_id = $2";
constexpr const char* kSelectAccountByEmail =
    "SELECT id, email_address FROM auth_account WHERE lower(email_address) = lower($1)";

}  // namespace

namespace {

using domain::household_action;
using domain::permission;

std::string level_name(permission p) { return std::string(domain::name_of(p)); }

// An IANA zone name PostgreSQL knows; domain_error(invalid) otherwise.
void check_time_zone(pqxx::transaction_base& tx, const std::string& time_zone) {
  if (!tx.exec_params1(kTimeZoneKnown, time_zone)[0].as<bool>())
    throw domain_error(errc::invalid,
                       "timeZone: not an IANA time zone name (such as Europe/Paris or UTC)");
}

household create_household_in(pqxx::transaction_base& tx, const std::string& account_id,
                              const std::string& name, const std::string& time_zone) {
  check_time_zone(tx, time_zone);
  auto r = tx.exec_params1(kInsertHousehold, name, time_zone);
  household h{r[0].as<std::string>(), r[1].as<std::string>(), permission::owner,
              r[2].as<std::string>(), r[3].as<std::string>(), r[4].as<std::string>()};
  tx.exec_params0(kInsertMember, h.id, account_id, level_name(permission::owner));
  return h;
}

// Only an owner adds members: 404 for a caller not in the household, 403
// for one who is not an owner.
void check_owner(pqxx::transaction_base& tx, const std::string& caller_account_id,
                 const std::string& household_id) {
  authorize(permission_of(tx, caller_account_id, household_id), household_action::manage,
            "only an owner of the household may add members");
}

member add_member_in(pqxx::transaction_base& tx, const std::string& caller_account_id,
                     const std::string& household_id, const std::string& email,
                     permission permissions) {
  check_owner(tx, caller_account_id, household_id);
  auto acc = tx.exec_params(kSelectAccountByEmail, email);
  if (acc.empty())
    throw domain_error(errc::not_found, "emailAddress: no account with this address");
  member m{household_id, acc[0][0].as<std::string>(), acc[0][1].as<std::string>(), permissions};
  try {
    tx.exec_params0(kInsertMember, household_id, m.account_id, level_name(permissions));
  } catch (const pqxx::unique_violation&) {
    throw domain_error(errc::conflict, "emailAddress: already a member of this household");
  }
  return m;
}

// The household's members, locked, and the caller's place among them:
// domain_error(not_found) when the caller is not one.
struct locked_members {
  std::vector<member> all;
  const member* caller = nullptr;
  const member* find(std::string_view account_id) const {
    for (const auto& m : all)
      if (m.account_id == account_id) return &m;
    return nullptr;
  }
  std::size_t owners() const {
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const member& m) {
      return m.permissions == permission::owner;
    }));
  }
};

// The members `sql` (kSelectMembers or kLockMembers) reads.
std::vector<member> read_members(pqxx::transaction_base& tx, const char* sql,
                                 const std::string& household_id) {
  std::vector<member> out;
  for (const auto& r : tx.exec_params(sql, household_id))
    out.push_back({household_id, r[0].as<std::string>(), r[1].as<std::string>(), level_of(r[2])});
  return out;
}

locked_members lock_members(pqxx::transaction_base& tx, const std::string& caller_account_id,
                            const std::string& household_id) {
  locked_members out;
  out.all = read_members(tx, kLockMembers, household_id);
  out.caller = out.find(caller_account_id);
  if (!out.caller) throw domain_error(errc::not_found, "household not found");
  return out;
}

constexpr const char* kLastOwner =
    "the household's last owner cannot leave or stop being an owner: make another member an "
    "owner first, or delete the household";

}  // namespace

household get_household(pqxx::connection_base& conn, const std::string& account_id,
                        const std::string& household_id) {
  pqxx::read_transaction tx{conn};
  auto r = tx.exec_params(kSelectHousehold, household_id, account_id);
  if (r.empty()) throw domain_error(errc::not_found, "household not found");
  return {r[0][0].as<std::string>(), r[0][1].as<std::string>(), level_of(r[0][2]),
          r[0][3].as<std::string>(), r[0][4].as<std::string>(), r[0][5].as<std::string>()};
}

household update_household(pqxx::connection_base& conn, const std::string& account_id,
                           const std::string& household_id, const std::optional<std::string>& name,
                           const std::optional<std::string>& time_zone) {
  pqxx::work tx{conn};
  authorize(permission_of(tx, account_id, household_id), household_action::manage,
            "only an owner of the household may change it");
  if (time_zone) check_time_zone(tx, *time_zone);
  auto r = tx.exec_params1(kUpdateHousehold, household_id, name, time_zone);
  tx.commit();
  return {r[0].as<std::string>(), r[1].as<std::string>(), permission::owner,
          r[2].as<std::string>(), r[3].as<std::string>(), r[4].as<std::string>()};
}

std::vector<member_removal> delete_household(pqxx::connection_base& conn,
                                             const std::string& account_id,
                                             const std::string& household_id) {
  pqxx::work tx{conn};
  if (!permission_of(tx, account_id, household_id))
    throw domain_error(errc::not_found, "household not found");
  tx.exec_params(kLockHousehold, household_id);
  auto members = lock_members(tx, account_id, household_id);
  authorize(members.caller->permissions, household_action::manage,
            "only an owner of the household may delete it");
  tx.exec_params0(kDeleteHousehold, household_id);
  std::vector<member_removal> out;
  for (auto& m : members.all) {
    const auto seq = record_revocation(tx, m.account_id);
    out.push_back({std::move(m), seq});
  }
  tx.commit();
  return out;
}

std::vector<member> list_members(pqxx::connection_base& conn, const std::string& account_id,
                                 const std::string& household_id) {
  pqxx::read_transaction tx{conn};
  auto out = read_members(tx, kSelectMembers, household_id);
  const bool caller_in = std::any_of(out.begin(), out.end(),
                                     [&](const member& m) { return m.account_id == account_id; });
  if (!caller_in) throw domain_error(errc::not_found, "household not found");
  return out;
}

member_change set_member_permissions(pqxx::connection_base& conn,
                                     const std::string& caller_account_id,
                                     const std::string& household_id,
                                     const std::string& member_account_id, permission permissions) {
  pqxx::work tx{conn};
  auto members = lock_members(tx, caller_account_id, household_id);
  authorize(members.caller->permissions, household_action::manage,
            "only an owner of the household may change roles");
  const auto* target = members.find(member_account_id);
  if (!target) throw domain_error(errc::not_found, "member not found");
  if (target->permissions == permission::owner && permissions != permission::owner &&
      members.owners() == 1)
    throw domain_error(errc::conflict, kLastOwner);
  member_change out{*target, target->permissions};
  out.now.permissions = permissions;
  if (permissions != target->permissions) {
    tx.exec_params0(kSetPermissions, household_id, member_account_id, level_name(permissions));
    out.revocation = record_revocation(tx, member_account_id);
  }
  tx.commit();
  return out;
}

member_removal remove_member(pqxx::connection_base& conn, const std::string& caller_account_id,
                             const std::string& household_id,
                             const std::string& member_account_id) {
  pqxx::work tx{conn};
  auto members = lock_members(tx, caller_account_id, household_id);
  const bool leaving = member_account_id == caller_account_id;
  if (!leaving)
    authorize(members.caller->permissions, household_action::manage,
              "only an owner of the household may remove members");
  const auto* target = members.find(member_account_id);
  if (!target) throw domain_error(errc::not_found, "member not found");
  if (target->permissions == permission::owner && members.owners() == 1)
    throw domain_error(errc::conflict, kLastOwner);
  member_removal out{*target, 0};
  tx.exec_params0(kDeleteMember, household_id, member_account_id);
  out.revocation = record_revocation(tx, member_account_id);
  tx.commit();
  return out;
}

household create_household(pqxx::connection_base& conn, const std::string& account_id,
                           const std::string& name, const std::string& time_zone) {
  pqxx::work tx{conn};
  auto h = create_household_in(tx, account_id, name, time_zone);
  tx.commit();
  return h;
}

keyed_result<household> create_household(
    pqxx::connection_base& conn, const std::string& account_id, const std::string& name,
    const std::string& time_zone, const idempotency& k,
    const std::function<stored_response(const household&)>& answer) {
  pqxx::work tx{conn};
  auto out = keyed_write<household>(
      tx, k, [&] { return create_household_in(tx, account_id, name, time_zone); }, answer);
  if (out.replay) {
    // A replay answers only a member of the household it created (its id
    // is in the stored answer): anyone else gets 404, as for any request.
    const auto stored = boost::json::parse(out.replay->data_value);
    const auto* id =
        stored.is_array() && !stored.as_array().empty() && stored.as_array()[0].is_object()
            ? stored.as_array()[0].as_object().if_contains("id")
            : nullptr;
    if (!id || !id->is_string() || !permission_of(tx, account_id, std::string(id->as_string())))
      throw domain_error(errc::not_found, "household not found");
  }
  if (out.value) tx.commit();
  return out;
}

std::vector<household> list_households(pqxx::connection_base& conn, const std::string& account_id) {
  pqxx::read_transaction tx{conn};
  std::vector<household> out;
  for (const auto& r : tx.exec_params(kSelectHouseholds, account_id))
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), level_of(r[2]),
                   r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>()});
  return out;
}

std::map<std::string, std::int64_t> household_heads(pqxx::transaction_base& tx,
                                                    const std::string& account_id) {
  std::map<std::string, std::int64_t> out;
  for (const auto& r : tx.exec_params(kSelectHeads, account_id))
    out.emplace(r[0].as<std::string>(), r[1].as<std::int64_t>());
  return out;
}

std::map<std::string, std::int64_t> household_heads(pqxx::connection_base& conn,
                                                    const std::string& account_id) {
  pqxx::read_transaction tx{conn};
  return household_heads(tx, account_id);
}

domain::permission level_of(const pqxx::field& f) {
  auto p = domain::permission_named(f.c_str());
  if (!p) throw std::runtime_error(std::string("unknown permission level ") + f.c_str());
  return *p;
}

std::optional<domain::permission> permission_of(pqxx::transaction_base& tx,
                                                const std::string& account_id,
                                                const std::string& household_id) {
  auto r = tx.exec_params(kSelectPermission, household_id, account_id);
  if (r.empty()) return std::nullopt;
  return level_of(r[0][0]);
}

void authorize(std::optional<domain::permission> level, domain::household_action action,
               const std::string& forbidden, const std::string& not_found) {
  switch (domain::may(level, action)) {
    case domain::verdict::allowed:
      return;
    case domain::verdict::not_found:
      throw domain_error(errc::not_found, not_found);
    case domain::verdict::forbidden:
      throw domain_error(errc::forbidden, forbidden);
  }
}

std::vector<std::optional<domain::permission>> permissions_of(
    pqxx::transaction_base& tx,
    const std::vector<std::pair<std::string_view, std::string_view>>& pairs) {
  boost::json::array in;
  in.reserve(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i)
    in.push_back({{"i", i}, {"a", pairs[i].first}, {"h", pairs[i].second}});
  std::vector<std::optional<domain::permission>> out(pairs.size());
  for (const auto& r :
       exec_prepared_sql(tx, "hearth_permissions", kSelectPermissions, boost::json::serialize(in)))
    if (!r[1].is_null()) out.at(r[0].as<std::size_t>()) = level_of(r[1]);
  return out;
}

std::string json_ids(const std::vector<std::string_view>& ids) {
  boost::json::array in;
  in.reserve(ids.size());
  for (auto id : ids) in.emplace_back(id);
  return boost::json::serialize(in);
}

std::int64_t delete_account(pqxx::connection_base& conn, const std::string& account_id) {
  pqxx::work tx{conn};
  // The account's households, locked in id order (as delete_household
  // locks one) before their members are counted: a member added meanwhile
  // waits.
  tx.exec_params(kLockAccountHouseholds, account_id);
  for (const auto& r : tx.exec_params(kAccountHouseholds, account_id)) {
    const auto others = r[2].as<std::int64_t>(), other_owners = r[3].as<std::int64_t>();
    if (others == 0) {
      tx.exec_params0(kDeleteHousehold, r[0].as<std::string>());
    } else if (level_of(r[1]) == permission::owner && other_owners == 0) {
      throw domain_error(errc::conflict,
                         fmt::format("household {} (\"{}\") has other members and no other "
                                     "owner: make one of them an owner first",
                                     r[0].c_str(), r[4].c_str()));
    }
  }
  const auto revocation = record_revocation(tx, account_id);
  tx.exec_params0(kDeleteAccount, account_id);
  tx.commit();
  return revocation;
}

void lock_households(pqxx::transaction_base& tx, const std::vector<std::string_view>& ids) {
  exec_prepared_sql(tx, "hearth_lock_households", kLockHouseholds, json_ids(ids));
}

member add_member(pqxx::connection_base& conn, const std::string& caller_account_id,
                  const std::string& household_id, const std::string& email,
                  domain::permission permissions) {
  pqxx::work tx{conn};
  auto m = add_member_in(tx, caller_account_id, household_id, email, permissions);
  tx.commit();
  return m;
}

keyed_result<member> add_member(pqxx::connection_base& conn, const std::string& caller_account_id,
                                const std::string& household_id, const std::string& email,
                                domain::permission permissions, const idempotency& k,
                                const std::function<stored_response(const member&)>& answer) {
  pqxx::work tx{conn};
  // Before the key: a replay answers like any other request to the household.
  check_owner(tx, caller_account_id, household_id);
  auto out = keyed_write<member>(
      tx, k, [&] { return add_member_in(tx, caller_account_id, household_id, email, permissions); },
      answer);
  if (out.value) tx.commit();
  return out;
}

}  // namespace hearth::storage
