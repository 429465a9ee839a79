#pragma once
// Accounts and sign-in sessions (auth_account, auth_session). Functions run
// on a pool thread with that thread's connection; they throw domain_error
// (conflict, not_found, unauthorized) or pqxx exceptions.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

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

/// Checks e-mail + password (Argon2id verify) and opens a session of
/// `ttl_ms`. Throws domain_error(unauthorized) on any mismatch, without
/// telling which part was wrong.
session sign_in(pqxx::connection_base& conn, const std::string& email, const std::string& password,
                std::int64_t ttl_ms);

/// The principal of an unexpired session key, or nullopt.
std::optional<principal> authenticate(pqxx::connection_base& conn, const std::string& key);

/// Ends a session (sign out).
void delete_session(pqxx::connection_base& conn, const std::string& session_id);

/// The account `id`; throws domain_error(not_found).
account get_account(pqxx::connection_base& conn, const std::string& id);

/// Deletes expired sessions inside `tx` (the scheduler's fenced run);
/// returns how many.
std::int64_t expire_sessions(pqxx::work& tx);

}  // namespace hearth::storage
