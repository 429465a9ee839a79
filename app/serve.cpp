#include "app/serve.hpp"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>

#include "actors/system.hpp"
#include "app/api.hpp"
#include "app/module.hpp"
#include "app/observability.hpp"
#include "app/takeover.hpp"
#include "config/logging.hpp"
#include "http/server.hpp"
#include "storage/cluster.hpp"
#include "storage/crypto.hpp"
#include "storage/embedded_postgres.hpp"
#include "storage/migrate.hpp"
#include "storage/pool.hpp"

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

std::string node_id(const config::config& cfg) {
  if (!cfg.node_id.empty()) return cfg.node_id;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

std::string database_url(const config::config& cfg,
                         std::optional<storage::embedded_postgres>& embedded) {
  if (!cfg.database_url.empty()) return cfg.database_url;
  embedded.emplace(storage::embedded_postgres_options{cfg.data_dir, cfg.postgres_bin_dir});
  log::info("starting embedded PostgreSQL under {}", cfg.data_dir);
  embedded->start();
  return embedded->url();
}

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);
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

int serve(const config::config& cfg, const std::function<config::config()>& reload,
          const std::vector<std::string>& argv) {
  log::init(cfg.log_level);
  storage::crypto_init();
  auto id = node_id(cfg);
  // Every session of this process carries this name, so that peers can
  // fence it off if it goes silent (storage::fence_stale_nodes).
  ::setenv("PGAPPNAME", storage::process_application_name(id).c_str(), 1);
  std::optional<storage::embedded_postgres> embedded;
  auto url = database_url(cfg, embedded);
  run_migrations(url);

  // Declared before the pool and the actors so that it is destroyed after
  // them: the actors hold the server's fan-out hub (http/fanout.hpp), and
  // SSE streams live on the server's I/O threads. server.stop() runs before
  // actors.stop() and drops the streams' callbacks to connection actors.
  http::router routes;
  observability obs(cfg.access_log);
  auto [host, port] = config::split_host_port(cfg.http_addr);
  http::server_options so;
  so.host = host;
  so.port = port;
  so.threads = cfg.http_threads;
  so.body_limit_bytes = static_cast<std::size_t>(cfg.body_limit_bytes);
  so.header_limit_bytes = static_cast<std::size_t>(cfg.header_limit_bytes);
  so.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  so.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  if (cfg.deprecated_sse_queue_limit >= 0)
    log::warn("config: sseQueueLimit is ignored (streams are limited by sseBufferBytes)");
  if (cfg.deprecated_sse_backlog_limit >= 0)
    log::warn("config: sseBacklogLimit is ignored (backpressure is per household now)");
  so.fanout.buffer_limit_bytes = static_cast<std::size_t>(cfg.sse_buffer_bytes);
  so.fanout.stall = std::chrono::milliseconds(cfg.sse_stall_ms);
  so.fanout.heartbeat = std::chrono::milliseconds(cfg.sse_heartbeat_ms);
  so.max_connections = static_cast<std::size_t>(cfg.max_connections);
  so.sse_retry_ms = static_cast<unsigned>(cfg.sse_retry_ms);
  so.on_exchange = [&obs](const http::exchange_record& r) { obs.on_exchange(r); };
  so.listen_fd = inherited_listen_fd();
  so.tls_cert_file = cfg.tls_cert;
  so.tls_key_file = cfg.tls_key;  // a predecessor's (zero-downtime restart) or systemd's
  http::server server(so, routes);

  storage::pool db(url, cfg.db_pool_size);
  auto bound = server.bind();
  actors::runtime_options ro;
  ro.fanout = &server.fanout();
  ro.scheduler_interval = std::chrono::milliseconds(cfg.scheduler_interval_ms);
  ro.node_id = id;
  ro.database_url = url;
  std::tie(ro.cluster_bind_host, ro.cluster_bind_port) = config::split_host_port(cfg.cluster_addr);
  ro.cluster_advertise_addr = cfg.cluster_advertise_addr;
  ro.http_addr = host + ":" + std::to_string(bound);
  ro.cluster_heartbeat = std::chrono::milliseconds(cfg.cluster_heartbeat_ms);
  ro.cluster_stale = std::chrono::milliseconds(cfg.cluster_stale_ms);
  ro.cache_bytes = static_cast<std::size_t>(cfg.cache_mib) << 20;
  // The application's topics, subscriptions and cron jobs, declared before
  // the actors that run them (and destroyed after them).
  engine::registry registry;
  auto modules = builtin_modules();
  for (const auto& m : modules)
    if (m.declare) m.declare(registry, cfg, db);
  ro.registry = &registry;
  ro.pubsub_poll = std::chrono::milliseconds(cfg.pubsub_poll_ms);
  ro.pubsub_workers = static_cast<int>(cfg.pubsub_workers);
  actors::actor_runtime actors(ro, db);

  services s{cfg, db, actors, id, obs, server, registry};
  add_routes(routes, s, modules);

  server.start();
  write_ready_file(cfg.ready_file, bound, actors.cluster_port());
  log::notice("hearth node {} serving {}://{}:{}, peers on {}", s.node_id,
              cfg.tls_cert.empty() ? "http" : "https", host, bound, actors.cluster().cluster_addr);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);
  notify_ready();
  int sig = 0;
  for (;;) {
    sigwait(&set, &sig);
    if (sig == SIGUSR2) {
      // Zero-downtime restart: the successor takes the listening socket;
      // once it is ready, this process drains and exits.
      log::notice("SIGUSR2: starting a successor on the same socket");
      int successor = start_successor(argv, server.listen_fd(), std::chrono::seconds(60));
      if (successor < 0) {
        log::error("SIGUSR2: no successor; still serving");
        continue;
      }
      notify_main_pid(successor);
      log::notice("successor {} is ready; draining", successor);
      break;
    }
    if (sig != SIGHUP) break;
    // SIGHUP: re-read the configuration; the log level applies at once, the
    // rest needs a restart.
    try {
      auto fresh = reload ? reload() : cfg;
      if (log::set_level(fresh.log_level))
        log::notice("SIGHUP: configuration re-read, log level {}", fresh.log_level);
    } catch (const std::exception& e) {
      log::error("SIGHUP: configuration not reloaded: {}", e.what());
    }
  }
  if (sig != SIGUSR2) log::notice("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");

  // Reverse order: no new connections, requests already read are answered
  // (up to shutdownTimeoutMs) and SSE clients told to reconnect elsewhere;
  // finish queued database work (it may still publish events); release
  // leadership, deregister and stop the actors; then the embedded database.
  server.drain(std::chrono::milliseconds(cfg.shutdown_timeout_ms));
  server.stop();
  actors.stop_handlers();  // deliveries and cron runs under way finish first
  db.stop();
  actors.stop();
  if (embedded) embedded->stop();
  log::notice("stopped");
  return 0;
}

}  // namespace hearth::app
