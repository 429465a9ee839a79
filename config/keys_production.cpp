// The configuration keys of a production deployment (config/keys.hpp):
// tracing, logs, CORS, operator auth, connection and rate limits,
// shutdown, TLS, and the security keys. The other sections are in
// config/keys.cpp.

#include <fmt/format.h>

#include <stdexcept>

#include "config/key_macros.hpp"
#include "config/keys.hpp"

namespace hearth::config::detail {

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

}  // namespace hearth::config::detail
