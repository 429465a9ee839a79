#include "storage/accounts.hpp"

#include <algorithm>

#include "storage/account_tokens.hpp"
#include "storage/crypto.hpp"
#include "storage/errors.hpp"
#include "storage/revocations.hpp"

namespace hearth::storage {
namespace {

constexpr const char* kInsertAccount =
    "INSERT INTO auth_account (email_address, name, password_hash) VALUES ($1, $2, $3) "
    "RETURNING id, email_address, name, hearth_ts(created), hearth_ts(updated)";
constexpr const char* kSelectAccount =
    "SELECT id, email_address, name, hearth_ts(created), hearth_ts(updated) FROM auth_account "
    "WHERE id = $1";
// One row whether or not the account exists (lower() is the unique
// index's expression, so the lookup is an index scan either way).
constexpr const char* kSelectCredentials =
    "SELECT lower($1::text), a.id, a.password_hash FROM (SELECT 1) AS one "
    "LEFT JOIN auth_account a ON lower(a.email_address) = lower($1::text)";
constexpr const char* kInsertSession =
    "INSERT INTO auth_session (auth_account_id, key_hash, expires) "
    "VALUES ($1, $2, now() + $3 * interval '1 millisecond') RETURNING id, hearth_ts(expires)";
constexpr const char* kSelectSession =
    "SELECT auth_account_id, id FROM auth_session WHERE key_hash = $1 AND expires > now()";
constexpr const char* kSelectGrant =
    "SELECT auth_account_id, id, (extract(epoch FROM expires) * 1000)::bigint FROM auth_session "
    "WHERE key_hash = $1 AND expires > now()";
constexpr const char* kSelectMemberships =
    "SELECT auth_household_id FROM auth_household_member WHERE auth_account_id = $1";
// A session by id, and only of account $2 when $2 is not NULL.
constexpr const char* kDeleteSession =
    "DELETE FROM auth_session WHERE id = $1 AND ($2::uuid IS NULL OR auth_account_id = $2) "
    "RETURNING auth_account_id::text";
constexpr const char* kExpireSessions = "DELETE FROM auth_session WHERE expires <= now()";
constexpr const char* kRenameAccount =
    "UPDATE auth_account SET name = $2, updated = now() WHERE id = $1 "
    "RETURNING id, email_address, name, hearth_ts(created), hearth_ts(updated)";
constexpr const char* kSelectSessions =
    "SELECT id, hearth_ts(created), hearth_ts(expires) FROM auth_session "
    "WHERE auth_account_id = $1 AND expires > now() ORDER BY created DESC, id";
constexpr const char* kCredentialsOf =
    "SELECT lower(email_address), id, password_hash FROM auth_account WHERE id = $1";
constexpr const char* kSetPassword =
    "UPDATE auth_account SET password_hash = $2, updated = now() WHERE id = $1 "
    "RETURNING id, email_address, name, hearth_ts(created), hearth_ts(updated)";
// Every session of the account but $2 (NULL: every one).
constexpr const char* kEndSessions =
    "DELETE FROM auth_session WHERE auth_account_id = $1 AND id IS DISTINCT FROM $2::uuid";
constexpr const char* kAccountOfAddress =
    "SELECT id::text FROM auth_account WHERE lower(email_address) = lower($1::text)";
constexpr const char* kSetEmail =
    "UPDATE auth_account SET email_address = $2, updated = now() WHERE id = $1 "
    "RETURNING id, email_address, name, hearth_ts(created), hearth_ts(updated)";

constexpr const char* kAddressTaken = "emailAddress: an account with this address exists";

account to_account(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
          r[3].as<std::string>(), r[4].as<std::string>()};
}

// A dummy Argon2id hash, verified against when the e-mail is unknown so that
// sign-in takes the same time whether or not an account exists.
const std::string& dummy_hash() {
  static const std::string h = hash_password("hearth-timing-equaliser");
  return h;
}

}  // namespace

account create_account(pqxx::connection_base& conn, const std::string& email,
                       const std::string& name, const std::string& password_hash) {
  pqxx::work tx{conn};
  try {
    auto r = tx.exec_params1(kInsertAccount, email, name, password_hash);
    tx.commit();
    return to_account(r);
  } catch (const pqxx::unique_violation&) {
    throw domain_error(errc::conflict, kAddressTaken);
  }
}

credentials find_credentials(pqxx::connection_base& conn, const std::string& email) {
  pqxx::read_transaction tx{conn};
  auto r = tx.exec_params1(kSelectCredentials, email);
  credentials c;
  c.key = r[0].as<std::string>();
  if (!r[1].is_null()) {
    c.account_id = r[1].as<std::string>();
    c.password_hash = r[2].as<std::string>();
  }
  return c;
}

bool check_password(const credentials& c, const std::string& password) {
  const bool known = !c.password_hash.empty();
  return verify_password(known ? c.password_hash : dummy_hash(), password) && known;
}

session open_session(pqxx::connection_base& conn, const std::string& account_id,
                     std::int64_t ttl_ms) {
  session s;
  s.key = new_session_key();
  s.account_id = account_id;
  pqxx::work tx{conn};
  pqxx::binarystring key_hash(session_key_hash(s.key));
  auto r = tx.exec_params1(kInsertSession, account_id, key_hash, ttl_ms);
  tx.commit();
  s.id = r[0].as<std::string>();
  s.expires = r[1].as<std::string>();
  return s;
}

session sign_in(pqxx::connection_base& conn, const std::string& email, const std::string& password,
                std::int64_t ttl_ms) {
  auto c = find_credentials(conn, email);
  if (!check_password(c, password))
    throw domain_error(errc::unauthorized, "wrong emailAddress or password");
  return open_session(conn, c.account_id, ttl_ms);
}

std::optional<principal> authenticate(pqxx::connection_base& conn, const std::string& key) {
  pqxx::read_transaction tx{conn};
  pqxx::binarystring key_hash(session_key_hash(key));
  auto r = tx.exec_params(kSelectSession, key_hash);
  if (r.empty()) return std::nullopt;
  return principal{r[0][0].as<std::string>(), r[0][1].as<std::string>()};
}

bool principal_grant::member_of(const std::string& household_id) const {
  return std::binary_search(households.begin(), households.end(), household_id);
}

std::vector<std::string> principal_grant::visible_households(
    const std::optional<std::string>& filter) const {
  if (!filter) return households;
  if (member_of(*filter)) return {*filter};
  return {};
}

std::optional<principal_grant> load_principal(pqxx::connection_base& conn, const std::string& key) {
  pqxx::read_transaction tx{conn};
  pqxx::binarystring key_hash(session_key_hash(key));
  auto r = tx.exec_params(kSelectGrant, key_hash);
  if (r.empty()) return std::nullopt;
  principal_grant g{
      r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::int64_t>(), {}};
  for (const auto& m : tx.exec_params(kSelectMemberships, g.account_id))
    g.households.push_back(m[0].as<std::string>());
  std::sort(g.households.begin(), g.households.end());  // for member_of()
  return g;
}

namespace {
// Ends session `session_id` (of `account_id` only, when given) and records
// its account's revocation, in one transaction; nullopt when there was no
// such session.
std::optional<std::int64_t> end_session_of(pqxx::connection_base& conn,
                                           const std::string& session_id,
                                           const std::optional<std::string>& account_id) {
  pqxx::work tx{conn};
  auto r = tx.exec_params(kDeleteSession, session_id, account_id);
  if (r.empty()) return std::nullopt;
  const auto revocation = record_revocation(tx, r[0][0].as<std::string>());
  tx.commit();
  return revocation;
}
}  // namespace

std::int64_t delete_session(pqxx::connection_base& conn, const std::string& session_id) {
  return end_session_of(conn, session_id, std::nullopt).value_or(0);
}

account get_account(pqxx::connection_base& conn, const std::string& id) {
  pqxx::read_transaction tx{conn};
  auto r = tx.exec_params(kSelectAccount, id);
  if (r.empty()) throw domain_error(errc::not_found, "account not found");
  return to_account(r[0]);
}

account rename_account(pqxx::connection_base& conn, const std::string& id,
                       const std::string& name) {
  pqxx::work tx{conn};
  auto r = tx.exec_params(kRenameAccount, id, name);
  if (r.empty()) throw domain_error(errc::not_found, "account not found");
  tx.commit();
  return to_account(r[0]);
}

std::vector<session_info> list_sessions(pqxx::connection_base& conn,
                                        const std::string& account_id) {
  pqxx::read_transaction tx{conn};
  std::vector<session_info> out;
  for (const auto& r : tx.exec_params(kSelectSessions, account_id))
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
  return out;
}

std::int64_t end_session(pqxx::connection_base& conn, const std::string& account_id,
                         const std::string& session_id) {
  auto revocation = end_session_of(conn, session_id, account_id);
  if (!revocation) throw domain_error(errc::not_found, "session not found");
  return *revocation;
}

credentials credentials_of(pqxx::connection_base& conn, const std::string& account_id) {
  pqxx::read_transaction tx{conn};
  auto r = tx.exec_params(kCredentialsOf, account_id);
  if (r.empty()) throw domain_error(errc::not_found, "account not found");
  return {r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>()};
}

namespace {
// Sets the account's password and ends its sessions but `keep` (nullopt:
// all of them), recording the revocation, inside `tx`. nullopt when the
// account is gone.
std::optional<std::pair<account, std::int64_t>> set_password_in(
    pqxx::transaction_base& tx, const std::string& account_id, const std::string& password_hash,
    const std::optional<std::string>& keep) {
  auto r = tx.exec_params(kSetPassword, account_id, password_hash);
  if (r.empty()) return std::nullopt;
  tx.exec_params0(kEndSessions, account_id, keep);
  return std::pair{to_account(r[0]), record_revocation(tx, account_id)};
}
}  // namespace

std::pair<account, std::int64_t> change_password(pqxx::connection_base& conn,
                                                 const std::string& account_id,
                                                 const std::string& keep_session_id,
                                                 const std::string& password_hash) {
  pqxx::work tx{conn};
  auto done = set_password_in(tx, account_id, password_hash, keep_session_id);
  if (!done) throw domain_error(errc::not_found, "account not found");
  tx.commit();
  return std::move(*done);
}

std::optional<std::string> account_of_address(pqxx::transaction_base& tx,
                                              const std::string& email) {
  auto r = tx.exec_params(kAccountOfAddress, email);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

void check_address_free(pqxx::transaction_base& tx, const std::string& email,
                        const std::string& account_id) {
  auto owner = account_of_address(tx, email);
  if (owner && *owner != account_id) throw domain_error(errc::conflict, kAddressTaken);
}

namespace {
// Sets the address inside `tx`: conflict when another account has it
// (the unique index on lower(email_address) decides, under concurrency too).
account set_email(pqxx::transaction_base& tx, const std::string& account_id,
                  const std::string& email) {
  try {
    tx.exec0("SAVEPOINT set_email");
    auto r = tx.exec_params(kSetEmail, account_id, email);
    tx.exec0("RELEASE SAVEPOINT set_email");
    if (r.empty()) throw domain_error(errc::not_found, "account not found");
    return to_account(r[0]);
  } catch (const pqxx::unique_violation&) {
    tx.exec0("ROLLBACK TO SAVEPOINT set_email");
    throw domain_error(errc::conflict, kAddressTaken);
  }
}
}  // namespace

account change_email(pqxx::connection_base& conn, const std::string& account_id,
                     const std::string& email) {
  pqxx::work tx{conn};
  auto a = set_email(tx, account_id, email);
  tx.commit();
  return a;
}

std::optional<std::pair<account, std::int64_t>> reset_password(pqxx::connection_base& conn,
                                                               const std::string& token,
                                                               const std::string& password_hash) {
  pqxx::work tx{conn};
  auto redeemed = redeem_token(tx, token_purpose::password_reset, token);
  if (!redeemed) return std::nullopt;
  auto done = set_password_in(tx, redeemed->account_id, password_hash, std::nullopt);
  if (done) tx.commit();  // else the account went meanwhile
  return done;
}

std::optional<account> confirm_email(pqxx::connection_base& conn, const std::string& token) {
  pqxx::work tx{conn};
  auto redeemed = redeem_token(tx, token_purpose::email_change, token);
  if (!redeemed) return std::nullopt;
  try {
    auto a = set_email(tx, redeemed->account_id, redeemed->email);
    tx.commit();
    return a;
  } catch (const domain_error& e) {
    if (e.code != errc::conflict) throw;
    tx.commit();  // the token is spent: its address went to another account
    throw;
  }
}

std::int64_t expire_sessions(pqxx::work& tx) {
  return static_cast<std::int64_t>(tx.exec0(kExpireSessions).affected_rows());
}

}  // namespace hearth::storage
