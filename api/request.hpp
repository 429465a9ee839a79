#pragma once
// The request layer shared by hearth's own routes (api/*_api.cpp) and by
// modules (apps/): authenticate the caller, run the work on the storage pool
// (never on the network thread), and map every failure to a status in
// exactly one place (failure_response). Statuses follow RFC 9110 §15; the
// envelope is described in docs/api.md ("Errors").

#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "http/types.hpp"
#include "storage/accounts.hpp"
#include "storage/errors.hpp"
#include "storage/idempotency.hpp"
#include "storage/pool.hpp"

namespace hearth::api {

struct services;

/// Work that produces the response on a pool thread.
using db_work = std::function<http::response(storage::connection&)>;
using authed_work = std::function<http::response(storage::connection&, const storage::principal&)>;

/// The status of a domain error: not_found 404, forbidden 403, conflict 409,
/// invalid 400, unauthorized 401, busy 503, unprocessable 422.
unsigned status_of(storage::errc code);

/// The one mapping of failures to responses; call it inside a catch block
/// (it rethrows the current exception to inspect it):
///   storage::domain_error   status_of(code) with its message (busy: Retry-After: 1)
///   http::input_error       400 naming the field
///   pqxx::broken_connection 503 "database unavailable, try again" (logged at warn,
///                           once per repeat interval: config/log_limiter.hpp)
///   pqxx::sql_error of SQLSTATE class 08 or 57P01-57P03 (server shutting
///                           down, restarting, recovering): the same 503
///   pqxx::in_doubt_error    503: the connection broke during COMMIT
///   pqxx::sql_error of SQLSTATE class 40 (deadlock, serialization): 503
///                           with Retry-After: 1 (rolled back whole)
///   anything else           500 with an empty message (logged at error)
http::response failure_response(const std::string& request_id);

/// failure_response for an exception held in `e` (a write_batcher's
/// answer; storage/group_commit.hpp); a refused job (storage::pool_refused) is
/// busy_response's 503.
http::response failure_of(const std::string& request_id, std::exception_ptr e);

/// The answer when the pool refuses a job (stopping, or max_queue full):
/// 503 with Retry-After: 1.
http::response busy_response(const std::string& request_id);

/// The answer when PostgreSQL cannot be reached: 503 with Retry-After: 1.
http::response unavailable_response(const std::string& request_id);

/// The answer to an unknown or expired session key (or, with `message`
/// "", a missing one: the default message asks to sign in): 401 with
/// `WWW-Authenticate: Bearer` (RFC 9110 §11.6.1, RFC 6750 §3).
http::response unauthorized_response(
    const std::string& request_id,
    const std::string& message = "session expired or unknown: sign in again");

/// The session key from `Authorization: Bearer <key>` or the
/// `hearth_session` cookie, or nullopt when there is none or it cannot be a
/// key (empty, or over 200 bytes): the caller answers 401.
std::optional<std::string> session_key(const http::request& req);

/// True when `req` would be authenticated by the `hearth_session` cookie:
/// it has that cookie and no `Authorization: Bearer` (which wins). What the
/// cross-site check of writes applies to (http::same_origin_writes).
bool cookie_authenticated(const http::request& req);

/// The session key of `req` for an authenticated route, or nullopt once
/// `respond` has answered: 401 without a usable key, 429 with Retry-After
/// when the client's IP is throttled for unknown keys (auth_guard).
std::optional<std::string> admitted_session_key(services& s, const http::request& req,
                                                const http::responder& respond);

/// The 401 of an unknown or expired key (unauthorized_response), counted
/// against the client's IP `remote_addr` (auth_guard::key_rejected).
http::response rejected_key_response(services& s, const std::string& remote_addr,
                                     const std::string& request_id);

/// Where clients reach this node, for links sent out (a calendar feed, an
/// e-mail's link): publicURL without its trailing '/', else the request's
/// scheme and Host; a Host that is not a plain host[:port] falls back to
/// httpAddr, so a forged Host cannot put another site in a link.
std::string public_base_url(const services& s, const http::request& req);

/// The Idempotency-Key header of a write (draft-ietf-httpapi-idempotency-key-
/// header; docs/api.md): nullopt without one; throws http::input_error (400)
/// when it is sent twice or is not 1–255 visible ASCII characters (0x21–0x7E;
/// http::idempotency_key, http/idempotency_key.hpp). The result has
/// the request's fingerprint (method, target, body) and `success_status`;
/// the caller sets its account_id once the caller is authenticated.
std::optional<storage::idempotency> idempotency_of(const http::request& req,
                                                   unsigned success_status);

/// `idem` (from idempotency_of) for the authenticated caller: keys are per account.
std::optional<storage::idempotency> keyed_by(std::optional<storage::idempotency> idem,
                                             const storage::principal& who);

/// The answer to a retry of a keyed write that succeeded before: the stored
/// status, dataType and dataValue in an envelope with this request's id,
/// and `Idempotent-Replayed: true`.
http::response replayed_response(const std::string& request_id, const storage::stored_response& r);

/// Runs `work` on the pool and responds with its result; a throw becomes
/// failure_response(), a refused job busy_response().
void run_db(services& s, const http::request& req, http::responder respond, db_work work);

/// Authenticates the caller (401 when the key is missing, unknown or
/// expired; 429 when the client's IP is throttled) and calls `next` with the principal: on the I/O
/// thread from its read replica, else on an actor or pool thread. For work that is not a plain pool
/// job (e.g. the group commit of creations).
void with_principal(services& s, const http::request& req, const http::responder& respond,
                    std::function<void(const storage::principal&)> next);

/// Like run_db, after authenticating the caller (401 when the key is
/// missing, unknown or expired; 429 when the client's IP is throttled). With the read cache on, the
/// session comes from the cache actor (memory) and only the work runs on the pool.
void run_authenticated(services& s, const http::request& req, http::responder respond,
                       authed_work work);

}  // namespace hearth::api
