#pragma once
// hearth's configuration: one struct, filled in layers
//   defaults < JSON file (--config FILE) < environment (HEARTH_*) < flags.
// Every key has one JSON name (lowerCamelCase), one environment variable and
// one flag; the table in config/keys.cpp is the single list of them. Unknown keys
// (in the file or as HEARTH_* variables) and bad values are errors.

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::config {

/// A configuration error: names the key, the source and what was wrong.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The whole configuration. Durations are in milliseconds, sizes in bytes.
struct config {
  std::string database_url;  // "" = embedded PostgreSQL under data_dir
  std::string data_dir = "./hearth-data";
  std::string postgres_bin_dir;              // "" = newest /usr/lib/postgresql/*/bin
  std::string http_addr = "127.0.0.1:3000";  // host:port; port 0 = any free port
  std::string cluster_addr = "127.0.0.1:0";  // node-to-node CAF listener; port 0 = any free port
  std::string cluster_advertise_addr;        // host:port peers dial; "" = cluster_addr's
  std::string node_id;                       // "" = hostname-pid
  std::string log_level = "info";            // debug|info|notice|warn|error
  std::string ready_file;                    // written as {"httpPort":N} once serving
  std::string web_dir;  // "" = the web page built into the binary; else served from here
  // Mutual TLS on cluster links (all three or none; "" = plaintext links):
  // this node's PEM certificate chain and unencrypted key, and the cluster
  // CA that must have signed every peer's certificate.
  std::string cluster_tls_cert;
  std::string cluster_tls_key;
  std::string cluster_tls_ca;
  int http_threads = 2;
  int db_pool_size = 8;
  std::int64_t body_limit_bytes = 1 << 20;
  std::int64_t header_limit_bytes = 16 << 10;
  std::int64_t idle_timeout_ms = 60'000;     // keep-alive idle before close
  std::int64_t request_timeout_ms = 30'000;  // a whole request must arrive in this
  std::int64_t session_ttl_ms = 30LL * 24 * 3600 * 1000;
  std::int64_t sse_heartbeat_ms = 15'000;
  std::int64_t sse_retry_ms = 2'000;
  std::int64_t sse_buffer_bytes = 256 << 10;  // unsent bytes of one stream before it is dropped
  std::int64_t sse_stall_ms = 10'000;  // a stream whose socket takes nothing this long is dropped
  // Replaced by sseBufferBytes and per-household backpressure; accepted
  // (so old configs still start) and ignored with a warning. -1 = not set.
  std::int64_t deprecated_sse_queue_limit = -1;
  std::int64_t deprecated_sse_backlog_limit = -1;
  std::int64_t sse_replay_window = 1'000;  // events per household replayable by Last-Event-ID
  std::string session_expiry_schedule = "every 1m";  // cron job engine.expire-sessions
  // Nightly backups of the embedded PostgreSQL (cron job engine.backup).
  std::string backup_dir;                              // "" = none
  std::string backup_schedule = "0 3 * * *";           // 03:00 UTC
  std::int64_t backup_keep = 7;                        // newest backups kept in backup_dir
  std::int64_t deprecated_scheduler_interval_ms = -1;  // replaced by session_expiry_schedule
  std::int64_t cluster_heartbeat_ms = 250;             // DB heartbeat + election loop period
  std::int64_t cluster_stale_ms = 3'000;  // silent this long = dead (frozen leader deposed)
  std::int64_t cache_mib = 64;            // read cache bound (actors/cache.hpp); 0 = off
  std::int64_t cache_ttl_ms = 60'000;     // a cached household list lives this long after its read
  bool outbox_recheck = true;  // the notifier's 5 s re-read of the outbox (false: tests only)
  // Pub/Sub and cron (engine/pubsub.hpp).
  std::int64_t pubsub_poll_ms = 200;  // how often due deliveries are claimed
  std::int64_t pubsub_workers = 8;    // handler threads; 0 = no deliveries here (cron still runs)
  std::string secrets_file;           // JSON object {"NAME": "value"}; see secret()
  std::map<std::string, std::string> secrets;  // from HEARTH_SECRET_<NAME> (never logged)
  std::string public_url;                      // "" = links are built from the request's Host
  // iCalendar feeds and subscriptions (apps/calendar).
  std::string calendar_refresh_schedule = "every 15m";  // cron calendar.refresh-subscriptions
  std::int64_t calendar_fetch_timeout_ms = 10'000;      // connect + read of one fetch
  // The uptime monitor (apps/uptime).
  std::string uptime_check_schedule = "every 5m";
  std::int64_t uptime_probe_timeout_ms = 5'000;  // connect + read of one check
  std::int64_t uptime_webhook_max_retries = 5;
  std::int64_t uptime_webhook_min_backoff_ms = 1'000;
  std::int64_t uptime_webhook_max_backoff_ms = 300'000;
  bool uptime_status_public = true;            // the status page's data without auth
  std::int64_t uptime_status_poll_ms = 1'000;  // new checks polled while status streams are open
  // Notifications (apps/notify): when, and the e-mail channel.
  std::string notification_schedule = "every 1m";    // cron job notify.due
  std::int64_t calendar_reminder_lead_minutes = 15;  // an event is notified this long before it
  std::int64_t task_due_hour_utc = 0;              // a task is due at this UTC hour of its due date
  std::string notification_email_default = "off";  // e-mail channel of members who chose none
  std::string smtp_url;                            // smtp[s]://[user@]host[:port]; "" = no e-mail
  std::string smtp_from;                   // From: header, e.g. "hearth <hearth@example.com>"
  std::string smtp_starttls = "required";  // smtp:// only: required | optional | off
  std::int64_t smtp_timeout_ms = 30'000;   // connect, and the whole exchange, of one e-mail
  std::int64_t notification_email_max_retries = 10;
  std::int64_t notification_email_min_backoff_ms = 10'000;
  std::int64_t notification_email_max_backoff_ms = 1'800'000;
  // Production HTTP (http/middleware.hpp, app/observability.hpp).
  std::string otlp_endpoint;           // OTLP/HTTP collector base URL; "" = tracing off
  std::int64_t otlp_flush_ms = 1'000;  // a batch of spans leaves at least this often
  double trace_sample_ratio = 1.0;     // of new root traces (trace/trace.hpp)
  std::string access_log;              // "" = off, "stdout", or a file (Apache combined format)
  std::int64_t log_repeat_interval_ms = 10'000;  // repeated log lines: once, then a count per this
  std::string cors_origins;  // comma-separated allowed origins, "*" = any, "" = no CORS
  std::string operator_user = "operator";
  std::string operator_password;  // Basic auth for operator routes; "" = loopback clients only
  bool operator_open = false;     // no password, any client: the operator's explicit choice
  // Outgoing requests (http/outbound.hpp): CIDR lists, comma-separated.
  std::string outbound_allow;  // internal ranges a user's fetch may reach
  std::string outbound_deny;   // ranges no fetch may reach (operators' included)
  // Proxies whose X-Forwarded-For names the client (http/server.hpp).
  std::string trusted_proxies;  // CIDR list; "" = the TCP peer is the client
  std::int64_t max_connections = 10'000;
  std::int64_t max_connections_per_address = 1'024;  // TCP peers that are not trusted proxies
  std::int64_t max_streams_per_account = 64;         // SSE streams
  std::int64_t max_streams_per_address = 1'024;      // SSE streams, by the real client address
  std::int64_t concurrency_limit = 1'024;            // API requests in flight before 503
  std::int64_t rate_limit_per_second = 0;            // per client IP; 0 = off
  std::int64_t rate_limit_burst = 50;
  std::int64_t shutdown_timeout_ms = 10'000;
  std::int64_t drain_notice_ms = 0;  // on SIGTERM: /api/v1/ready says 503 this long before draining
  std::string tls_cert;              // PEM certificate chain: serve HTTPS (with tls_key)
  std::string tls_key;  // PEM private key  // in-flight requests may finish in this on SIGTERM
  // Security (api/guard.hpp, README.md "Security"): sign-in throttling, CSRF.
  std::int64_t auth_failure_limit = 10;  // failed sign-ins per account per window; 0 = off
  std::int64_t auth_ip_failure_limit =
      50;  // failures per client IP per window (each kind); 0 = off
  std::int64_t auth_failure_window_ms = 900'000;
  std::int64_t auth_retry_after_ms = 1'000;        // first wait once throttled; doubles
  std::int64_t auth_max_retry_after_ms = 900'000;  // longest wait
  std::int64_t csrf_require_origin = 0;            // 1 = cookie writes need Origin or Referer
};

/// The defaults: a value-initialised config. The one place each default is
/// written; components' options structs (http::server_options,
/// actors::runtime_options, ...) start from it and are built from a config
/// by their own from_config() next to their code.
const config& defaults();

/// Describes one key for --help and the docs.
struct key_info {
  std::string json;  // "httpAddr"
  std::string env;   // "HEARTH_HTTP_ADDR"
  std::string flag;  // "--http-addr"
  std::string help;
  std::string type;           // "TEXT", "INT" or "BOOL" (true/false, or 1/0 outside JSON)
  std::string default_value;  // as text ("" for an empty text)
};
const std::vector<key_info>& keys();

/// " (did you mean --http-addr?)" for a mistyped flag close to a known one
/// (edit distance, case-insensitive), "" otherwise.
std::string suggest_flag(std::string_view flag);

/// A secret by name: HEARTH_SECRET_<name> from the environment, else the
/// `name` member of the JSON object in secretsFile, else nullopt. Throws
/// config_error when the file cannot be read or is not a JSON object of
/// strings. Secrets are never logged.
std::optional<std::string> secret(const config& cfg, const std::string& name);

/// Splits "host:port" (an IPv6 host may be in brackets, which are removed).
/// Throws config_error when it is not host:port with a port in 0..65535.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& addr);

/// Layers a JSON object (the --config file's text) onto `cfg`.
/// Throws config_error on malformed JSON, unknown keys or bad values.
void apply_json(config& cfg, const std::string& json_text, const std::string& source);

/// Layers HEARTH_* variables from `env` onto `cfg`. Throws config_error on
/// an unknown HEARTH_* name or a bad value.
void apply_env(config& cfg, const std::map<std::string, std::string>& env);

/// Layers flag values (flag name → text, e.g. "--http-addr" → "0.0.0.0:80").
void apply_flags(config& cfg, const std::map<std::string, std::string>& flags);

/// Checks cross-field rules (ranges, address syntax). Throws config_error.
void validate(const config& cfg);

/// The process environment as a map.
std::map<std::string, std::string> process_env();

}  // namespace hearth::config
