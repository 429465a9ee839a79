#pragma once
// Invitations to a household by e-mail (auth_token rows of purpose
// 'invitation', storage/account_tokens.hpp): an owner invites an address as
// owner, edit or view; the invitee joins with the link's single-use token
// (valid 7 days) after signing up or signing in, whatever its account's
// address (the token is the invitation: an owner may pass the link on by
// hand). Functions run on a pool thread; they throw domain_error (below)
// or what libpqxx throws.

#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "storage/households.hpp"

namespace hearth::storage {

/// A pending invitation as the household's owners see it (never a token).
/// Times are RFC 3339 UTC.
struct invitation {
  std::string id, household_id, email_address;
  domain::permission permissions = domain::permission::view;
  std::string created, expires;
};

/// Invites `email` to the household as `permissions`, by `caller_account_id`
/// (an owner), in one transaction that also runs `publish(tx, id)` (the
/// e-mail's message, api/account_mail.hpp; may be empty). Throws
/// domain_error: not_found (the caller is not a member), forbidden (not an
/// owner), conflict (an account with that address is a member already).
invitation invite(pqxx::connection_base& conn, const std::string& caller_account_id,
                  const std::string& household_id, const std::string& email,
                  domain::permission permissions,
                  const std::function<void(pqxx::work&, const std::string&)>& publish);

/// The household's pending (unexpired) invitations, newest first; owners
/// only (domain_error not_found / forbidden as invite()).
std::vector<invitation> list_invitations(pqxx::connection_base& conn,
                                         const std::string& caller_account_id,
                                         const std::string& household_id);

/// Withdraws a pending invitation (owners only); domain_error(not_found)
/// when it is not one of the household's.
void withdraw_invitation(pqxx::connection_base& conn, const std::string& caller_account_id,
                         const std::string& household_id, const std::string& invitation_id);

/// Joins the invitation's household as its level, for `account_id`.
/// nullopt when the token is unknown, used or expired, or its inviter is no
/// longer an owner of the household (the token is then spent). Throws
/// domain_error(conflict) when the account is a member already (the token
/// stays unused).
std::optional<member> accept_invitation(pqxx::connection_base& conn, const std::string& account_id,
                                        const std::string& token);

}  // namespace hearth::storage
