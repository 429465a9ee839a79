#include "storage/account_tokens.hpp"

#include "storage/crypto.hpp"

namespace hearth::storage {
namespace {

constexpr const char* kInsertRequest =
    "INSERT INTO auth_token (purpose, auth_account_id, email_address, auth_household_id, "
    "permissions, expires) VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, '')::uuid, NULLIF($5, ''), "
    "now() + $6 * interval '1 second') RETURNING id::text";
// Only a live request gets a token; its account's name and address come
// along for the e-mail.
constexpr const char* kIssue =
    "UPDATE auth_token t SET token_hash = $2 FROM auth_account a "
    "WHERE t.id = $1 AND t.expires > now() AND a.id = t.auth_account_id "
    "RETURNING t.purpose, coalesce(t.email_address, a.email_address), a.name, "
    "hearth_ts(t.expires), "
    "coalesce((SELECT h.name FROM auth_household h WHERE h.id = t.auth_household_id), ''), "
    "coalesce(t.permissions, '')";
constexpr const char* kRedeem =
    "DELETE FROM auth_token WHERE token_hash = $1 AND purpose = $2 AND expires > now() "
    "RETURNING auth_account_id::text, coalesce(email_address, ''), "
    "coalesce(auth_household_id::text, ''), coalesce(permissions, '')";
constexpr const char* kPurge = "DELETE FROM auth_token WHERE expires <= now()";

const char* name_of(token_purpose p) {
  switch (p) {
    case token_purpose::password_reset:
      return "password_reset";
    case token_purpose::email_change:
      return "email_change";
    case token_purpose::invitation:
      return "invitation";
  }
  return "";
}

token_purpose purpose_named(const std::string& name) {
  if (name == "email_change") return token_purpose::email_change;
  if (name == "invitation") return token_purpose::invitation;
  return token_purpose::password_reset;
}

// A token as issue_token makes them: 32 bytes as base64url (43 characters).
bool token_shaped(const std::string& token) {
  std::string bytes;
  return token.size() == 43 && base64url_decode(token, bytes) && bytes.size() == 32;
}

}  // namespace

std::int64_t lifetime_of(token_purpose purpose) {
  return purpose == token_purpose::invitation ? 7 * 86'400 : 3'600;
}

std::string request_token(pqxx::transaction_base& tx, const token_request& r) {
  return tx
      .exec_params1(kInsertRequest, name_of(r.purpose), r.account_id, r.email, r.household_id,
                    r.permissions, lifetime_of(r.purpose))[0]
      .as<std::string>();
}

std::string request_token(pqxx::transaction_base& tx, token_purpose purpose,
                          const std::string& account_id, const std::string& email) {
  return request_token(tx, token_request{purpose, account_id, email, "", ""});
}

std::optional<issued_token> issue_token(pqxx::connection_base& conn,
                                        const std::string& request_id) {
  issued_token out;
  out.token = new_session_key();  // 32 random bytes, base64url
  pqxx::work tx{conn};
  auto r = tx.exec_params(kIssue, request_id, pqxx::binarystring(session_key_hash(out.token)));
  if (r.empty()) return std::nullopt;
  tx.commit();
  out.purpose = purpose_named(r[0][0].as<std::string>());
  out.to = r[0][1].as<std::string>();
  out.name = r[0][2].as<std::string>();
  out.expires = r[0][3].as<std::string>();
  out.household = r[0][4].as<std::string>();
  out.permissions = r[0][5].as<std::string>();
  return out;
}

std::optional<redeemed_token> redeem_token(pqxx::transaction_base& tx, token_purpose purpose,
                                           const std::string& token) {
  if (!token_shaped(token)) return std::nullopt;
  auto r = tx.exec_params(kRedeem, pqxx::binarystring(session_key_hash(token)), name_of(purpose));
  if (r.empty()) return std::nullopt;
  return redeemed_token{r[0][0].as<std::string>(), r[0][1].as<std::string>(),
                        r[0][2].as<std::string>(), r[0][3].as<std::string>()};
}

std::int64_t purge_tokens(pqxx::transaction_base& tx) {
  return static_cast<std::int64_t>(tx.exec0(kPurge).affected_rows());
}

}  // namespace hearth::storage
