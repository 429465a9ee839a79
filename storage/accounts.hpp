#pragma once
// Accounts and sign-in sessions (auth_account, auth_session). Functions run
// on a pool thread with that thread's connection; they throw domain_error
// (conflict, not_found, unauthorized) or pqxx exceptions.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

namespace hearth::storage {

/// An account as shown to its owner (no password hash). Times are RFC 3339 UTC.
struct account {
  std::string id, email_address, name, created, updated;
};

/// A new session: `key` is shown once to the client, only its hash is stored.
struct session {
  std::string id, key, account_id, expires;
};

/// Who a request is: the session's account and the session itself.
struct principal {
  std::string account_id, session_id;
};

/// Creates an account; `password_hash` from hash_password(). Throws
/// domain_error(conflict) when the e-mail address (case-insensitive) is taken.
account create_account(pqxx::connection_base& conn, const std::string& email,
                       const std::string& name, const std::string& password_hash);

/// What sign-in checks, read by find_credentials(): `key` is the address as
/// PostgreSQL lower-cases it (what identifies the account, known or not:
/// the sign-in throttle's key); `account_id` and `password_hash` are ""
/// when no account has that address.
struct credentials {
  std::string key, account_id, password_hash;
};

/// The credentials of `email` (case-insensitive, one read-only query that
/// costs the same whether or not the account exists).
credentials find_credentials(pqxx::connection_base& conn, const std::string& email);

/// True when `password` is the account's (Argon2id verify, constant time).
/// An unknown account is verified against a dummy hash of the same cost
/// and is false: a miss takes as long as a wrong password.
/// CPU- and memory-heavy: pool threads only.
bool check_password(const credentials& c, const std::string& password);

/// A new session of `ttl_ms` for `account_id` (its key shown only here).
session open_session(pqxx::connection_base& conn, const std::string& account_id,
                     std::int64_t ttl_ms);

/// find_credentials + check_password + open_session. Throws
/// domain_error(unauthorized) on any mismatch, without telling which part
/// was wrong.
session sign_in(pqxx::connection_base& conn, const std::string& email, const std::string& password,
                std::int64_t ttl_ms);

/// The principal of an unexpired session key, or nullopt.
std::optional<principal> authenticate(pqxx::connection_base& conn, const std::string& key);

/// What the read cache (actors/cache.hpp) keeps per session key: the
/// principal, when the session expires (ms since the Unix epoch) and the ids
/// of the account's households, sorted.
struct principal_grant {
  std::string account_id, session_id;
  std::int64_t expires_ms = 0;
  std::vector<std::string> households;

  /// True when `household_id` is one of the account's households.
  bool member_of(const std::string& household_id) const;

  /// The households a list read covers: all of the account's, or only
  /// `filter` when given and the account is a member (none otherwise, so a
  /// stranger's filter lists nothing and leaks nothing).
  std::vector<std::string> visible_households(const std::optional<std::string>& filter) const;
};

/// The grant of an unexpired session key, or nullopt (two reads in one
/// read-only transaction).
std::optional<principal_grant> load_principal(pqxx::connection_base& conn, const std::string& key);

/// Ends a session (sign out) and records the revocation of its account
/// (storage/revocations.hpp); returns the revocation's seq, 0 when there was
/// no such session.
std::int64_t delete_session(pqxx::connection_base& conn, const std::string& session_id);

/// The account `id`; throws domain_error(not_found).
account get_account(pqxx::connection_base& conn, const std::string& id);

/// Sets the account's name; returns the account. Throws
/// domain_error(not_found).
account rename_account(pqxx::connection_base& conn, const std::string& id, const std::string& name);

/// One of an account's sessions as its owner sees it (never its key).
/// Times are RFC 3339 UTC.
struct session_info {
  std::string id, created, expires;
};

/// The account's unexpired sessions, newest first.
std::vector<session_info> list_sessions(pqxx::connection_base& conn, const std::string& account_id);

/// Ends one of the account's own sessions and records the account's
/// revocation; returns its seq. Throws domain_error(not_found) when the
/// session is not the account's (or gone): another account's session id
/// is not told apart from an unknown one.
std::int64_t end_session(pqxx::connection_base& conn, const std::string& account_id,
                         const std::string& session_id);

/// The credentials of the account `account_id` (as find_credentials reads
/// them by address); throws domain_error(not_found).
credentials credentials_of(pqxx::connection_base& conn, const std::string& account_id);

/// Sets the account's password (`password_hash` from hash_password()) and
/// ends every other session of it, in one transaction that records the
/// account's revocation. Returns the account and the revocation's seq.
std::pair<account, std::int64_t> change_password(pqxx::connection_base& conn,
                                                 const std::string& account_id,
                                                 const std::string& keep_session_id,
                                                 const std::string& password_hash);

/// The id of the account whose address is `email` (case-insensitive), or
/// nullopt.
std::optional<std::string> account_of_address(pqxx::transaction_base& tx, const std::string& email);

/// Throws domain_error(conflict) when an account other than `account_id`
/// has the address `email` (case-insensitive).
void check_address_free(pqxx::transaction_base& tx, const std::string& email,
                        const std::string& account_id);

/// Sets the account's e-mail address; returns the account. Throws
/// domain_error(conflict) when another account has it, not_found when the
/// account is gone.
account change_email(pqxx::connection_base& conn, const std::string& account_id,
                     const std::string& email);

/// Redeems a password-reset token (storage/account_tokens.hpp: it works
/// once, within its hour), sets the account's password (`password_hash`
/// from hash_password()) and ends every session of the account, in one
/// transaction that records the account's revocation. Returns the account
/// and the revocation's seq; nullopt when the token is unknown, used or
/// expired (nothing changed).
std::optional<std::pair<account, std::int64_t>> reset_password(pqxx::connection_base& conn,
                                                               const std::string& token,
                                                               const std::string& password_hash);

/// Redeems an address-confirmation token and sets the account's address
/// to the one it confirms; returns the account. nullopt when the token is
/// unknown, used or expired. Throws domain_error(conflict) when another
/// account took the address since (the token is then spent).
std::optional<account> confirm_email(pqxx::connection_base& conn, const std::string& token);

/// Deletes expired sessions inside `tx` (the scheduler's fenced run);
/// returns how many.
std::int64_t expire_sessions(pqxx::work& tx);

}  // namespace hearth::storage
