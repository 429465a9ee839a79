#include "http/middleware.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/ip_range.hpp"

namespace hearth::http {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The origin of an absolute URL (RFC 6454 §4): "scheme://host[:port]"
// lower-case, or "" when `url` is not an http(s) URL with a host.
std::string origin_of(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || !u->has_authority() || u->encoded_host().empty()) return "";
  auto scheme = lower(u->scheme());
  if (scheme != "http" && scheme != "https") return "";
  return scheme + "://" + lower(u->encoded_host_and_port());
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

handler compose(const std::vector<middleware>& chain, handler h) {
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    h = [mw = *it, next = std::move(h)](const request& req, responder respond) {
      mw(req, std::move(respond), next);
    };
  }
  return h;
}

route_group::route_group(router& r, std::vector<middleware> chain, bool cors_preflight)
    : router_(r), chain_(std::move(chain)), cors_preflight_(cors_preflight) {}

void route_group::add(route r) {
  if (cors_preflight_ && !router_.has("OPTIONS", r.pattern)) {
    route preflight{"OPTIONS", r.pattern,
                    compose(chain_, [](const request& req, responder respond) {
                      // Reached only when cors() let a non-preflight OPTIONS through.
                      respond(error(405, req.request_id, "OPTIONS is only for CORS preflights"));
                    })};
    preflight.options.hidden = true;
    router_.add(std::move(preflight));
  }
  r.run = compose(chain_, std::move(r.run));
  router_.add(std::move(r));
}

responder with_headers(responder respond,
                       std::vector<std::pair<std::string, std::string>> headers) {
  return [respond = std::move(respond), headers = std::move(headers)](response r) {
    for (const auto& h : headers) r.headers.push_back(h);
    respond(std::move(r));
  };
}

middleware cors(std::vector<std::string> origins) {
  bool any = std::find(origins.begin(), origins.end(), "*") != origins.end();
  // Listed origins get credentialed access (cookies); "*" is anonymous
  // only: an arbitrary origin is never echoed with Allow-Credentials.
  auto allow_headers = [any](const std::string& origin) {
    std::vector<std::pair<std::string, std::string>> h;
    if (any) {
      h.emplace_back("Access-Control-Allow-Origin", "*");
    } else {
      h.emplace_back("Access-Control-Allow-Origin", origin);
      h.emplace_back("Access-Control-Allow-Credentials", "true");
      h.emplace_back("Vary", "Origin");
    }
    return h;
  };
  return [origins = std::move(origins), any, allow_headers](const request& req, responder respond,
                                                            const handler& next) {
    auto origin = std::string(req.header("origin"));
    bool allowed = !origin.empty() &&
                   (any || std::find(origins.begin(), origins.end(), origin) != origins.end());
    bool preflight =
        req.method == "OPTIONS" && !req.header("access-control-request-method").empty();
    if (preflight) {
      if (!allowed) return respond(error(403, req.request_id, "origin not allowed"));
      response r;
      r.status = 204;
      r.content_type.clear();
      r.headers = allow_headers(origin);
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
      r.headers.emplace_back("Access-Control-Allow-Headers",
                             "Authorization, Content-Type, Last-Event-ID, X-Request-ID, "
                             "If-None-Match, traceparent, Idempotency-Key");
      r.headers.emplace_back("Access-Control-Max-Age", "600");
      return respond(std::move(r));
    }
    if (!allowed) return next(req, std::move(respond));
    auto headers = allow_headers(origin);
    headers.emplace_back("Access-Control-Expose-Headers",
                         "ETag, X-Request-ID, Idempotent-Replayed");
    next(req, with_headers(std::move(respond), std::move(headers)));
  };
}

// `text` with every byte outside printable ASCII shown as '?' (a log line
// stays one line whatever a client sent).
std::string printable(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return out;
}

middleware same_origin_writes(std::vector<std::string> origins, bool require_header,
                              std::function<bool(const request&)> applies) {
  std::vector<std::string> trusted;
  for (const auto& o : origins)
    if (auto n = origin_of(o); !n.empty()) trusted.push_back(std::move(n));  // "*" drops out
  return [trusted = std::move(trusted), require_header, applies = std::move(applies)](
             const request& req, responder respond, const handler& next) {
    const auto& m = req.method;
    if (m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || !applies(req))
      return next(req, std::move(respond));
    auto sent = req.header("origin");
    if (sent.empty()) sent = req.header("referer");
    if (sent.empty()) {
      if (!require_header) return next(req, std::move(respond));
      log::notice("security: cross-site write refused: request {} from {}: no Origin or Referer",
                  req.request_id, req.remote_addr);
      return respond(error(403, req.request_id,
                           "cross-site request refused: a write authenticated by the session "
                           "cookie needs an Origin or Referer header"));
    }
    auto origin = origin_of(sent);
    bool ok =
        !origin.empty() && (std::find(trusted.begin(), trusted.end(), origin) != trusted.end() ||
                            origin.substr(origin.find("://") + 3) == lower(req.header("host")));
    if (ok) return next(req, std::move(respond));
    auto shown = origin.empty() ? std::string(sent.substr(0, 100)) : origin.substr(0, 100);
    log::notice("security: cross-site write refused: request {} from {}: origin {}", req.request_id,
                req.remote_addr, printable(shown));
    respond(error(403, req.request_id,
                  fmt::format("cross-site request refused: origin {} may not write with the "
                              "session cookie (use a bearer key, or add it to corsOrigins)",
                              shown)));
  };
}

middleware basic_auth(std::string user, std::string password) {
  return [user = std::move(user), password = std::move(password)](
             const request& req, responder respond, const handler& next) {
    if (password.empty()) return next(req, std::move(respond));
    auto header = req.header("authorization");
    bool ok = false;
    if (header.size() > 6 && lower(header.substr(0, 6)) == "basic ") {
      auto encoded = header.substr(6);
      std::string decoded(encoded.size(), '\0');
      std::size_t len = 0;
      if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                            encoded.data(), encoded.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0) {
        decoded.resize(len);
        auto colon = decoded.find(':');
        if (colon != std::string::npos) {
          // Both compared, always: no early exit on the user name.
          bool u = constant_time_equal(decoded.substr(0, colon), user);
          bool p = constant_time_equal(decoded.substr(colon + 1), password);
          ok = u && p;
        }
      }
    }
    if (ok) return next(req, std::move(respond));
    auto r = error(401, req.request_id, "operator credentials required");
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"hearth\", charset=\"UTF-8\"");
    respond(std::move(r));
  };
}

middleware operator_access(std::string user, std::string password, bool open) {
  if (!password.empty()) {
    auto check = basic_auth(std::move(user), std::move(password));
    return [check](const request& req, responder respond, const handler& next) {
      check(
          req,
          [respond = std::move(respond), rid = req.request_id,
           ip = req.remote_addr](response r) mutable {
            if (r.status == 401)
              log::notice("security: operator sign-in failed: request {} from {}", rid, ip);
            respond(std::move(r));
          },
          next);
    };
  }
  if (open)
    return [](const request& req, responder respond, const handler& next) {
      next(req, std::move(respond));
    };
  return [](const request& req, responder respond, const handler& next) {
    auto client = parse_ip_address(req.remote_addr);
    if (client && is_loopback(*client) && !req.forwarded_untrusted)
      return next(req, std::move(respond));
    log::notice("security: operator route refused to a non-loopback client: request {} from {}{}",
                req.request_id, req.remote_addr,
                req.forwarded_untrusted ? " (forwarded by a proxy not in trustedProxies)" : "");
    respond(error(403, req.request_id,
                  "the operator routes answer only loopback clients while operatorPassword is "
                  "not set (set operatorPassword, or list your proxy in trustedProxies)"));
  };
}

middleware concurrency_limit(std::size_t limit) {
  auto in_flight = std::make_shared<std::atomic<std::size_t>>(0);
  return [limit, in_flight](const request& req, responder respond, const handler& next) {
    if (in_flight->fetch_add(1) >= limit) {
      in_flight->fetch_sub(1);
      auto r = error(503, req.request_id, "server busy, retry shortly");
      r.headers.emplace_back("Retry-After", "1");
      return respond(std::move(r));
    }
    // The slot is freed when the response is handed back, once.
    auto released = std::make_shared<std::atomic<bool>>(false);
    auto release = [in_flight, released] {
      if (!released->exchange(true)) in_flight->fetch_sub(1);
    };
    try {
      next(req, [respond = std::move(respond), release](response r) {
        release();
        respond(std::move(r));
      });
    } catch (...) {
      release();
      throw;
    }
  };
}

middleware rate_limit(double per_second, double burst) {
  struct bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  struct state {
    std::mutex mutex;
    std::unordered_map<std::string, bucket> buckets;
    std::chrono::steady_clock::time_point next_prune{};
  };
  auto st = std::make_shared<state>();
  burst = std::max(burst, 1.0);
  return [per_second, burst, st](const request& req, responder respond, const handler& next) {
    if (per_second <= 0) return next(req, std::move(respond));
    auto now = std::chrono::steady_clock::now();
    double wait_s = 0;
    {
      std::lock_guard lock(st->mutex);
      if (now >= st->next_prune) {  // forget clients idle for a minute
        st->next_prune = now + std::chrono::minutes(1);
        for (auto it = st->buckets.begin(); it != st->buckets.end();)
          it = now - it->second.at > std::chrono::minutes(1) ? st->buckets.erase(it) : ++it;
      }
      auto [it, fresh] = st->buckets.try_emplace(req.remote_addr, bucket{burst, now});
      auto& b = it->second;
      if (!fresh) {
        std::chrono::duration<double> dt = now - b.at;
        b.tokens = std::min(burst, b.tokens + dt.count() * per_second);
        b.at = now;
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
      } else {
        wait_s = (1 - b.tokens) / per_second;
      }
    }
    if (wait_s <= 0) return next(req, std::move(respond));
    auto r = error(429, req.request_id, "too many requests from this address");
    r.headers.emplace_back("Retry-After",
                           std::to_string(static_cast<long long>(std::ceil(wait_s))));
    respond(std::move(r));
  };
}

middleware require_host(std::string host) {
  return [host = lower(host)](const request& req, responder respond, const handler& next) {
    auto h = lower(req.header("host"));
    if (auto colon = h.rfind(':'); colon != std::string::npos && h.find(']') == std::string::npos)
      h.resize(colon);
    else if (auto close = h.find(']'); close != std::string::npos)
      h.resize(close + 1);
    if (h != host) return respond(error(404, req.request_id, "no route for " + req.path));
    next(req, std::move(respond));
  };
}

}  // namespace hearth::http
