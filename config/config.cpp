#include "config/config.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>

extern char** environ;

namespace hearth::config {
namespace {

enum class kind { text, integer };

struct entry {
  key_info info;
  kind type;
  std::int64_t min = 0;  // for integers
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::function<void(config&, const std::string&, std::int64_t)> set;
};

#define HEARTH_TEXT(member) [](config& c, const std::string& s, std::int64_t) { c.member = s; }
#define HEARTH_INT(member)                            \
  [](config& c, const std::string&, std::int64_t v) { \
    c.member = static_cast<decltype(c.member)>(v);    \
  }

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

}  // namespace

const config& defaults() {
  static const config d{};
  return d;
}

namespace {

const std::vector<entry>& table() {
  static const std::vector<entry> all = {
      {{"databaseURL", "HEARTH_DATABASE_URL", "--database-url",
        "PostgreSQL URI; empty = embedded PostgreSQL under dataDir"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(database_url)},
      {{"dataDir", "HEARTH_DATA_DIR", "--data-dir", "directory of the embedded PostgreSQL"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(data_dir)},
      {{"postgresBinDir", "HEARTH_POSTGRES_BIN_DIR", "--postgres-bin-dir",
        "PostgreSQL programs for the embedded server; empty = newest installed"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(postgres_bin_dir)},
      {{"httpAddr", "HEARTH_HTTP_ADDR", "--http-addr", "HTTP listen address host:port"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(http_addr)},
      {{"clusterAddr", "HEARTH_CLUSTER_ADDR", "--cluster-addr",
        "node-to-node (CAF) listen address host:port; port 0 = any free port"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(cluster_addr)},
      {{"clusterAdvertiseAddr", "HEARTH_CLUSTER_ADVERTISE_ADDR", "--cluster-advertise-addr",
        "host:port peers use to reach this node; empty = clusterAddr (hostname if wildcard)"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(cluster_advertise_addr)},
      {{"nodeID", "HEARTH_NODE_ID", "--node-id", "this node's id; empty = hostname-pid"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(node_id)},
      {{"logLevel", "HEARTH_LOG_LEVEL", "--log-level", "debug|info|notice|warn|error"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(log_level)},
      {{"readyFile", "HEARTH_READY_FILE", "--ready-file",
        "file written as {\"httpPort\":N} once serving"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(ready_file)},
      {{"httpThreads", "HEARTH_HTTP_THREADS", "--http-threads", "network threads"},
       kind::integer,
       1,
       64,
       HEARTH_INT(http_threads)},
      {{"dbPoolSize", "HEARTH_DB_POOL_SIZE", "--db-pool-size", "PostgreSQL connections"},
       kind::integer,
       1,
       256,
       HEARTH_INT(db_pool_size)},
      {{"bodyLimitBytes", "HEARTH_BODY_LIMIT_BYTES", "--body-limit-bytes",
        "largest request body (413 above)"},
       kind::integer,
       1,
       1LL << 30,
       HEARTH_INT(body_limit_bytes)},
      {{"headerLimitBytes", "HEARTH_HEADER_LIMIT_BYTES", "--header-limit-bytes",
        "largest request header block (431 above)"},
       kind::integer,
       1024,
       1 << 20,
       HEARTH_INT(header_limit_bytes)},
      {{"idleTimeoutMs", "HEARTH_IDLE_TIMEOUT_MS", "--idle-timeout-ms",
        "keep-alive idle time before the connection is closed"},
       kind::integer,
       100,
       kDay,
       HEARTH_INT(idle_timeout_ms)},
      {{"requestTimeoutMs", "HEARTH_REQUEST_TIMEOUT_MS", "--request-timeout-ms",
        "time allowed to receive one whole request (slow-client defence)"},
       kind::integer,
       100,
       kDay,
       HEARTH_INT(request_timeout_ms)},
      {{"sessionTTLMs", "HEARTH_SESSION_TTL_MS", "--session-ttl-ms", "sign-in session lifetime"},
       kind::integer,
       1000,
       3650 * kDay,
       HEARTH_INT(session_ttl_ms)},
      {{"sseHeartbeatMs", "HEARTH_SSE_HEARTBEAT_MS", "--sse-heartbeat-ms",
        "interval of ':' heartbeat comments on SSE streams"},
       kind::integer,
       10,
       kDay,
       HEARTH_INT(sse_heartbeat_ms)},
      {{"sseRetryMs", "HEARTH_SSE_RETRY_MS", "--sse-retry-ms", "retry: hint sent to SSE clients"},
       kind::integer,
       0,
       kDay,
       HEARTH_INT(sse_retry_ms)},
      {{"sseBufferBytes", "HEARTH_SSE_BUFFER_BYTES", "--sse-buffer-bytes",
        "unsent bytes of one SSE stream beyond which it is dropped (a quarter of it slows the "
        "writers of its households)"},
       kind::integer,
       4096,
       1 << 30,
       HEARTH_INT(sse_buffer_bytes)},
      {{"sseStallMs", "HEARTH_SSE_STALL_MS", "--sse-stall-ms",
        "an SSE stream whose socket has taken no byte for this long is dropped"},
       kind::integer,
       10,
       kDay,
       HEARTH_INT(sse_stall_ms)},
      {{"sseQueueLimit", "HEARTH_SSE_QUEUE_LIMIT", "--sse-queue-limit",
        "deprecated, ignored: streams are limited by sseBufferBytes (bytes, not frames)"},
       kind::integer,
       1,
       1 << 20,
       HEARTH_INT(deprecated_sse_queue_limit)},
      {{"sseBacklogLimit", "HEARTH_SSE_BACKLOG_LIMIT", "--sse-backlog-limit",
        "deprecated, ignored: writes to a household whose streams are behind get 503"},
       kind::integer,
       0,
       100'000'000,
       HEARTH_INT(deprecated_sse_backlog_limit)},
      {{"sseReplayWindow", "HEARTH_SSE_REPLAY_WINDOW", "--sse-replay-window",
        "events per household replayed on Last-Event-ID before a resync"},
       kind::integer,
       1,
       1 << 24,
       HEARTH_INT(sse_replay_window)},
      {{"sessionExpirySchedule", "HEARTH_SESSION_EXPIRY_SCHEDULE", "--session-expiry-schedule",
        "when expired sessions are deleted (cron job engine.expire-sessions): 'every 1m' or a "
        "5-field cron expression"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(session_expiry_schedule)},
      {{"schedulerIntervalMs", "HEARTH_SCHEDULER_INTERVAL_MS", "--scheduler-interval-ms",
        "deprecated, ignored: session expiry is the cron job engine.expire-sessions "
        "(sessionExpirySchedule)"},
       kind::integer,
       10,
       kDay,
       HEARTH_INT(deprecated_scheduler_interval_ms)},
      {{"clusterHeartbeatMs", "HEARTH_CLUSTER_HEARTBEAT_MS", "--cluster-heartbeat-ms",
        "period of the node's database heartbeat and leader-lock attempts"},
       kind::integer,
       50,
       1000,
       HEARTH_INT(cluster_heartbeat_ms)},
      {{"clusterStaleMs", "HEARTH_CLUSTER_STALE_MS", "--cluster-stale-ms",
        "a node silent this long is dead; a silent leader's lock session is terminated"},
       kind::integer,
       500,
       600'000,
       HEARTH_INT(cluster_stale_ms)},
      {{"cacheMiB", "HEARTH_CACHE_MIB", "--cache-mib",
        "memory bound of the read cache (sessions and list responses) in MiB; 0 = no cache"},
       kind::integer,
       0,
       65'536,
       HEARTH_INT(cache_mib)},
      {{"pubsubPollMs", "HEARTH_PUBSUB_POLL_MS", "--pubsub-poll-ms",
        "how often each node claims due Pub/Sub deliveries (an idle node backs off to at most "
        "max(this, 1 s) until it has work again or publishes)"},
       kind::integer,
       10,
       60'000,
       HEARTH_INT(pubsub_poll_ms)},
      {{"pubsubWorkers", "HEARTH_PUBSUB_WORKERS", "--pubsub-workers",
        "handler threads for Pub/Sub deliveries and cron runs; 0 = this node delivers no "
        "messages (cron jobs still run on the leader, on one thread)"},
       kind::integer,
       0,
       256,
       HEARTH_INT(pubsub_workers)},
      {{"secretsFile", "HEARTH_SECRETS_FILE", "--secrets-file",
        "JSON file of secrets {\"NAME\": \"value\"}; HEARTH_SECRET_<NAME> variables win"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(secrets_file)},
      {{"uptimeCheckSchedule", "HEARTH_UPTIME_CHECK_SCHEDULE", "--uptime-check-schedule",
        "when the uptime monitor checks every site: 'every 5m' or a 5-field cron expression"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(uptime_check_schedule)},
      {{"uptimeProbeTimeoutMs", "HEARTH_UPTIME_PROBE_TIMEOUT_MS", "--uptime-probe-timeout-ms",
        "connect and read timeout of one uptime check"},
       kind::integer,
       50,
       120'000,
       HEARTH_INT(uptime_probe_timeout_ms)},
      {{"uptimeWebhookMaxRetries", "HEARTH_UPTIME_WEBHOOK_MAX_RETRIES",
        "--uptime-webhook-max-retries", "webhook retries before a transition is dead-lettered"},
       kind::integer,
       0,
       100,
       HEARTH_INT(uptime_webhook_max_retries)},
      {{"uptimeWebhookMinBackoffMs", "HEARTH_UPTIME_WEBHOOK_MIN_BACKOFF_MS",
        "--uptime-webhook-min-backoff-ms", "first retry delay of the webhook (doubles per retry)"},
       kind::integer,
       1,
       3'600'000,
       HEARTH_INT(uptime_webhook_min_backoff_ms)},
      {{"uptimeWebhookMaxBackoffMs", "HEARTH_UPTIME_WEBHOOK_MAX_BACKOFF_MS",
        "--uptime-webhook-max-backoff-ms", "longest retry delay of the webhook"},
       kind::integer,
       1,
       86'400'000,
       HEARTH_INT(uptime_webhook_max_backoff_ms)},
      {{"accessLog", "HEARTH_ACCESS_LOG", "--access-log",
        "access log in Apache combined format: empty = off, \"stdout\" or a file"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(access_log)},
      {{"corsOrigins", "HEARTH_CORS_ORIGINS", "--cors-origins",
        "origins allowed by CORS, comma-separated; * = any; empty = no CORS headers"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(cors_origins)},
      {{"operatorUser", "HEARTH_OPERATOR_USER", "--operator-user",
        "Basic auth user for operator endpoints (/metrics)"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(operator_user)},
      {{"operatorPassword", "HEARTH_OPERATOR_PASSWORD", "--operator-password",
        "Basic auth password for operator endpoints; empty = no auth"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(operator_password)},
      {{"maxConnections", "HEARTH_MAX_CONNECTIONS", "--max-connections",
        "open connections (SSE included) beyond which new ones get 503"},
       kind::integer,
       1,
       1'000'000,
       HEARTH_INT(max_connections)},
      {{"concurrencyLimit", "HEARTH_CONCURRENCY_LIMIT", "--concurrency-limit",
        "API requests in flight beyond which requests get 503 + Retry-After"},
       kind::integer,
       1,
       1'000'000,
       HEARTH_INT(concurrency_limit)},
      {{"rateLimitPerSecond", "HEARTH_RATE_LIMIT_PER_SECOND", "--rate-limit-per-second",
        "API requests per second per client IP (429 beyond); 0 = off"},
       kind::integer,
       0,
       1'000'000,
       HEARTH_INT(rate_limit_per_second)},
      {{"rateLimitBurst", "HEARTH_RATE_LIMIT_BURST", "--rate-limit-burst",
        "requests a client IP may burst above its rate"},
       kind::integer,
       1,
       1'000'000,
       HEARTH_INT(rate_limit_burst)},
      {{"shutdownTimeoutMs", "HEARTH_SHUTDOWN_TIMEOUT_MS", "--shutdown-timeout-ms",
        "on SIGTERM, time in-flight requests get to finish"},
       kind::integer,
       0,
       kDay,
       HEARTH_INT(shutdown_timeout_ms)},
      {{"tlsCert", "HEARTH_TLS_CERT", "--tls-cert",
        "PEM certificate chain file: serve HTTPS (and SSE over HTTPS); needs tlsKey"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(tls_cert)},
      {{"tlsKey", "HEARTH_TLS_KEY", "--tls-key", "PEM private key file of tlsCert"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(tls_key)},
  };
  return all;
}

#undef HEARTH_TEXT
#undef HEARTH_INT

void set_from_text(config& cfg, const entry& e, const std::string& text,
                   const std::string& source) {
  if (e.type == kind::text) {
    e.set(cfg, text, 0);
    return;
  }
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    throw config_error(
        fmt::format("{}: {} must be an integer, got \"{}\"", source, e.info.json, text));
  if (v < e.min || v > e.max)
    throw config_error(fmt::format("{}: {} must be between {} and {}, got {}", source, e.info.json,
                                   e.min, e.max, v));
  e.set(cfg, text, v);
}

// The entry whose key name `field` (json, env or flag) is `name`, or nullptr.
const entry* find_entry(std::string key_info::*field, std::string_view name) {
  for (const auto& e : table())
    if (e.info.*field == name) return &e;
  return nullptr;
}

}  // namespace

const std::vector<key_info>& keys() {
  static const std::vector<key_info> all = [] {
    std::vector<key_info> out;
    for (const auto& e : table()) out.push_back(e.info);
    return out;
  }();
  return all;
}

void apply_json(config& cfg, const std::string& json_text, const std::string& source) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json_text).get(root))
    throw config_error(
        fmt::format("{}: not valid JSON ({})", source, simdjson::error_message(err)));
  simdjson::dom::object obj;
  if (root.get(obj)) throw config_error(fmt::format("{}: must be a JSON object", source));
  for (auto [key, value] : obj) {
    const entry* found = find_entry(&key_info::json, key);
    if (!found) throw config_error(fmt::format("{}: unknown key \"{}\"", source, std::string(key)));
    if (found->type == kind::text) {
      std::string_view s;
      if (value.get(s))
        throw config_error(fmt::format("{}: {} must be a string", source, found->info.json));
      found->set(cfg, std::string(s), 0);
    } else {
      std::int64_t v = 0;
      if (value.get(v))
        throw config_error(fmt::format("{}: {} must be an integer", source, found->info.json));
      set_from_text(cfg, *found, std::to_string(v), source);
    }
  }
}

void apply_env(config& cfg, const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) {
    if (name.rfind("HEARTH_", 0) != 0) continue;
    if (name.rfind("HEARTH_SECRET_", 0) == 0 && name.size() > 14) {
      cfg.secrets[name.substr(14)] = value;
      continue;
    }
    const entry* found = find_entry(&key_info::env, name);
    if (!found)
      throw config_error(fmt::format("environment: unknown variable {} (see hearth --help)", name));
    set_from_text(cfg, *found, value, "environment " + name);
  }
}

std::optional<std::string> secret(const config& cfg, const std::string& name) {
  if (auto it = cfg.secrets.find(name); it != cfg.secrets.end()) return it->second;
  if (cfg.secrets_file.empty()) return std::nullopt;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(cfg.secrets_file).get(text))
    throw config_error(fmt::format("secretsFile {}: cannot read it", cfg.secrets_file));
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(text).get(object))
    throw config_error(fmt::format("secretsFile {}: not a JSON object", cfg.secrets_file));
  simdjson::dom::element value;
  if (object[name].get(value)) return std::nullopt;
  std::string_view s;
  if (value.get(s))
    throw config_error(fmt::format("secretsFile {}: {} must be a string", cfg.secrets_file, name));
  return std::string(s);
}

void apply_flags(config& cfg, const std::map<std::string, std::string>& flags) {
  for (const auto& [flag, value] : flags) {
    const entry* found = find_entry(&key_info::flag, flag);
    if (!found) throw config_error(fmt::format("unknown flag {}", flag));
    set_from_text(cfg, *found, value, "flag " + flag);
  }
}

namespace {

void check_host_port(const std::string& key, const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw config_error(fmt::format("{} must be host:port, got \"{}\"", key, addr));
  int port = -1;
  auto port_text = std::string_view(addr).substr(colon + 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw config_error(fmt::format("{}: bad port in \"{}\"", key, addr));
}

}  // namespace

std::pair<std::string, std::uint16_t> split_host_port(const std::string& addr) {
  check_host_port("address", addr);
  auto colon = addr.rfind(':');
  auto host = addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, static_cast<std::uint16_t>(std::stoi(addr.substr(colon + 1)))};
}

void validate(const config& cfg) {
  check_host_port("httpAddr", cfg.http_addr);
  check_host_port("clusterAddr", cfg.cluster_addr);
  if (!cfg.cluster_advertise_addr.empty())
    check_host_port("clusterAdvertiseAddr", cfg.cluster_advertise_addr);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    throw config_error("tlsCert and tlsKey go together: set both or neither");
  if (cfg.cluster_stale_ms < 4 * cfg.cluster_heartbeat_ms)
    throw config_error(
        fmt::format("clusterStaleMs ({}) must be at least 4 x clusterHeartbeatMs ({})",
                    cfg.cluster_stale_ms, cfg.cluster_heartbeat_ms));
  static const std::vector<std::string> levels = {"debug", "info", "notice", "warn", "error"};
  if (std::find(levels.begin(), levels.end(), cfg.log_level) == levels.end())
    throw config_error(fmt::format(
        "logLevel must be one of debug|info|notice|warn|error, got \"{}\"", cfg.log_level));
  if (cfg.database_url.empty() && cfg.data_dir.empty())
    throw config_error("dataDir must not be empty when databaseURL is empty");
}

std::map<std::string, std::string> process_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

}  // namespace hearth::config
