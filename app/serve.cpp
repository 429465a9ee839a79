#include "app/serve.hpp"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "actors/system.hpp"
#include "api/api.hpp"
#include "app/modules.hpp"
#include "app/observability.hpp"
#include "app/takeover.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "storage/cluster.hpp"
#include "storage/crypto.hpp"
#include "storage/embedded_postgres.hpp"
#include "storage/health_probe.hpp"
#include "storage/migrate.hpp"
#include "storage/pool.hpp"
#include "storage/supervisor.hpp"
#include "trace/trace.hpp"

namespace hearth::app {
namespace {

void run_migrations(const std::string& url) {
  pqxx::connection conn{url};
  auto applied = storage::migrate(conn);
  for (int v : applied) log::info("migration {:03d} applied", v);
}

void write_ready_file(const std::string& path, std::uint16_t port, std::uint16_t cluster_port) {
  if (path.empty()) return;
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"httpPort\":" << port << ",\"clusterPort\":" << cluster_port
        << ",\"pid\":" << ::getpid() << "}\n";
  }
  std::filesystem::rename(tmp, path);
}

// At a stop: the ready file goes when it still names this process (a
// successor started by SIGUSR2 wrote its own), so a pid read from it is
// never a stale one.
void remove_ready_file(const std::string& path) {
  if (path.empty()) return;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("\"pid\":" + std::to_string(::getpid()) + "}") == std::string::npos) return;
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

// Only this machine can reach a listener on `host`.
bool loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The address HTTP listens on: the inherited socket's, else httpAddr's host.
std::string listen_host(const config::config& cfg, int listen_fd) {
  if (listen_fd >= 0) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    char text[INET6_ADDRSTRLEN] = {};
    if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      if (addr.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
      else if (addr.ss_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text,
                    sizeof text);
    }
    return text;
  }
  return config::split_host_port(cfg.http_addr).first;
}

// The operator routes answer loopback clients only while no
// operatorPassword is set (http::operator_access). A node listening on any
// other address without one is refused, unless the operator chose
// operatorOpen: a node on a public address with open operator routes is a
// mistake more often than a wish (README, Security).
void check_operator_exposure(const config::config& cfg, int listen_fd) {
  if (!cfg.operator_password.empty()) return;
  const auto host = listen_host(cfg, listen_fd);
  auto addr = http::parse_ip_address(host);
  const bool local = host == "localhost" || (addr && http::is_loopback(*addr));
  if (cfg.operator_open) {
    log::warn(
        "operatorOpen is true and operatorPassword is empty: /metrics, /api/v1/admin/* and the "
        "monitor's operator routes answer every client that reaches {}",
        host);
    return;
  }
  if (!local)
    throw config::config_error(fmt::format(
        "httpAddr {} is not a loopback address and operatorPassword is empty: set "
        "operatorPassword (HEARTH_OPERATOR_PASSWORD, or a secretsFile) so that the operator "
        "routes (/metrics, /api/v1/admin/*, the monitor's sites) need it, or set operatorOpen "
        "true (HEARTH_OPERATOR_OPEN=true) to leave them open to every client",
        host));
}

std::string node_id(const config::config& cfg) {
  if (!cfg.node_id.empty()) return cfg.node_id;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

std::string database_url(const config::config& cfg,
                         std::optional<storage::embedded_postgres>& embedded) {
  if (!cfg.database_url.empty()) return storage::with_network_timeouts(cfg.database_url);
  // The absolute path: a relative dataDir depends on where hearth was started.
  std::error_code ec;
  auto where = std::filesystem::absolute(cfg.data_dir, ec);
  if (ec) where = cfg.data_dir;
  embedded.emplace(storage::embedded_postgres_options{cfg.data_dir, cfg.postgres_bin_dir});
  embedded->start();
  if (embedded->created())
    log::notice("embedded PostgreSQL: created a new, empty database cluster in {} and started it",
                where.string());
  else if (embedded->joined())
    log::info("embedded PostgreSQL: joined the server already running for {}", where.string());
  else
    log::info("embedded PostgreSQL: started the server of {}", where.string());
  return embedded->url();
}

// The signals serve() waits for; blocked in every thread so that only its
// sigwait sees them.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR2}) sigaddset(&set, sig);
  return set;
}

void block_stop_signals() {
  auto set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int migrate(const config::config& cfg) {
  log::init(cfg.log_level);
  std::optional<storage::embedded_postgres> embedded;
  run_migrations(database_url(cfg, embedded));
  log::info("schema is up to date");
  return 0;
}

namespace {

void warn_deprecated(const config::config& cfg) {
  if (cfg.deprecated_sse_queue_limit >= 0)
    log::warn("config: sseQueueLimit is ignored (streams are limited by sseBufferBytes)");
  if (cfg.deprecated_sse_backlog_limit >= 0)
    log::warn("config: sseBacklogLimit is ignored (backpressure is per household now)");
  if (cfg.deprecated_scheduler_interval_ms >= 0)
    log::warn(
        "config: schedulerIntervalMs is ignored (session expiry is the cron job "
        "engine.expire-sessions: sessionExpirySchedule)");
}

// Waits for SIGINT/SIGTERM (returns it), or SIGUSR2 once a successor is
// ready (returns SIGUSR2); SIGHUP re-reads the configuration and applies its
// log level (the rest needs a restart).
int wait_for_stop(const config::config& cfg, const std::function<config::config()>& reload,
                  const std::vector<std::string>& argv, const http::server& server) {
  auto set = stop_signals();
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGINT || sig == SIGTERM) return sig;
    if (sig == SIGUSR2) {
      log::notice("SIGUSR2: starting a successor on the same socket");
      int successor = start_successor(argv, server.listen_fd(), std::chrono::seconds(60));
      if (successor < 0) {
        log::error("SIGUSR2: no successor; still serving");
        continue;
      }
      notify_main_pid(successor);
      log::notice("successor {} is ready; draining", successor);
      return sig;
    }
    try {  // SIGHUP
      auto fresh = reload ? reload() : cfg;
      if (log::set_level(fresh.log_level))
        log::notice("SIGHUP: configuration re-read, log level {}", fresh.log_level);
    } catch (const std::exception& e) {
      log::error("SIGHUP: configuration not reloaded: {}", e.what());
    }
  }
}

// Tracing (trace/trace.hpp): with otlpEndpoint set, the exporter thread
// POSTs batches of spans to <otlpEndpoint>/v1/traces (OTLP/HTTP JSON) with
// the outgoing client, on its own thread; stopped (last batch sent) when
// the node is gone.
class tracing_component {
 public:
  tracing_component(const config::config& cfg, const std::string& node) {
    if (cfg.otlp_endpoint.empty()) return;
    auto url = cfg.otlp_endpoint;
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += "/v1/traces";
    if (auto problem = http::url_problem(url))
      throw config::config_error("otlpEndpoint: " + *problem);
    trace::exporter_options o;
    o.node_id = node;
    o.flush = std::chrono::milliseconds(cfg.otlp_flush_ms);
    o.sample_ratio = cfg.trace_sample_ratio;
    o.post = [url](const std::string& body) {
      http::fetch_request r;
      r.method = "POST";
      r.url = url;
      r.source = http::url_source::operator_config;  // otlpEndpoint
      r.headers = {{"Content-Type", "application/json"}};
      r.body = body;
      r.traced = false;  // the exporter's own requests are not traced
      auto out = http::fetch(r);
      if (!out.ok || out.status >= 300)
        log::debug("trace export to {} failed: {}", url,
                   out.ok ? "HTTP " + std::to_string(out.status) : out.error);
      return out.ok && out.status < 300;
    };
    trace::start(std::move(o));
    started_ = true;
    log::info("tracing: spans to {} every {} ms, sample ratio {}", url, cfg.otlp_flush_ms,
              cfg.trace_sample_ratio);
  }
  ~tracing_component() {
    if (started_) trace::stop();
  }
  tracing_component(const tracing_component&) = delete;
  tracing_component& operator=(const tracing_component&) = delete;

 private:
  bool started_ = false;
};

// GET /metrics as a module of the operator group.
api::module metrics_module(observability& obs) {
  api::module m;
  m.name = "metrics";
  m.routes = [&obs](http::route_group&, http::route_group& ops, api::services& s) {
    add_metrics_routes(ops, s, obs);
  };
  return m;
}

}  // namespace

// The node is a list of components, each built from its own configuration
// section (from_config next to its code) and destroyed in reverse order.
int serve(const config::config& cfg, const std::function<config::config()>& reload,
          const std::vector<std::string>& argv) {
  log::init(cfg.log_level);
  // Quiet failure: repeated identical lines are summarised (config/log_limiter.hpp).
  log::repeats().set_interval(std::chrono::milliseconds(cfg.log_repeat_interval_ms));
  log::repeat_flusher flush_repeats(log::repeats());
  warn_deprecated(cfg);
  // A predecessor's listening socket (zero-downtime restart) or systemd's.
  const int listen_fd = inherited_listen_fd();
  check_operator_exposure(cfg, listen_fd);
  http::configure_outbound(cfg);  // outboundAllow, outboundDeny
  // Keep freed heap memory for the next response instead of handing it back
  // to the kernel after each one (glibc trims the heap top above 128 KiB by
  // default; a busy node then page-faults on every response body).
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  storage::crypto_init();
  const auto id = node_id(cfg);
  // Every session of this process carries this name, so that peers can
  // fence it off if it goes silent (storage::fence_stale_nodes).
  ::setenv("PGAPPNAME", storage::process_application_name(id).c_str(), 1);

  // 0. Tracing (first up, last down: the final spans are exported).
  tracing_component tracing(cfg, id);

  // 1. PostgreSQL: the configured URL or the embedded cluster; migrations.
  std::optional<storage::embedded_postgres> embedded;
  const auto url = database_url(cfg, embedded);
  run_migrations(url);
  // The embedded server is restarted when its postmaster dies (kill -9, OOM).
  std::optional<storage::postgres_supervisor> supervisor;
  if (embedded) {
    supervisor.emplace(*embedded);
    supervisor->start();
  }

  // 2. The HTTP engine (before the pool and the actors, destroyed after
  //    them: the actors hold its fan-out hub, and SSE streams live on its
  //    I/O threads; server.stop() drops the streams' callbacks first).
  http::router routes;
  observability obs(cfg.access_log);
  auto so = http::server_options::from_config(cfg);
  so.on_exchange = [&obs](const http::exchange_record& r) { obs.on_exchange(r); };
  so.listen_fd = listen_fd;
  http::server server(so, routes);
  const auto bound = server.bind();

  // 3. The storage pool. After an embedded restart its connections open
  //    anew instead of each failing one job on the dead server.
  storage::pool db(url, cfg.db_pool_size);
  if (supervisor) supervisor->on_restarted([&db] { db.reconnect(); });
  struct unhook {  // before db goes: no call on a destroyed pool
    storage::postgres_supervisor* s;
    ~unhook() {
      if (s) s->on_restarted(nullptr);
    }
  } unhook_restarted{supervisor ? &*supervisor : nullptr};

  // 4. The engine's registry: every module's topics, subscriptions and cron
  //    jobs, declared before the actors that run them.
  engine::registry registry;
  auto modules = builtin_modules();
  modules.push_back(metrics_module(obs));
  for (const auto& m : modules)
    if (m.declare) m.declare(registry, cfg, db);

  // 5. The actor runtime: notifier, cache, cluster, election, scheduler, delivery.
  auto ro = actors::runtime_options::from_config(cfg);
  ro.fanout = &server.fanout();
  ro.io_threads = server.io_threads();
  ro.node_id = id;
  ro.database_url = url;
  ro.http_addr = so.host + ":" + std::to_string(bound);
  ro.registry = &registry;
  actors::actor_runtime actors(ro, db);

  // 6. The routes, then serve.
  // Committed writes publish their change events to the notifier
  // themselves (storage/events.hpp): the batcher's, and every
  // change_transaction given writes.publisher().
  storage::write_batcher writes(db,
                                [&actors](const storage::change_event& e) { actors.publish(e); });
  api::auth_guard guard(cfg);
  storage::health_probe probe(url);
  api::services s{cfg,    db,       writes, actors,          id,
                  server, registry, guard,  server.fanout(), supervisor ? &*supervisor : nullptr,
                  probe};
  api::add_routes(routes, s, modules);
  server.start();
  write_ready_file(cfg.ready_file, bound, actors.cluster_port());
  log::notice("hearth node {} serving {}://{}:{}, peers on {} ({})", id,
              cfg.tls_cert.empty() ? "http" : "https", so.host, bound,
              actors.cluster().cluster_addr, ro.cluster_tls.enabled() ? "mutual TLS" : "plaintext");
  if (!ro.cluster_tls.enabled() && !loopback(ro.cluster_bind_host))
    log::warn(
        "cluster links on {} are plaintext and unauthenticated: anyone who reaches the port can "
        "link as a peer; set clusterTLSCert, clusterTLSKey and clusterTLSCA (README, Security)",
        cfg.cluster_addr);
  notify_ready();

  int sig = wait_for_stop(cfg, reload, argv, server);
  if (sig != SIGUSR2) log::notice("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");

  // Reverse order: no new connections, requests already read are answered
  // (up to shutdownTimeoutMs) and SSE clients told to reconnect elsewhere;
  // finish queued database work (it may still publish events); release
  // leadership, deregister and stop the actors; then the embedded database.
  if (cfg.drain_notice_ms > 0 && sig != SIGUSR2) {
    // The balancer's readiness checks (GET /api/v1/ready) see 503 and take
    // this node out while it still serves; then it stops accepting.
    server.announce_drain();
    log::notice("not ready; draining in {} ms (drainNoticeMs)", cfg.drain_notice_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg.drain_notice_ms));
  }
  server.drain(std::chrono::milliseconds(cfg.shutdown_timeout_ms));
  server.stop();
  probe.stop();
  actors.stop_handlers();  // deliveries and cron runs under way finish first
  db.stop();
  actors.stop();
  if (supervisor) supervisor->stop();  // before the server stops: no restart then
  if (embedded) embedded->stop();
  remove_ready_file(cfg.ready_file);
  log::notice("stopped");
  return 0;
}

}  // namespace hearth::app
