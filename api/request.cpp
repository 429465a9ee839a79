#include "api/request.hpp"

#include <boost/algorithm/string/predicate.hpp>
#include <boost/json/parse.hpp>
#include <cctype>
#include <pqxx/pqxx>

#include "api/api.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/idempotency_key.hpp"
#include "http/json_input.hpp"
#include "storage/errors.hpp"

namespace hearth::api {
using log::first_line;

unsigned status_of(storage::errc c) {
  switch (c) {
    case storage::errc::not_found:
      return 404;
    case storage::errc::forbidden:
      return 403;
    case storage::errc::conflict:
      return 409;
    case storage::errc::invalid:
      return 400;
    case storage::errc::unauthorized:
      return 401;
    case storage::errc::busy:
      return 503;
    case storage::errc::unprocessable:
      return 422;
  }
  return 500;
}

http::response failure_response(const std::string& request_id) {
  try {
    throw;
  } catch (const storage::domain_error& e) {
    auto r = http::error(status_of(e.code), request_id, e.what());
    if (e.code == storage::errc::busy) r.headers.emplace_back("Retry-After", "1");
    if (e.code == storage::errc::unauthorized) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  } catch (const http::input_error& e) {
    return http::error(400, request_id, e.what());
  } catch (const pqxx::broken_connection& e) {
    log::warn_once("request.database",
                   fmt::format("database unavailable: {}", first_line(e.what())),
                   "request " + request_id);
    return unavailable_response(request_id);
  } catch (const pqxx::in_doubt_error& e) {
    log::warn_once("request.in_doubt", first_line(e.what()), "request " + request_id);
    auto r = http::error(503, request_id,
                         "database connection lost during commit: the change may have been "
                         "applied; retry with the same Idempotency-Key, or read it back");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  } catch (const pqxx::sql_error& e) {
    // The server is shutting down, restarting or recovering (class 57P:
    // operator intervention; class 08: connection exception): not a bug.
    const std::string& state = e.sqlstate();
    if (state == "57P01" || state == "57P02" || state == "57P03" || state.rfind("08", 0) == 0) {
      log::warn_once("request.database",
                     fmt::format("database unavailable: {}", first_line(e.what())),
                     "request " + request_id);
      return unavailable_response(request_id);
    }
    // A deadlock or serialization failure (class 40): the transaction was
    // rolled back whole, so retrying is safe.
    if (state.rfind("40", 0) == 0) {
      log::warn_once("request.retry", first_line(e.what()), "request " + request_id);
      auto r = http::error(503, request_id, "the write collided with another; retry");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    log::error("request {}: {}", request_id, e.what());
    return http::error(500, request_id, "");
  } catch (const std::exception& e) {
    log::error("request {}: {}", request_id, e.what());
    return http::error(500, request_id, "");
  }
}

http::response failure_of(const std::string& request_id, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const storage::pool_refused&) {
    return busy_response(request_id);
  } catch (...) {
    return failure_response(request_id);
  }
}

std::optional<storage::idempotency> idempotency_of(const http::request& req,
                                                   unsigned success_status) {
  auto key = http::idempotency_key(req);
  if (!key) return std::nullopt;
  storage::idempotency out;
  out.key = std::move(*key);
  out.fingerprint = storage::request_fingerprint(req.method, req.target, req.body);
  out.success_status = success_status;
  return out;
}

std::optional<storage::idempotency> keyed_by(std::optional<storage::idempotency> idem,
                                             const storage::principal& who) {
  if (idem) idem->account_id = who.account_id;
  return idem;
}

http::response replayed_response(const std::string& request_id, const storage::stored_response& r) {
  std::size_t total = 0;
  try {
    total = boost::json::parse(r.data_value).as_array().size();
  } catch (const std::exception&) {
    // Written by hearth as a JSON array; an unreadable one counts as empty.
  }
  auto res = http::ok_serialized(r.status, request_id, r.data_type, total, r.data_value);
  res.headers.emplace_back("Idempotent-Replayed", "true");
  return res;
}

std::string public_base_url(const services& s, const http::request& req) {
  if (!s.cfg.public_url.empty()) {
    auto u = s.cfg.public_url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
  }
  std::string host(req.header("host"));
  bool plain = !host.empty() && host.size() <= 255;
  for (char c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']')
      plain = false;
  if (!plain) host = s.cfg.http_addr;
  return (s.cfg.tls_cert.empty() ? "http://" : "https://") + host;
}

http::response busy_response(const std::string& request_id) {
  auto r = http::error(503, request_id, "server busy, try again");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

http::response unavailable_response(const std::string& request_id) {
  auto r = http::error(503, request_id, "database unavailable, try again");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

http::response unauthorized_response(const std::string& request_id, const std::string& message) {
  auto r = http::error(401, request_id, message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

namespace {

// The bearer key as sent, if the request has one.
std::optional<std::string_view> bearer_key(const http::request& req) {
  auto auth = req.header("authorization");
  // The scheme is case-insensitive (RFC 9110 §11.1).
  if (auth.size() > 7 && boost::algorithm::iequals(auth.substr(0, 7), "bearer "))
    return auth.substr(7);
  return std::nullopt;
}

// The hearth_session cookie's value, if the request has one.
std::optional<std::string_view> cookie_key(const http::request& req) {
  auto cookies = req.header("cookie");
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    auto pair = cookies.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.substr(0, 15) == "hearth_session=") return pair.substr(15);
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> session_key(const http::request& req) {
  auto key = bearer_key(req);
  if (!key) key = cookie_key(req);
  if (!key || key->empty() || key->size() > 200) return std::nullopt;
  return std::string(*key);
}

bool cookie_authenticated(const http::request& req) { return !bearer_key(req) && cookie_key(req); }

std::optional<std::string> admitted_session_key(services& s, const http::request& req,
                                                const http::responder& respond) {
  auto key = session_key(req);
  if (!key) {
    respond(unauthorized_response(req.request_id, ""));
    return std::nullopt;
  }
  if (auto wait = s.guard.admit_key(req.remote_addr)) {
    respond(auth_guard::too_many(req.request_id, wait,
                                 "too many unknown session keys from this address: sign in "
                                 "again later"));
    return std::nullopt;
  }
  return key;
}

http::response rejected_key_response(services& s, const std::string& remote_addr,
                                     const std::string& request_id) {
  s.guard.key_rejected(remote_addr);
  return unauthorized_response(request_id);
}

namespace {

// `parent`: the request's server span; the job is its "pool.job" child
// (storage::pool::submit), whichever thread submits it.
void run_db_as(services& s, const std::string& rid, const trace::context& parent,
               http::responder respond, db_work work) {
  trace::scope in(parent);
  bool queued = s.db.submit([rid, respond, work = std::move(work)](storage::connection& conn) {
    try {
      respond(work(conn));
    } catch (...) {
      respond(failure_response(rid));
    }
  });
  if (!queued) respond(busy_response(rid));
}

}  // namespace

void run_db(services& s, const http::request& req, http::responder respond, db_work work) {
  run_db_as(s, req.request_id, req.trace, std::move(respond), std::move(work));
}

namespace {

// The session of `key` from the read cache (the I/O thread's replica, else
// the cache actor): `next` gets the principal; 401 or 503 otherwise.
void cached_principal(services& s, std::string key, const http::request& req,
                      const http::responder& respond,
                      std::function<void(const storage::principal&)> next) {
  s.actors.authenticate(std::move(key), [&s, rid = req.request_id, ip = req.remote_addr, respond,
                                         next = std::move(next)](actors::auth_result r) {
    using outcome = actors::auth_result::outcome;
    if (r.result == outcome::unauthorized) return respond(rejected_key_response(s, ip, rid));
    if (r.result == outcome::unavailable || !r.who) return respond(unavailable_response(rid));
    next(storage::principal{r.who->account_id, r.who->session_id});
  });
}

}  // namespace

void with_principal(services& s, const http::request& req, const http::responder& respond,
                    std::function<void(const storage::principal&)> next) {
  auto key = admitted_session_key(s, req, respond);
  if (!key) return;
  if (s.actors.caching())
    return cached_principal(s, std::move(*key), req, respond, std::move(next));
  trace::scope in(req.trace);
  bool queued = s.db.submit([&s, rid = req.request_id, ip = req.remote_addr, key = *key, respond,
                             next = std::move(next)](storage::connection& conn) {
    std::optional<storage::principal> who;
    try {
      who = storage::authenticate(conn, key);
    } catch (...) {
      return respond(failure_response(rid));
    }
    if (!who) return respond(rejected_key_response(s, ip, rid));
    next(*who);
  });
  if (!queued) respond(busy_response(req.request_id));
}

void run_authenticated(services& s, const http::request& req, http::responder respond,
                       authed_work work) {
  auto key = admitted_session_key(s, req, respond);
  if (!key) return;
  if (s.actors.caching()) {
    // The session from the read cache (memory; the database on a miss),
    // then the work on the pool: one transaction less per request.
    return cached_principal(
        s, std::move(*key), req, respond,
        [&s, rid = req.request_id, parent = req.trace, respond,
         work = std::move(work)](const storage::principal& who) {
          run_db_as(s, rid, parent, respond,
                    [who, work](storage::connection& conn) { return work(conn, who); });
        });
  }
  run_db(s, req, std::move(respond),
         [&s, rid = req.request_id, ip = req.remote_addr, key = *key,
          work = std::move(work)](storage::connection& conn) {
           auto who = storage::authenticate(conn, key);
           if (!who) return rejected_key_response(s, ip, rid);
           return work(conn, *who);
         });
}

}  // namespace hearth::api
