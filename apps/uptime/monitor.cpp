// The uptime monitor (apps/uptime/monitor.hpp): its topic, subscription and
// cron job, and the checks. Its operator API is in apps/uptime/routes.cpp.

#include <fmt/format.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <future>
#include <pqxx/pqxx>
#include <stdexcept>

#include "apps/uptime/monitor_impl.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "http/client.hpp"
#include "storage/errors.hpp"
#include "storage/pool.hpp"

namespace hearth::apps::uptime {
namespace detail {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Probe threads of a node: at most this many sites are probed at once.
constexpr int kProbeThreads = 8;
// A probe needs the status only; a longer page is cut (and still counts).
constexpr std::size_t kProbeBodyLimit = 64 * 1024;

constexpr const char* kSelectSite = "SELECT id::text, url FROM uptime_site WHERE id = $1";
// A check: lock the site (concurrent checks of one site take turns, each
// seeing the state the previous one committed), record the check, update the state.
constexpr const char* kLockSite = "SELECT state FROM uptime_site WHERE id = $1 FOR UPDATE";
constexpr const char* kInsertCheck =
    "INSERT INTO uptime_check (site_id, up, status, error, duration_ms) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING hearth_ts(checked_at)";
constexpr const char* kUpdateSite =
    "UPDATE uptime_site SET state = $2, last_checked = now() WHERE id = $1";

json::value nullable(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::object check_json(const check_outcome& c) {
  return {{"siteID", c.site_id},
          {"url", c.url},
          {"up", c.up},
          {"status", c.status ? json::value(*c.status) : json::value(nullptr)},
          {"error", c.error.empty() ? json::value(nullptr) : json::value(c.error)},
          {"durationMs", c.duration_ms},
          {"checkedAt", c.checked_at},
          {"transition", nullable(c.transition)}};
}

std::vector<site> sites_to_check(storage::connection& conn) {
  pqxx::read_transaction tx(conn);
  std::vector<site> out;
  for (const auto& r : tx.exec(kListSites))
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>()});
  return out;
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

http::response not_running(const std::string& rid) {
  return http::error(503, rid, "the uptime monitor is not running");
}

// Stops the status feed's thread, then the probe threads: probes under way
// finish, queued ones are dropped.
monitor::~monitor() {
  status_.reset();
  if (!probes_) return;
  probes_->stop();
  probes_->join();
}

void monitor::declare(engine::registry& r, const config::config& cfg, storage::pool& db) {
  db_ = &db;
  probe_timeout_ = std::chrono::milliseconds(cfg.uptime_probe_timeout_ms);
  status_poll_ = std::chrono::milliseconds(cfg.uptime_status_poll_ms);
  webhook_url_ = config::secret(cfg, "UPTIME_WEBHOOK_URL");
  if (webhook_url_) {
    // The URL is a secret: the message says what is wrong, not what it is.
    if (auto problem = http::url_problem(*webhook_url_))
      throw config::config_error("secret UPTIME_WEBHOOK_URL: " + *problem);
  }
  probes_ = std::make_unique<boost::asio::thread_pool>(kProbeThreads);

  transitions_ = r.declare_topic<site_transition>("site.transition");

  engine::subscription_options webhook;
  webhook.max_retries = static_cast<int>(cfg.uptime_webhook_max_retries);
  webhook.min_backoff = std::chrono::milliseconds(cfg.uptime_webhook_min_backoff_ms);
  webhook.max_backoff = std::chrono::milliseconds(cfg.uptime_webhook_max_backoff_ms);
  webhook.ack_deadline = 2 * probe_timeout_ + 5s;  // a webhook call takes ≤ 2 timeouts
  webhook.max_concurrency = 4;
  r.subscribe<site_transition>(
      transitions_, "webhook", webhook,
      [self = shared_from_this()](const engine::message_info& m, const site_transition& t) {
        self->notify(m, t);
      });

  r.cron("uptime.check-all", cfg.uptime_check_schedule,
         [self = shared_from_this()](const engine::cron_tick&) { return self->check_all(); });
}

std::weak_ptr<status_feed> monitor::serve_status(http::fanout_hub& hub) {
  if (!status_ && db_) status_ = std::make_shared<status_feed>(*db_, hub, status_poll_);
  return status_;
}

// Probes `s` and records the check (blocking: probe threads only).
http::fetch_request monitor::probe_request(const std::string& url, http::url_source source) const {
  http::fetch_request r;
  r.url = url;
  r.source = source;
  r.connect_timeout = probe_timeout_;
  r.read_timeout = probe_timeout_;
  r.body_limit = kProbeBodyLimit;
  return r;
}

http::fetch_request monitor::webhook_request(const std::string& text,
                                             const std::string& message_id) const {
  // The webhook URL is a secret only the operator sets: internal addresses allowed.
  auto r = probe_request(*webhook_url_, http::url_source::operator_config);
  r.method = "POST";
  r.headers = {{"Content-Type", "application/json"}, {"X-Hearth-Message-ID", message_id}};
  r.body = json::serialize(json::object{{"text", text}});
  return r;
}

check_outcome monitor::check(const site& s) {
  // Sites are the operator's: internal addresses allowed.
  auto res = http::fetch(probe_request(s.url, http::url_source::operator_config));
  check_outcome c;
  c.site_id = s.id;
  c.url = s.url;
  c.up = res.ok && res.status >= 200 && res.status < 400;
  if (res.ok)
    c.status = static_cast<int>(res.status);
  else
    c.error = res.error;
  c.duration_ms = res.duration_ms;
  storage::run_sync(*db_, [this, &c](storage::connection& conn) { record(conn, c); });
  log::debug("uptime: {} {} ({} ms){}", c.up ? "up" : "down", c.status ? *c.status : 0,
             c.duration_ms, c.transition ? " transition" : "");
  return c;
}

// Records `c` in one transaction with its transition, if any: the check,
// the message and the new state commit together or not at all.
void monitor::record(storage::connection& conn, check_outcome& c) {
  pqxx::work tx(conn);
  auto locked = tx.exec_params(kLockSite, c.site_id);
  if (locked.empty())
    throw storage::domain_error(storage::errc::not_found, "MonitorSite not found");
  std::optional<std::string> previous;
  if (!locked[0][0].is_null()) previous = locked[0][0].as<std::string>();
  std::optional<std::string> error;
  if (!c.error.empty()) error = c.error;
  c.checked_at = tx.exec_params1(kInsertCheck, c.site_id, c.up, c.status, error,
                                 static_cast<int>(c.duration_ms))[0]
                     .as<std::string>();
  const std::string now = c.up ? "up" : "down";
  c.transition.reset();
  // A site never checked counts as up (as in Encore's uptime tutorial): a
  // site already down when it is added alerts at its first check.
  const std::string was = previous.value_or("up");
  if (was != now) {
    transitions_.publish(tx, site_transition{.site_id = c.site_id,
                                             .url = c.url,
                                             .from = was,
                                             .to = now,
                                             .checked_at = c.checked_at,
                                             .status = c.status.value_or(0),
                                             .error = c.error});
    c.transition = now;
  }
  tx.exec_params0(kUpdateSite, c.site_id, now);
  tx.commit();
}

// Checks `sites` on the probe threads; `done` runs once, on the thread of
// the last probe, with the outcomes in order (sites deleted meanwhile are
// left out) and the first other failure, if any.
void monitor::check_sites(std::vector<site> sites, batch_done done) {
  if (sites.empty()) return done({}, nullptr);
  struct batch {
    std::vector<std::optional<check_outcome>> outcomes;
    std::atomic<std::size_t> left;
    std::mutex mutex;
    std::exception_ptr failure;
    batch_done done;
  };
  auto b = std::make_shared<batch>();
  b->outcomes.resize(sites.size());
  b->left = sites.size();
  b->done = std::move(done);
  for (std::size_t i = 0; i < sites.size(); ++i) {
    boost::asio::post(*probes_, [this, b, i, s = std::move(sites[i])] {
      try {
        b->outcomes[i] = check(s);
      } catch (const storage::domain_error&) {
        // deleted while being checked: nothing to report
      } catch (...) {
        std::lock_guard lock(b->mutex);
        if (!b->failure) b->failure = std::current_exception();
      }
      if (--b->left > 0) return;
      std::vector<check_outcome> out;
      for (auto& o : b->outcomes)
        if (o) out.push_back(std::move(*o));
      b->done(std::move(out), b->failure);
    });
  }
}

// POST /check/{siteID}: load, probe and record on a probe thread.
void monitor::check_one(std::string id, std::string rid, http::responder respond) {
  if (!probes_) return respond(not_running(rid));
  boost::asio::post(
      *probes_, [this, id = std::move(id), rid = std::move(rid), respond = std::move(respond)] {
        try {
          auto s = storage::run_sync(*db_, [&id](storage::connection& conn) {
            pqxx::read_transaction tx(conn);
            auto r = tx.exec_params(kSelectSite, id);
            if (r.empty())
              throw storage::domain_error(storage::errc::not_found, "MonitorSite not found");
            return site{r[0][0].as<std::string>(), r[0][1].as<std::string>()};
          });
          respond(http::ok(200, rid, kCheck, {check_json(check(s))}));
        } catch (...) {
          respond(api::failure_response(rid));
        }
      });
}

void monitor::ping(std::string url, std::string rid, http::responder respond) {
  if (!probes_) return respond(not_running(rid));
  if (pings_.fetch_add(1) >= kMaxPings) {
    --pings_;
    auto r = http::error(429, rid, "too many pings under way on this node; try again shortly");
    r.headers.emplace_back("Retry-After", "1");
    return respond(std::move(r));
  }
  boost::asio::post(*probes_, [this, self = shared_from_this(), url = std::move(url),
                               rid = std::move(rid), respond = std::move(respond)] {
    // A user's URL: internal addresses refused.
    auto res = http::fetch(probe_request(url, http::url_source::user));
    --pings_;
    const bool up = res.ok && res.status >= 200 && res.status < 400;
    boost::json::object out{
        {"url", url},
        {"up", up},
        {"status", res.ok ? boost::json::value(res.status) : nullptr},
        {"error", res.ok ? boost::json::value(nullptr) : boost::json::value(res.error)},
        {"durationMs", res.duration_ms}};
    respond(http::ok(200, rid, "MonitorPing", {std::move(out)}));
  });
}

void monitor::test_notification(std::string rid, http::responder respond) {
  if (!probes_) return respond(not_running(rid));
  if (!webhook_url_)
    return respond(http::error(409, rid,
                               "no webhook: set the secret UPTIME_WEBHOOK_URL "
                               "(HEARTH_SECRET_UPTIME_WEBHOOK_URL or secretsFile)"));
  boost::asio::post(*probes_, [this, self = shared_from_this(), rid = std::move(rid),
                               respond = std::move(respond)] {
    auto res = http::fetch(
        webhook_request("hearth uptime: a test notification (request " + rid + ")", "test-" + rid));
    const bool delivered = res.ok && res.status >= 200 && res.status < 300;
    log::info("uptime webhook: test notification {} ({})", delivered ? "delivered" : "failed",
              res.ok ? std::to_string(res.status) : res.error);
    json::object out{{"delivered", delivered},
                     {"status", res.ok ? json::value(res.status) : nullptr},
                     {"error", res.ok ? json::value(nullptr) : json::value(res.error)},
                     {"durationMs", res.duration_ms}};
    respond(http::ok(200, rid, "MonitorTestNotification", {std::move(out)}));
  });
}

// POST /check-all: list on the database pool, probe on the probe threads,
// respond from the last probe.
void monitor::check_all(std::string rid, http::responder respond) {
  if (!probes_) return respond(not_running(rid));
  bool queued =
      db_->submit([this, self = shared_from_this(), rid, respond](storage::connection& conn) {
        std::vector<site> sites;
        try {
          sites = sites_to_check(conn);
        } catch (...) {
          return respond(api::failure_response(rid));
        }
        check_sites(std::move(sites),
                    [rid, respond](std::vector<check_outcome> outcomes, std::exception_ptr failed) {
                      if (failed) {
                        try {
                          std::rethrow_exception(failed);
                        } catch (...) {
                          return respond(api::failure_response(rid));
                        }
                      }
                      json::array out;
                      for (const auto& c : outcomes) out.push_back(check_json(c));
                      respond(http::ok(200, rid, kCheck, std::move(out)));
                    });
      });
  if (!queued) respond(api::busy_response(rid));
}

// The cron job: checks every site (on the probe threads; this engine
// handler thread waits) and describes the outcome.
std::string monitor::check_all() {
  auto sites = storage::run_sync(*db_, sites_to_check);
  const auto total = sites.size();
  using result = std::pair<std::vector<check_outcome>, std::exception_ptr>;
  auto promise = std::make_shared<std::promise<result>>();
  auto future = promise->get_future();
  check_sites(std::move(sites), [promise](std::vector<check_outcome> o, std::exception_ptr e) {
    promise->set_value({std::move(o), e});
  });
  auto [outcomes, failed] = future.get();
  std::size_t down = 0, transitions = 0;
  for (const auto& c : outcomes) {
    down += !c.up;
    transitions += c.transition.has_value();
  }
  auto text = fmt::format("checked {}, {} down, {}", plural(outcomes.size(), "site", "sites"), down,
                          plural(transitions, "transition", "transitions"));
  if (failed) {
    std::string why = "unknown error";
    try {
      std::rethrow_exception(failed);
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    throw std::runtime_error(fmt::format("{} of {} sites not recorded ({}): {}",
                                         total - outcomes.size(), total, text, why));
  }
  return text;
}

// The subscription: posts the transition to the webhook. Throws (the
// engine retries with backoff) when it does not answer 2xx. The URL is a
// secret: it is never logged.
void monitor::notify(const engine::message_info& m, const site_transition& t) {
  if (!webhook_url_) {
    std::call_once(no_webhook_logged_, [] {
      log::info("no UPTIME_WEBHOOK_URL secret: transitions are not sent anywhere");
    });
    return;
  }
  auto res = http::fetch(webhook_request(transition_text(t), std::to_string(m.id)));
  if (!res.ok) {
    log::warn_once("uptime.webhook", "uptime webhook: " + res.error,
                   fmt::format("message {} attempt {}", m.id, m.attempt));
    throw std::runtime_error("webhook: " + res.error);
  }
  if (res.status < 200 || res.status >= 300) {
    log::warn_once("uptime.webhook", fmt::format("uptime webhook: answered {}", res.status),
                   fmt::format("message {} attempt {}", m.id, m.attempt));
    throw std::runtime_error(fmt::format("webhook answered {}", res.status));
  }
  log::info("uptime webhook: message {} delivered ({})", m.id, res.status);
}

}  // namespace detail

std::string transition_text(const site_transition& t) {
  std::string to = t.to == "up" ? "UP" : t.to == "down" ? "DOWN" : t.to;
  std::string detail = t.status ? fmt::format("HTTP {}", t.status) : t.error;
  return fmt::format("{} is {} (was {}): {} at {}", t.url, to, t.from, detail, t.checked_at);
}

api::module uptime_module() {
  auto m = std::make_shared<detail::monitor>();
  return {.name = "uptime",
          .declare = [m](engine::registry& r, const config::config& cfg,
                         storage::pool& db) { m->declare(r, cfg, db); },
          .routes = [m](http::route_group& open, http::route_group& ops,
                        api::services& s) { detail::routes(open, ops, s, m); }};
}

}  // namespace hearth::apps::uptime
