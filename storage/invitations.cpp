#include "storage/invitations.hpp"

#include "storage/account_tokens.hpp"
#include "storage/errors.hpp"

namespace hearth::storage {
namespace {

constexpr const char* kMemberByAddress =
    "SELECT 1 FROM auth_household_member m JOIN auth_account a ON a.id = m.auth_account_id "
    "WHERE m.auth_household_id = $1 AND lower(a.email_address) = lower($2::text)";
constexpr const char* kSelectInvitation =
    "SELECT id::text, auth_household_id::text, email_address, permissions, hearth_ts(created), "
    "hearth_ts(expires) FROM auth_token WHERE id = $1";
constexpr const char* kSelectInvitations =
    "SELECT id::text, auth_household_id::text, email_address, permissions, hearth_ts(created), "
    "hearth_ts(expires) FROM auth_token WHERE purpose = 'invitation' AND auth_household_id = $1 "
    "AND expires > now() ORDER BY created DESC, id";
constexpr const char* kDeleteInvitation =
    "DELETE FROM auth_token WHERE id = $1 AND purpose = 'invitation' AND auth_household_id = $2";
constexpr const char* kInsertMember =
    "INSERT INTO auth_household_member (auth_household_id, auth_account_id, permissions) "
    "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
constexpr const char* kSelectAccountAddress =
    "SELECT email_address FROM auth_account WHERE id = $1";

void check_owner(pqxx::transaction_base& tx, const std::string& caller_account_id,
                 const std::string& household_id) {
  authorize(permission_of(tx, caller_account_id, household_id), domain::household_action::manage,
            "only an owner of the household may invite");
}

invitation to_invitation(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
          level_of(r[3]),         r[4].as<std::string>(), r[5].as<std::string>()};
}

}  // namespace

invitation invite(pqxx::connection_base& conn, const std::string& caller_account_id,
                  const std::string& household_id, const std::string& email,
                  domain::permission permissions,
                  const std::function<void(pqxx::work&, const std::string&)>& publish) {
  pqxx::work tx{conn};
  check_owner(tx, caller_account_id, household_id);
  if (!tx.exec_params(kMemberByAddress, household_id, email).empty())
    throw domain_error(errc::conflict, "emailAddress: already a member of this household");
  auto id =
      request_token(tx, token_request{token_purpose::invitation, caller_account_id, email,
                                      household_id, std::string(domain::name_of(permissions))});
  if (publish) publish(tx, id);
  auto out = to_invitation(tx.exec_params1(kSelectInvitation, id));
  tx.commit();
  return out;
}

std::vector<invitation> list_invitations(pqxx::connection_base& conn,
                                         const std::string& caller_account_id,
                                         const std::string& household_id) {
  pqxx::read_transaction tx{conn};
  check_owner(tx, caller_account_id, household_id);
  std::vector<invitation> out;
  for (const auto& r : tx.exec_params(kSelectInvitations, household_id))
    out.push_back(to_invitation(r));
  return out;
}

void withdraw_invitation(pqxx::connection_base& conn, const std::string& caller_account_id,
                         const std::string& household_id, const std::string& invitation_id) {
  pqxx::work tx{conn};
  check_owner(tx, caller_account_id, household_id);
  if (tx.exec_params0(kDeleteInvitation, invitation_id, household_id).affected_rows() == 0)
    throw domain_error(errc::not_found, "invitation not found");
  tx.commit();
}

std::optional<member> accept_invitation(pqxx::connection_base& conn, const std::string& account_id,
                                        const std::string& token) {
  pqxx::work tx{conn};
  auto redeemed = redeem_token(tx, token_purpose::invitation, token);
  if (!redeemed) return std::nullopt;
  // An owner demoted or gone since no longer invites anyone.
  if (domain::may(permission_of(tx, redeemed->account_id, redeemed->household_id),
                  domain::household_action::manage) != domain::verdict::allowed) {
    tx.commit();  // spent
    return std::nullopt;
  }
  if (tx.exec_params0(kInsertMember, redeemed->household_id, account_id, redeemed->permissions)
          .affected_rows() == 0)
    throw domain_error(errc::conflict, "already a member of this household");  // rolled back
  member m{redeemed->household_id, account_id,
           tx.exec_params1(kSelectAccountAddress, account_id)[0].as<std::string>(),
           *domain::permission_named(redeemed->permissions)};
  tx.commit();
  return m;
}

}  // namespace hearth::storage
