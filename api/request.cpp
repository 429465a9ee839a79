#include "api/request.hpp"

#include <boost/algorithm/string/predicate.hpp>
#include <pqxx/pqxx>

#include "api/api.hpp"
#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/errors.hpp"

namespace hearth::api {

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
    log::warn("request {}: database unavailable: {}", request_id, e.what());
    return unavailable_response(request_id);
  } catch (const std::exception& e) {
    log::error("request {}: {}", request_id, e.what());
    return http::error(500, request_id, "");
  }
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

// The key as sent, before the bounds session_key() applies.
std::optional<std::string> find_session_key(const http::request& req) {
  auto auth = req.header("authorization");
  // The scheme is case-insensitive (RFC 9110 §11.1).
  if (auth.size() > 7 && boost::algorithm::iequals(auth.substr(0, 7), "bearer "))
    return std::string(auth.substr(7));
  auto cookies = req.header("cookie");
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    auto pair = cookies.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.substr(0, 15) == "hearth_session=") return std::string(pair.substr(15));
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> session_key(const http::request& req) {
  auto key = find_session_key(req);
  if (!key || key->empty() || key->size() > 200) return std::nullopt;
  return key;
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
void cached_principal(services& s, std::string key, const std::string& rid,
                      const http::responder& respond,
                      std::function<void(const storage::principal&)> next) {
  actors::list_query q;
  q.session_key = std::move(key);
  s.actors.read_list(std::move(q), [rid, respond, next = std::move(next)](actors::list_result r) {
    using outcome = actors::list_result::outcome;
    if (r.result == outcome::unauthorized) return respond(unauthorized_response(rid));
    if (r.result == outcome::unavailable || !r.who) return respond(unavailable_response(rid));
    next(storage::principal{r.who->account_id, r.who->session_id});
  });
}

}  // namespace

void with_principal(services& s, const http::request& req, const http::responder& respond,
                    std::function<void(const storage::principal&)> next) {
  auto key = session_key(req);
  if (!key) return respond(unauthorized_response(req.request_id, ""));
  if (s.actors.caching())
    return cached_principal(s, std::move(*key), req.request_id, respond, std::move(next));
  trace::scope in(req.trace);
  bool queued = s.db.submit([rid = req.request_id, key = *key, respond,
                             next = std::move(next)](storage::connection& conn) {
    std::optional<storage::principal> who;
    try {
      who = storage::authenticate(conn, key);
    } catch (...) {
      return respond(failure_response(rid));
    }
    if (!who) return respond(unauthorized_response(rid));
    next(*who);
  });
  if (!queued) respond(busy_response(req.request_id));
}

void run_authenticated(services& s, const http::request& req, http::responder respond,
                       authed_work work) {
  auto key = session_key(req);
  if (!key) return respond(unauthorized_response(req.request_id, ""));
  if (s.actors.caching()) {
    // The session from the read cache (memory; the database on a miss),
    // then the work on the pool: one transaction less per request.
    return cached_principal(
        s, std::move(*key), req.request_id, respond,
        [&s, rid = req.request_id, parent = req.trace, respond,
         work = std::move(work)](const storage::principal& who) {
          run_db_as(s, rid, parent, respond,
                    [who, work](storage::connection& conn) { return work(conn, who); });
        });
  }
  run_db(s, req, std::move(respond),
         [rid = req.request_id, key = *key, work = std::move(work)](storage::connection& conn) {
           auto who = storage::authenticate(conn, key);
           if (!who) return unauthorized_response(rid);
           return work(conn, *who);
         });
}

}  // namespace hearth::api
