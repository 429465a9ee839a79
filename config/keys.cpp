// The table of configuration keys (config/keys.hpp): every key's names,
// description, type, range and the config member it sets, by section.

#include "config/keys.hpp"

#include <fmt/format.h>

#include <iterator>
#include <stdexcept>

namespace hearth::config::detail {
namespace {

// Each expands to the entry's setter and getter.
#define HEARTH_TEXT(member)                                            \
  [](config& c, const std::string& s, std::int64_t) { c.member = s; }, \
      [](const config& c) { return std::string(c.member); }
#define HEARTH_INT(member)                            \
  [](config& c, const std::string&, std::int64_t v) { \
    c.member = static_cast<decltype(c.member)>(v);    \
  },                                                  \
      [](const config& c) { return std::to_string(c.member); }
#define HEARTH_BOOL(member)                                                 \
  [](config& c, const std::string&, std::int64_t v) { c.member = v != 0; }, \
      [](const config& c) { return std::string(c.member ? "true" : "false"); }

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

// Where things are: the database, the addresses, the node's name, its log.
std::vector<entry> setup_keys() {
  return {
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
      {{"webDir", "HEARTH_WEB_DIR", "--web-dir",
        "serve the web page from this directory instead of the files built into the binary "
        "(UI development); empty = built in"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(web_dir)},
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
      {{"clusterTLSCert", "HEARTH_CLUSTER_TLS_CERT", "--cluster-tls-cert",
        "PEM certificate chain of this node for cluster links (mutual TLS; with clusterTLSKey "
        "and clusterTLSCA); empty = plaintext links"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(cluster_tls_cert)},
      {{"clusterTLSKey", "HEARTH_CLUSTER_TLS_KEY", "--cluster-tls-key",
        "PEM private key of clusterTLSCert (unencrypted)"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(cluster_tls_key)},
      {{"clusterTLSCA", "HEARTH_CLUSTER_TLS_CA", "--cluster-tls-ca",
        "PEM file of the cluster CA: a peer links only with a certificate it signed"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(cluster_tls_ca)},
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
  };
}

// Capacity and limits of the HTTP server, the database pool and sessions.
std::vector<entry> capacity_keys() {
  return {
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
  };
}

// Server-sent events.
std::vector<entry> sse_keys() {
  return {
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
  };
}

// Background work: the scheduler, the cluster's heartbeat, the read cache, Pub/Sub.
std::vector<entry> background_keys() {
  return {
      {{"sessionExpirySchedule", "HEARTH_SESSION_EXPIRY_SCHEDULE", "--session-expiry-schedule",
        "when expired sessions are deleted (cron job engine.expire-sessions): 'every 1m' or a "
        "5-field cron expression"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(session_expiry_schedule)},
      {{"backupDir", "HEARTH_BACKUP_DIR", "--backup-dir",
        "with the embedded PostgreSQL: where the cron job engine.backup writes backups "
        "(hearth backup's format); empty = none"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(backup_dir)},
      {{"backupSchedule", "HEARTH_BACKUP_SCHEDULE", "--backup-schedule",
        "when engine.backup runs (UTC): 'every 1h' or a 5-field cron expression"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(backup_schedule)},
      {{"backupKeep", "HEARTH_BACKUP_KEEP", "--backup-keep",
        "how many of the newest backups engine.backup keeps in backupDir"},
       kind::integer,
       1,
       10'000,
       HEARTH_INT(backup_keep)},
      {{"schedulerIntervalMs", "HEARTH_SCHEDULER_INTERVAL_MS", "--scheduler-interval-ms",
        "deprecated, ignored: session expiry is the cron job engine.expire-sessions "
        "(sessionExpirySchedule)"},
       kind::integer,
       std::numeric_limits<std::int64_t>::min(),  // ignored: any integer is accepted
       std::numeric_limits<std::int64_t>::max(),
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
      {{"cacheTtlMs", "HEARTH_CACHE_TTL_MS", "--cache-ttl-ms",
        "how long a cached household list lives after its read; in a cluster, a node stops "
        "receiving a household's events 5-10 s after its last list expired and its last stream "
        "closed"},
       kind::integer,
       1'000,
       86'400'000,
       HEARTH_INT(cache_ttl_ms)},
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
  };
}

// Applications: their secrets, the uptime monitor.
std::vector<entry> application_keys() {
  return {
      {{"secretsFile", "HEARTH_SECRETS_FILE", "--secrets-file",
        "JSON file of secrets {\"NAME\": \"value\"}; HEARTH_SECRET_<NAME> variables win"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(secrets_file)},
      {{"publicURL", "HEARTH_PUBLIC_URL", "--public-url",
        "the URL clients reach this service at (https://hearth.example.com), for links hearth "
        "hands out such as calendar feeds; empty = from the request's Host"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(public_url)},
      {{"calendarRefreshSchedule", "HEARTH_CALENDAR_REFRESH_SCHEDULE",
        "--calendar-refresh-schedule",
        "when subscribed iCalendar URLs are fetched again (cron job "
        "calendar.refresh-subscriptions): 'every 15m' or a 5-field cron expression"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(calendar_refresh_schedule)},
      {{"calendarFetchTimeoutMs", "HEARTH_CALENDAR_FETCH_TIMEOUT_MS", "--calendar-fetch-timeout-ms",
        "connect and read timeout of one fetch of a subscribed calendar"},
       kind::integer,
       50,
       600'000,
       HEARTH_INT(calendar_fetch_timeout_ms)},
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
      {{"uptimeStatusPublic", "HEARTH_UPTIME_STATUS_PUBLIC", "--uptime-status-public",
        "true: the status page's data (/api/v1/monitor/status, .../events) needs no auth; "
        "false: operator Basic auth"},
       kind::boolean,
       0,
       1,
       HEARTH_BOOL(uptime_status_public)},
      {{"uptimeStatusPollMs", "HEARTH_UPTIME_STATUS_POLL_MS", "--uptime-status-poll-ms",
        "how often a node reads new uptime checks for its open status streams (none: no reads)"},
       kind::integer,
       50,
       60'000,
       HEARTH_INT(uptime_status_poll_ms)},
  };
}

// Notifications (apps/notify): when they are made, and the e-mail channel.
std::vector<entry> notification_keys() {
  return {
      {{"notificationSchedule", "HEARTH_NOTIFICATION_SCHEDULE", "--notification-schedule",
        "when notify.due looks for due tasks and starting events: 'every 1m' or a 5-field cron "
        "expression"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(notification_schedule)},
      {{"calendarReminderLeadMinutes", "HEARTH_CALENDAR_REMINDER_LEAD_MINUTES",
        "--calendar-reminder-lead-minutes",
        "a calendar event is notified this long before it starts"},
       kind::integer,
       0,
       7 * 24 * 60,
       HEARTH_INT(calendar_reminder_lead_minutes)},
      {{"taskDueHourUTC", "HEARTH_TASK_DUE_HOUR_UTC", "--task-due-hour-utc",
        "a task is due at this hour (UTC) of its due date"},
       kind::integer,
       0,
       23,
       HEARTH_INT(task_due_hour_utc)},
      {{"notificationEmailDefault", "HEARTH_NOTIFICATION_EMAIL_DEFAULT",
        "--notification-email-default", "e-mail channel of members who have not chosen: on|off"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(notification_email_default)},
      {{"smtpURL", "HEARTH_SMTP_URL", "--smtp-url",
        "SMTP relay for e-mail notifications, smtp://[user@]host[:port] or smtps://…; its password "
        "is the secret SMTP_PASSWORD; empty = no e-mail"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(smtp_url)},
      {{"smtpFrom", "HEARTH_SMTP_FROM", "--smtp-from",
        "From of e-mail notifications, e.g. 'hearth <hearth@example.com>' (ASCII)"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(smtp_from)},
      {{"smtpStartTLS", "HEARTH_SMTP_STARTTLS", "--smtp-starttls",
        "STARTTLS on smtp:// relays: required|optional|off (smtps:// is TLS from the start)"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(smtp_starttls)},
      {{"smtpTimeoutMs", "HEARTH_SMTP_TIMEOUT_MS", "--smtp-timeout-ms",
        "limit of the connection, and of the whole exchange, of one e-mail"},
       kind::integer,
       100,
       600'000,
       HEARTH_INT(smtp_timeout_ms)},
      {{"notificationEmailMaxRetries", "HEARTH_NOTIFICATION_EMAIL_MAX_RETRIES",
        "--notification-email-max-retries", "e-mail retries before it is dead-lettered"},
       kind::integer,
       0,
       1000,
       HEARTH_INT(notification_email_max_retries)},
      {{"notificationEmailMinBackoffMs", "HEARTH_NOTIFICATION_EMAIL_MIN_BACKOFF_MS",
        "--notification-email-min-backoff-ms",
        "first retry delay of an e-mail (doubles per retry)"},
       kind::integer,
       1,
       3'600'000,
       HEARTH_INT(notification_email_min_backoff_ms)},
      {{"notificationEmailMaxBackoffMs", "HEARTH_NOTIFICATION_EMAIL_MAX_BACKOFF_MS",
        "--notification-email-max-backoff-ms", "longest retry delay of an e-mail"},
       kind::integer,
       1,
       86'400'000,
       HEARTH_INT(notification_email_max_backoff_ms)},
  };
}

// Production: logs, CORS, operator auth, connection and rate limits, shutdown, TLS.
std::vector<entry> production_keys() {
  return {
      {{"otlpEndpoint", "HEARTH_OTLP_ENDPOINT", "--otlp-endpoint",
        "OpenTelemetry collector base URL (OTLP/HTTP JSON, spans POSTed to <url>/v1/traces); "
        "empty = tracing off"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(otlp_endpoint)},
      {{"otlpFlushMs", "HEARTH_OTLP_FLUSH_MS", "--otlp-flush-ms",
        "longest time a finished span waits before its batch is sent"},
       kind::integer,
       10,
       60'000,
       HEARTH_INT(otlp_flush_ms)},
      {{"traceSampleRatio", "HEARTH_TRACE_SAMPLE_RATIO", "--trace-sample-ratio",
        "share of new traces recorded, 0..1 (an incoming traceparent's sampled flag wins)"},
       kind::text,
       0,
       0,
       [](config& c, const std::string& s, std::int64_t) {
         double v = -1;
         try {
           std::size_t used = 0;
           v = std::stod(s, &used);
           if (used != s.size()) v = -1;
         } catch (const std::exception&) {
         }
         if (!(v >= 0.0 && v <= 1.0))
           throw config_error("traceSampleRatio must be a number from 0 to 1, got \"" + s + "\"");
         c.trace_sample_ratio = v;
       },
       [](const config& c) { return fmt::format("{}", c.trace_sample_ratio); }},
      {{"accessLog", "HEARTH_ACCESS_LOG", "--access-log",
        "access log in Apache combined format: empty = off, \"stdout\" or a file"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(access_log)},
      {{"logRepeatIntervalMs", "HEARTH_LOG_REPEAT_INTERVAL_MS", "--log-repeat-interval-ms",
        "a repeated identical warning is logged once, then as a count every this many ms; "
        "0 = log every occurrence"},
       kind::integer,
       0,
       kDay,
       HEARTH_INT(log_repeat_interval_ms)},
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
        "Basic auth password for the operator routes (/metrics, /api/v1/admin/*, the "
        "monitor's sites and checks); empty = only loopback clients may use them, and an "
        "httpAddr other than loopback needs operatorOpen"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(operator_password)},
      {{"operatorOpen", "HEARTH_OPERATOR_OPEN", "--operator-open",
        "true: with no operatorPassword, the operator routes answer every client (a warning "
        "is logged at start); needed to start on a non-loopback httpAddr without a password"},
       kind::boolean,
       0,
       0,
       HEARTH_BOOL(operator_open)},
      {{"outboundAllow", "HEARTH_OUTBOUND_ALLOW", "--outbound-allow",
        "CIDR ranges, comma-separated, that fetches of users' URLs (calendar subscriptions) "
        "may reach although internal (loopback, private, link-local, ...); empty = none"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(outbound_allow)},
      {{"outboundDeny", "HEARTH_OUTBOUND_DENY", "--outbound-deny",
        "CIDR ranges, comma-separated, that no outgoing request may reach, operators' ones "
        "(uptime sites, webhook, OTLP) included; empty = none"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(outbound_deny)},
      {{"trustedProxies", "HEARTH_TRUSTED_PROXIES", "--trusted-proxies",
        "CIDR ranges, comma-separated, of proxies whose X-Forwarded-For names the client "
        "(per-address limits, sign-in throttles, the operator routes' loopback check, logs); "
        "empty = the TCP peer is the client"},
       kind::text,
       0,
       0,
       HEARTH_TEXT(trusted_proxies)},
      {{"maxConnections", "HEARTH_MAX_CONNECTIONS", "--max-connections",
        "open connections (SSE included) beyond which new ones get 503"},
       kind::integer,
       1,
       1'000'000,
       HEARTH_INT(max_connections)},
      {{"maxConnectionsPerAddress", "HEARTH_MAX_CONNECTIONS_PER_ADDRESS",
        "--max-connections-per-address",
        "open connections (SSE included) of one client address beyond which new ones get 429 "
        "and are closed; a trusted proxy's are not counted; 0 = no limit"},
       kind::integer,
       0,
       1'000'000,
       HEARTH_INT(max_connections_per_address)},
      {{"maxStreamsPerAccount", "HEARTH_MAX_STREAMS_PER_ACCOUNT", "--max-streams-per-account",
        "SSE streams one account may hold open on a node (phones, tablets, tabs); beyond it "
        "429 + Retry-After; 0 = no limit"},
       kind::integer,
       0,
       1'000'000,
       HEARTH_INT(max_streams_per_account)},
      {{"maxStreamsPerAddress", "HEARTH_MAX_STREAMS_PER_ADDRESS", "--max-streams-per-address",
        "SSE streams one client address (behind trustedProxies: the real client) may hold open "
        "on a node (households behind carrier-grade NAT share one); beyond it 429 + "
        "Retry-After; 0 = no limit"},
       kind::integer,
       0,
       1'000'000,
       HEARTH_INT(max_streams_per_address)},
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
      {{"drainNoticeMs", "HEARTH_DRAIN_NOTICE_MS", "--drain-notice-ms",
        "on SIGTERM, how long GET /api/v1/ready answers 503 while the node still serves, before "
        "it stops accepting: give the load balancer's checks time to take it out (deploy/)"},
       kind::integer,
       0,
       600'000,
       HEARTH_INT(drain_notice_ms)},
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
}

// Security: throttling of failed authentication, cross-site request checks.
std::vector<entry> security_keys() {
  return {
      {{"authFailureLimit", "HEARTH_AUTH_FAILURE_LIMIT", "--auth-failure-limit",
        "failed sign-ins per account (e-mail address, known or not) within "
        "authFailureWindowMs before 429 + Retry-After; 0 = off"},
       kind::integer,
       0,
       1'000'000,
       HEARTH_INT(auth_failure_limit)},
      {{"authIPFailureLimit", "HEARTH_AUTH_IP_FAILURE_LIMIT", "--auth-ip-failure-limit",
        "per client IP within authFailureWindowMs, each counted apart: failed sign-ins, "
        "refused sign-ups, unknown session keys; beyond it 429 + Retry-After; 0 = off"},
       kind::integer,
       0,
       1'000'000,
       HEARTH_INT(auth_ip_failure_limit)},
      {{"authFailureWindowMs", "HEARTH_AUTH_FAILURE_WINDOW_MS", "--auth-failure-window-ms",
        "failures are forgotten after this long without one (and without a wait in force)"},
       kind::integer,
       1'000,
       kDay,
       HEARTH_INT(auth_failure_window_ms)},
      {{"authRetryAfterMs", "HEARTH_AUTH_RETRY_AFTER_MS", "--auth-retry-after-ms",
        "first wait once throttled; each further attempt doubles it"},
       kind::integer,
       1,
       kDay,
       HEARTH_INT(auth_retry_after_ms)},
      {{"authMaxRetryAfterMs", "HEARTH_AUTH_MAX_RETRY_AFTER_MS", "--auth-max-retry-after-ms",
        "longest wait of a throttled account or client IP"},
       kind::integer,
       1,
       kDay,
       HEARTH_INT(auth_max_retry_after_ms)},
      {{"csrfRequireOrigin", "HEARTH_CSRF_REQUIRE_ORIGIN", "--csrf-require-origin",
        "1 = a cookie-authenticated write with neither Origin nor Referer is refused (403); "
        "0 = it passes (a foreign Origin or Referer is always refused)"},
       kind::integer,
       0,
       1,
       HEARTH_INT(csrf_require_origin)},
  };
}

}  // namespace

// Every key, in the order of the sections above (and of hearth --help).
const std::vector<entry>& table() {
  static const std::vector<entry> all = [] {
    std::vector<entry> out;
    for (auto section : {setup_keys, capacity_keys, sse_keys, background_keys, application_keys,
                         notification_keys, production_keys, security_keys}) {
      auto keys = section();
      out.insert(out.end(), std::make_move_iterator(keys.begin()),
                 std::make_move_iterator(keys.end()));
    }
    return out;
  }();
  return all;
}

#undef HEARTH_TEXT
#undef HEARTH_INT

}  // namespace hearth::config::detail
