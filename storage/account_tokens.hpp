#pragma once
// Single-use tokens sent by e-mail (migrations/013_account_tokens.up.sql):
// a password reset, the confirmation of a new e-mail address, an invitation
// to a household (storage/invitations.hpp).
//
// A request inserts a row without a token (request_token, in the
// transaction that publishes the e-mail's message). The e-mail's delivery
// issues the token (issue_token: 32 random bytes as base64url, 43
// characters) and stores only its SHA-256, so no usable token is ever in
// the database; a retried delivery issues a new one, and the earlier
// e-mail's link stops working. Redeeming (redeem_token) deletes the row:
// a token works once, within its lifetime (lifetime_of) from its request.
// Functions run on a pool thread; they throw what libpqxx throws.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

namespace hearth::storage {

enum class token_purpose { password_reset, email_change, invitation };

/// How long a token works after its request, in seconds: one hour for a
/// password reset or an address, seven days for an invitation.
std::int64_t lifetime_of(token_purpose purpose);

/// A request for a token.
struct token_request {
  token_purpose purpose = token_purpose::password_reset;
  std::string account_id;    // whose link; an invitation's: the inviting owner
  std::string email;         // email_change: the address; invitation: the invitee's
  std::string household_id;  // invitation only
  std::string permissions;   // invitation only: owner, edit or view
};

/// Records `r` inside `tx`; returns the request's id.
std::string request_token(pqxx::transaction_base& tx, const token_request& r);

/// request_token for a password reset ("" email) or an address change.
std::string request_token(pqxx::transaction_base& tx, token_purpose purpose,
                          const std::string& account_id, const std::string& email = "");

/// What the e-mail carrying a token needs.
struct issued_token {
  std::string token;  // shown only here, in the e-mail
  token_purpose purpose = token_purpose::password_reset;
  std::string to;           // the account's address, the new address, or the invitee's
  std::string name;         // the account's name (an invitation's: the inviter's)
  std::string expires;      // RFC 3339 UTC
  std::string household;    // an invitation's household name ("" otherwise)
  std::string permissions;  // an invitation's level ("" otherwise)
};

/// Issues the token of request `request_id` (a new random token whose
/// hash replaces any earlier one), in a transaction of its own. nullopt
/// when the request is gone: redeemed, expired or its account deleted.
std::optional<issued_token> issue_token(pqxx::connection_base& conn, const std::string& request_id);

/// A redeemed token: the request's fields (request_token).
struct redeemed_token {
  std::string account_id, email, household_id, permissions;
};

/// Redeems `token` for `purpose` inside `tx`: deletes its row and returns
/// it (the row stays if `tx` rolls back). nullopt when the token is not
/// one (not 43 base64url characters), unknown, already used, expired or
/// of another purpose.
std::optional<redeemed_token> redeem_token(pqxx::transaction_base& tx, token_purpose purpose,
                                           const std::string& token);

/// Housekeeping: deletes expired requests inside `tx`; returns how many.
std::int64_t purge_tokens(pqxx::transaction_base& tx);

}  // namespace hearth::storage
