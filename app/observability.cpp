#include "app/observability.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <cctype>
#include <sstream>

#include "api/api.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "engine/dead_letters.hpp"
#include "http/outbound.hpp"
#include "storage/supervisor.hpp"
#include "trace/trace.hpp"

namespace hearth::app {
namespace {

constexpr std::array<const char*, 7> kSecretParams = {"key",     "token",     "password", "secret",
                                                      "session", "signature", "code"};

bool secret_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::any_of(kSecretParams.begin(), kSecretParams.end(),
                     [&](const char* p) { return lower.find(p) != std::string::npos; });
}

// Apache's %r/%{..}i escaping: quotes, backslashes and control bytes.
std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void metric(std::string& out, const char* name, const char* type, const char* help, double v) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name,
                 type, name, v);
}

}  // namespace

std::string redact_target(const std::string& target) {
  // A calendar feed's URL is its credential: its last segment is the token.
  constexpr std::string_view feeds = "/api/v1/calendar/feeds/";
  if (target.size() > feeds.size() && target.compare(0, feeds.size(), feeds) == 0) {
    auto q = target.find('?');
    return std::string(feeds) + "[redacted]" + (q == std::string::npos ? "" : "?[redacted]");
  }
  auto q = target.find('?');
  if (q == std::string::npos) return target;
  std::string out = target.substr(0, q + 1);
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  bool first = true;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    if (!first) out += '&';
    first = false;
    if (eq != std::string_view::npos && secret_name(part.substr(0, eq))) {
      out += part.substr(0, eq);
      out += "=[redacted]";
    } else {
      out += part;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::string combined_log_line(const http::exchange_record& r) {
  auto t = std::chrono::system_clock::to_time_t(r.started);
  std::tm tm{};
  gmtime_r(&t, &tm);
  auto request = r.method.empty()
                     ? std::string("-")
                     : fmt::format("{} {} HTTP/1.1", r.method, redact_target(r.target));
  return fmt::format("{} - - [{:%d/%b/%Y:%H:%M:%S} +0000] \"{}\" {} {} \"{}\" \"{}\"",
                     r.remote_addr.empty() ? "-" : r.remote_addr, tm, escape(request), r.status,
                     r.response_bytes == 0 ? std::string("-") : std::to_string(r.response_bytes),
                     r.referer.empty() ? "-" : escape(r.referer),
                     r.user_agent.empty() ? "-" : escape(r.user_agent));
}

struct observability::impl {
  std::shared_ptr<spdlog::logger> access;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("hearth_http_requests_total")
          .Help("HTTP requests answered, by route pattern, method and status")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram()
          .Name("hearth_http_request_duration_seconds")
          .Help("Time from a request's arrival to its response written (SSE: to the header)")
          .Register(*registry);
  const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};
};

observability::observability(const std::string& access_log) : impl_(std::make_unique<impl>()) {
  if (access_log.empty()) return;
  try {
    std::shared_ptr<spdlog::sinks::sink> sink;
    if (access_log == "stdout")
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    else
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(access_log);
    impl_->access = std::make_shared<spdlog::logger>("access", std::move(sink));
    impl_->access->set_pattern("%v");
    impl_->access->set_level(spdlog::level::info);
    impl_->access->flush_on(spdlog::level::info);
  } catch (const spdlog::spdlog_ex& e) {
    throw std::runtime_error("accessLog: cannot open " + access_log + ": " + e.what());
  }
}

observability::~observability() = default;

void observability::on_exchange(const http::exchange_record& r) {
  auto route = r.route.empty() ? std::string("unmatched") : r.route;
  // Methods are the client's tokens: label only the known ones.
  static const std::array<std::string_view, 7> kMethods = {"GET",    "HEAD",    "POST", "PUT",
                                                           "DELETE", "OPTIONS", "PATCH"};
  auto method = std::find(kMethods.begin(), kMethods.end(), r.method) != kMethods.end()
                    ? r.method
                    : std::string("OTHER");
  auto status = std::to_string(r.status);
  // Logs first, then the counters: an exchange visible in /metrics has
  // been logged (or not) already.
  if (impl_->access) impl_->access->info(combined_log_line(r));
  if (r.status == 503) {
    // Refusals (database down, busy, household behind) repeat while the
    // cause lasts: once per route, then a count (config/log_limiter.hpp).
    log::warn_once("http.503", fmt::format("{} {} -> 503", r.method, route),
                   fmt::format("request {} trace {}", r.request_id, r.trace_id));
  } else if (r.status >= 500) {
    log::warn("request {} trace {}: {} {} -> {} in {} us", r.request_id, r.trace_id, r.method,
              redact_target(r.target), r.status, r.duration.count());
  } else if (log::debug_enabled()) {
    log::debug("request {} trace {}: {} {} -> {} ({} bytes) in {} us from {}", r.request_id,
               r.trace_id, r.method, redact_target(r.target), r.status, r.response_bytes,
               r.duration.count(), r.remote_addr);
  }
  impl_->requests.Add({{"route", route}, {"method", method}, {"status", status}}).Increment();
  impl_->latency.Add({{"route", route}}, impl_->buckets)
      .Observe(std::chrono::duration<double>(r.duration).count());
}

std::string observability::metrics_text(services& s, const http::server_stats& server) const {
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, impl_->registry->Collect());
  std::string out = text.str();
  metric(out, "hearth_http_in_flight_requests", "gauge", "Requests read and not yet answered",
         static_cast<double>(server.in_flight));
  metric(out, "hearth_http_open_connections", "gauge", "Open HTTP connections (not SSE)",
         static_cast<double>(server.open_connections));
  metric(out, "hearth_sse_open_streams", "gauge", "Open SSE streams",
         static_cast<double>(server.open_streams));
  fmt::format_to(std::back_inserter(out),
                 "# HELP hearth_limit_refusals_total Connections and SSE streams refused by a "
                 "per-address or per-account limit (429), by limit\n"
                 "# TYPE hearth_limit_refusals_total counter\n"
                 "hearth_limit_refusals_total{{limit=\"maxConnectionsPerAddress\"}} {}\n"
                 "hearth_limit_refusals_total{{limit=\"maxStreamsPerAccount\"}} {}\n"
                 "hearth_limit_refusals_total{{limit=\"maxStreamsPerAddress\"}} {}\n",
                 server.refused_per_address, s.guard.streams_refused_per_account(),
                 s.guard.streams_refused_per_address());
  const auto& f = server.fanout;
  metric(out, "hearth_sse_unsent_bytes", "gauge",
         "Bytes appended to SSE streams and not yet taken by their sockets",
         static_cast<double>(f.unsent_bytes));
  metric(out, "hearth_sse_events_delivered_total", "counter",
         "Change event frames appended to SSE streams", static_cast<double>(f.frames));
  metric(out, "hearth_sse_writes_total", "counter",
         "Socket writes of SSE streams (frames coalesce: one write per stream per loop turn)",
         static_cast<double>(f.writes));
  fmt::format_to(std::back_inserter(out),
                 "# HELP hearth_sse_streams_dropped_total SSE streams dropped as slow: overflow = "
                 "more than sseBufferBytes unsent, stall = socket took nothing for sseStallMs\n"
                 "# TYPE hearth_sse_streams_dropped_total counter\n"
                 "hearth_sse_streams_dropped_total{{reason=\"overflow\"}} {}\n"
                 "hearth_sse_streams_dropped_total{{reason=\"stall\"}} {}\n",
                 f.dropped_overflow, f.dropped_stall);
  metric(out, "hearth_sse_households_behind", "gauge",
         "Households whose writers get 503 + Retry-After until their streams catch up",
         static_cast<double>(f.households_behind));
  metric(out, "hearth_trace_spans_exported_total", "counter",
         "Spans sent to the OTLP collector (otlpEndpoint)", static_cast<double>(trace::exported()));
  metric(out, "hearth_trace_spans_dropped_total", "counter",
         "Spans lost: the export queue was full or the collector refused or was unreachable",
         static_cast<double>(trace::dropped()));
  const auto& c = s.actors.counters();
  metric(out, "hearth_cluster_commits_total", "counter",
         "Local commits routed by this node's notifier (each may be forwarded to peers)",
         static_cast<double>(c.commits_published.load()));
  metric(out, "hearth_cluster_events_forwarded_total", "counter",
         "Inter-node messages caused by commits: change events sent to peer nodes, once per peer "
         "interested in the household (the peer's cache invalidation rides on it)",
         static_cast<double>(c.events_forwarded.load()));
  metric(out, "hearth_cluster_interest_messages_total", "counter",
         "Watch messages (interest adds, drops and snapshots) sent to peer nodes",
         static_cast<double>(c.interest_messages.load()));
  metric(out, "hearth_cluster_interest_households", "gauge",
         "Households whose events this node needs from its peers (streams or cached lists)",
         static_cast<double>(c.interest_local.load()));
  metric(out, "hearth_cluster_peer_interest_households", "gauge",
         "Households whose events some peer needs from this node",
         static_cast<double>(c.interest_remote.load()));
  metric(out, "hearth_actor_mailbox_size", "gauge",
         "Change events waiting in the notifier's mailbox",
         static_cast<double>(c.notifier_mailbox.load()));
  metric(out, "hearth_household_sessions", "gauge", "Household session actors on this node",
         static_cast<double>(c.households_active.load()));
  metric(out, "hearth_cache_hits_total", "counter", "List reads answered from the read cache",
         static_cast<double>(c.cache_hits.load()));
  metric(out, "hearth_cache_misses_total", "counter",
         "Household lists the read cache had to read from the database",
         static_cast<double>(c.cache_misses.load()));
  metric(out, "hearth_cache_evictions_total", "counter",
         "Entries dropped by the read cache's memory bound (LRU)",
         static_cast<double>(c.cache_evictions.load()));
  metric(out, "hearth_cache_invalidations_total", "counter",
         "Household invalidations received by the read cache (local and peer writes)",
         static_cast<double>(c.cache_invalidations.load()));
  metric(out, "hearth_cache_bytes", "gauge", "Memory held by the read cache (estimate)",
         static_cast<double>(c.cache_bytes.load()));
  metric(out, "hearth_cache_entries", "gauge", "Sessions and household lists in the read cache",
         static_cast<double>(c.cache_entries.load()));
  auto pool = s.db.stats();
  metric(out, "hearth_db_pool_connections", "gauge", "Database pool connections",
         static_cast<double>(pool.size));
  metric(out, "hearth_db_pool_in_use", "gauge", "Database pool connections running a job",
         static_cast<double>(pool.busy));
  metric(out, "hearth_db_pool_queued_jobs", "gauge", "Jobs waiting for a database connection",
         static_cast<double>(pool.queued));
  metric(out, "hearth_db_pool_jobs_total", "counter", "Jobs run by the database pool",
         static_cast<double>(pool.jobs_total));
  metric(out, "hearth_db_pool_wait_seconds_total", "counter",
         "Time jobs waited for a database connection, summed", pool.wait_seconds_total);
  metric(out, "hearth_write_batches_total", "counter",
         "Group commits of row writes (one transaction each)",
         static_cast<double>(s.writes.batches()));
  metric(out, "hearth_write_batched_total", "counter",
         "Row creations committed by group commit (with changes, divided by batches: mean batch "
         "size)",
         static_cast<double>(s.writes.creations()));
  metric(out, "hearth_write_batched_changes_total", "counter",
         "Row updates and deletes committed by group commit",
         static_cast<double>(s.writes.changes()));
  metric(out, "hearth_write_batches_isolated_total", "counter",
         "Group commits rerun with a savepoint per write because one write failed",
         static_cast<double>(s.writes.isolated()));
  auto cluster = s.actors.cluster();
  metric(out, "hearth_cluster_leader", "gauge", "1 when this node leads the cluster",
         cluster.leading ? 1 : 0);
  metric(out, "hearth_cluster_term", "gauge", "The current leadership term (fencing number)",
         static_cast<double>(cluster.term));
  std::size_t up = 0;
  for (const auto& p : cluster.peers) up += p.link == "up";
  out +=
      "# HELP hearth_cluster_peers Peer nodes by link state\n# TYPE hearth_cluster_peers gauge\n";
  fmt::format_to(std::back_inserter(out), "hearth_cluster_peers{{link=\"up\"}} {}\n", up);
  fmt::format_to(std::back_inserter(out), "hearth_cluster_peers{{link=\"down\"}} {}\n",
                 cluster.peers.size() - up);
  if (s.embedded) {
    const auto st = s.embedded->status();
    metric(out, "hearth_embedded_postgres_restarts_total", "counter",
           "Times the supervisor restarted the embedded PostgreSQL after its postmaster exited",
           static_cast<double>(st.restarts));
    metric(out, "hearth_embedded_postgres_restart_failures_total", "counter",
           "Restart attempts of the embedded PostgreSQL that failed (retried with backoff)",
           static_cast<double>(st.failed_attempts));
    metric(out, "hearth_embedded_postgres_up", "gauge",
           "1 while the embedded PostgreSQL's postmaster runs, 0 while it is being restarted",
           st.state == storage::supervisor_status::state_t::running ? 1 : 0);
  }
  const auto& refused = http::outbound_stats();
  fmt::format_to(std::back_inserter(out),
                 "# HELP hearth_outbound_refused_total Outgoing requests refused before connecting "
                 "because no resolved address was allowed (http/outbound.hpp), by whose URL it "
                 "was\n"
                 "# TYPE hearth_outbound_refused_total counter\n"
                 "hearth_outbound_refused_total{{source=\"user\"}} {}\n"
                 "hearth_outbound_refused_total{{source=\"operator\"}} {}\n",
                 refused.user_refused.load(), refused.operator_refused.load());
  out +=
      "# HELP hearth_pubsub_dead_lettered_total Pub/Sub messages this node gave up on after "
      "their last retry (moved to pubsub_dead_letter; GET /api/v1/admin/dead-letters lists "
      "them), by topic and subscription\n"
      "# TYPE hearth_pubsub_dead_lettered_total counter\n";
  for (const auto& [key, count] : engine::dead_letters_counted().snapshot())
    fmt::format_to(std::back_inserter(out),
                   "hearth_pubsub_dead_lettered_total{{topic=\"{}\",subscription=\"{}\"}} {}\n",
                   key.first, key.second, count);
  out +=
      "# HELP hearth_log_suppressed_total Log lines held back as repeats of an identical line "
      "(summarised every logRepeatIntervalMs), by site\n"
      "# TYPE hearth_log_suppressed_total counter\n";
  for (const auto& c : log::repeats().suppressed())
    fmt::format_to(std::back_inserter(out), "hearth_log_suppressed_total{{site=\"{}\"}} {}\n",
                   c.site, c.count);
  return out;
}

void add_metrics_routes(http::route_group& r, api::services& s, observability& obs) {
  http::route metrics{"GET", "/metrics", [&s, &obs](const http::request&, http::responder respond) {
                        http::response res;
                        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
                        res.body = obs.metrics_text(s, s.server.stats());
                        respond(std::move(res));
                      }};
  metrics.options.produces = "text/plain";
  metrics.options.doc = {
      .summary = "Prometheus metrics (text format 0.0.4)", .tag = "operations", .auth = "operator"};
  r.add(std::move(metrics));
}

}  // namespace hearth::app
