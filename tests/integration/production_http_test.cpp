// The production HTTP pieces on the real server: Prometheus metrics and their
// operator auth, CORS, the per-IP rate limit, the access log, the connection
// limit, traceparent in the request log, SIGHUP log-level reload and the
// graceful stop of SSE streams.

#include <signal.h>

#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/support/raw_connection.hpp"

namespace hearth::testing {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class metrics : public hearth_test {};

TEST_F(metrics, are_prometheus_text_with_requests_latency_and_runtime_figures) {
  require_status(http().request("GET", "/api/v1/health"), 200, "health");
  require_status(http().request("GET", "/no/such/path"), 404, "unknown path");
  auto res = http().request("GET", "/metrics");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  const auto& m = res.body;
  EXPECT_NE(m.find("hearth_http_requests_total{method=\"GET\",route=\"/api/v1/health\","
                   "status=\"200\"} 1"),
            std::string::npos)
      << m;
  // Unknown paths are counted under one label, not one series per path.
  EXPECT_NE(m.find("route=\"unmatched\",status=\"404\"} 1"), std::string::npos) << m;
  EXPECT_NE(
      m.find("hearth_http_request_duration_seconds_bucket{route=\"/api/v1/health\",le=\"0.5\"} 1"),
      std::string::npos)
      << m;
  for (const char* name : {"hearth_http_in_flight_requests 1", "hearth_sse_open_streams 0",
                           "hearth_sse_events_delivered_total", "hearth_sse_streams_dropped_total",
                           "hearth_actor_mailbox_size", "hearth_db_pool_connections 8",
                           "hearth_db_pool_in_use", "hearth_db_pool_wait_seconds_total",
                           "hearth_cluster_term", "hearth_cluster_peers{link=\"up\"} 0"})
    EXPECT_NE(m.find(name), std::string::npos) << name << "\n" << m;
  // This single node leads (within a few heartbeats of starting).
  EXPECT_TRUE(eventually([&] {
    return http().request("GET", "/metrics").body.find("hearth_cluster_leader 1") !=
           std::string::npos;
  }));
}

TEST_F(metrics, count_delivered_events_and_open_streams) {
  auto u = new_user("metrics");
  auto h = create_household(u.key, "Metrics");
  auto sse = open_sse(u.key);
  create_item(u.key, h, "milk");
  ASSERT_TRUE(next_change(*sse));
  auto body = http().request("GET", "/metrics").body;
  EXPECT_NE(body.find("hearth_sse_open_streams 1"), std::string::npos) << body;
  EXPECT_NE(body.find("hearth_sse_events_delivered_total 1"), std::string::npos) << body;
}

class operator_auth : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_OPERATOR_USER", "ops"}, {"HEARTH_OPERATOR_PASSWORD", "hunter2"}};
  }
};

TEST_F(operator_auth, guards_metrics_with_basic_auth) {
  auto denied = http().request("GET", "/metrics");
  check_envelope(denied, 401);
  EXPECT_NE(denied.header("www-authenticate").find("Basic realm=\"hearth\""), std::string::npos);
  // "ops:hunter2" and "ops:wrong" in base64
  auto wrong = http().request("GET", "/metrics", "", {{"Authorization", "Basic b3BzOndyb25n"}});
  EXPECT_EQ(wrong.status, 401u);
  auto ok = http().request("GET", "/metrics", "", {{"Authorization", "Basic b3BzOmh1bnRlcjI="}});
  EXPECT_EQ(ok.status, 200u) << ok.body;
  // The API itself is not behind operator auth.
  EXPECT_EQ(http().request("GET", "/api/v1/health").status, 200u);
}

class cors_enabled : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_CORS_ORIGINS", "https://app.example, https://admin.example"}};
  }
};

TEST_F(cors_enabled, answers_preflights_and_marks_responses_for_allowed_origins) {
  auto pre = http().request("OPTIONS", "/api/v1/shop/items", "",
                            {{"Origin", "https://admin.example"},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "authorization, content-type"}});
  EXPECT_EQ(pre.status, 204u) << pre.body;
  EXPECT_EQ(pre.header("access-control-allow-origin"), "https://admin.example");
  EXPECT_NE(pre.header("access-control-allow-headers").find("Authorization"), std::string::npos);
  EXPECT_TRUE(pre.body.empty());
  auto other = http().request(
      "OPTIONS", "/api/v1/shop/items", "",
      {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  check_envelope(other, 403);
  auto get = http().request("GET", "/api/v1/health", "", {{"Origin", "https://app.example"}});
  EXPECT_EQ(get.status, 200u);
  EXPECT_EQ(get.header("access-control-allow-origin"), "https://app.example");
  EXPECT_EQ(get.header("vary"), "Origin");
  auto foreign = http().request("GET", "/api/v1/health", "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(foreign.header("access-control-allow-origin"), "");
}

class rate_limited : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_RATE_LIMIT_PER_SECOND", "1"}, {"HEARTH_RATE_LIMIT_BURST", "3"}};
  }
};

TEST_F(rate_limited, a_client_over_its_rate_gets_429_with_retry_after) {
  int ok = 0;
  http_response limited;
  for (int i = 0; i < 10 && limited.status == 0; ++i) {
    auto res = http().request("GET", "/api/v1/health");
    if (res.status == 200) ++ok;
    if (res.status == 429) limited = res;
  }
  // The burst (3, plus at most one token refilled meanwhile), then 429.
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 4);
  check_envelope(limited, 429);
  EXPECT_GE(std::stoi(limited.header("retry-after")), 1);
}

class access_logged : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    log_path_ = std::filesystem::temp_directory_path() /
                ("hearth-access-" + std::to_string(::getpid()) + ".log");
    std::filesystem::remove(log_path_);
    return {{"HEARTH_ACCESS_LOG", log_path_.string()}};
  }
  void TearDown() override {
    hearth_test::TearDown();
    std::filesystem::remove(log_path_);
  }
  std::filesystem::path log_path_;
};

TEST_F(access_logged, writes_one_combined_format_line_per_request) {
  http().request("GET", "/api/v1/health?key=topsecret", "",
                 {{"User-Agent", "probe/1.0"}, {"Referer", "https://ref.example/"}});
  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = read_file(log_path_);
    return text.find("probe/1.0") != std::string::npos;
  })) << text;
  std::regex line(
      R"(127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /api/v1/health\?key=\[redacted\] HTTP/1\.1" 200 \d+ "https://ref\.example/" "probe/1\.0")");
  EXPECT_TRUE(std::regex_search(text, line)) << text;
  EXPECT_EQ(text.find("topsecret"), std::string::npos);
}

class connection_limited : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_MAX_CONNECTIONS", "2"}};
  }
};

TEST_F(connection_limited, a_connection_over_the_limit_gets_503_and_is_closed) {
  http_client a(port());
  auto b = std::make_unique<http_client>(port());
  require_status(a.request("GET", "/api/v1/health"), 200, "first connection");
  require_status(b->request("GET", "/api/v1/health"), 200, "second connection");
  raw_connection third(port());
  auto [data, closed] = third.read_until_closed(5s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(data.rfind("HTTP/1.1 503", 0), 0u) << data;
  EXPECT_NE(data.find("Retry-After: 1"), std::string::npos) << data;
  EXPECT_NE(data.find("\"status\":503"), std::string::npos) << data;
  // Once one closes, new connections are served again.
  b.reset();
  EXPECT_TRUE(eventually(
      [&] { return http_client(port()).request("GET", "/api/v1/health").status == 200; }));
}

class debug_logged : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_LOG_LEVEL", "debug"}};
  }
};

TEST_F(debug_logged, the_request_log_carries_the_traceparent_trace_id) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  http().request(
      "GET", "/api/v1/health", "",
      {{"traceparent", "00-" + trace + "-00f067aa0ba902b7-01"}, {"X-Request-ID", "req-trace-1"}});
  EXPECT_TRUE(eventually([&] {
    auto log = hearth_->log();
    return log.find("request req-trace-1 trace " + trace) != std::string::npos;
  })) << hearth_->log();
  // An invalid traceparent starts a new trace instead.
  http().request("GET", "/api/v1/health", "",
                 {{"traceparent", "00-" + std::string(32, '0') + "-00f067aa0ba902b7-01"},
                  {"X-Request-ID", "req-trace-2"}});
  EXPECT_TRUE(eventually([&] {
    std::smatch m;
    auto log = hearth_->log();
    return std::regex_search(log, m, std::regex("request req-trace-2 trace ([0-9a-f]{32})")) &&
           m[1] != std::string(32, '0');
  })) << hearth_->log();
}

// SIGHUP re-reads the configuration file and applies its log level.
class reloadable : public hearth_test {
 protected:
  void SetUp() override {
    config_ = std::filesystem::temp_directory_path() /
              ("hearth-reload-" + std::to_string(::getpid()) + ".json");
    std::ofstream(config_) << R"({"logLevel": "warn"})";
    database_url_ = throwaway_postgres::shared().create_database();
    hearth_ = std::make_unique<hearth_process>(
        std::map<std::string, std::string>{{"HEARTH_DATABASE_URL", database_url_},
                                           {"HEARTH_LOG_LEVEL", ""}},  // the file's level
        std::vector<std::string>{"--config", config_.string(), "serve"});
    http_ = std::make_unique<http_client>(port());
  }
  void TearDown() override {
    hearth_test::TearDown();
    std::filesystem::remove(config_);
  }
  std::filesystem::path config_;
};

TEST_F(reloadable, sighup_applies_a_new_log_level_without_a_restart) {
  http().request("GET", "/api/v1/health", "", {{"X-Request-ID", "before-reload"}});
  // The exchange is observed (logged or not) after its response went out:
  // wait until the counters show it, so the reload cannot overtake it.
  ASSERT_TRUE(eventually([&] {
    return http()
               .request("GET", "/metrics")
               .body.find(
                   R"(hearth_http_requests_total{method="GET",route="/api/v1/health",status="200"} 1)") !=
           std::string::npos;
  })) << http().request("GET", "/metrics").body.substr(0, 3000);
  std::ofstream(config_, std::ios::trunc) << R"({"logLevel": "debug"})";
  ASSERT_EQ(::kill(hearth_->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] {
    return hearth_->log().find("configuration re-read, log level debug") != std::string::npos;
  })) << hearth_->log();
  http().request("GET", "/api/v1/health", "", {{"X-Request-ID", "after-reload"}});
  EXPECT_TRUE(eventually([&] {
    return hearth_->log().find("request after-reload") != std::string::npos;
  })) << hearth_->log();
  EXPECT_EQ(hearth_->log().find("request before-reload"), std::string::npos);
}

class graceful_stop : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_SSE_RETRY_MS", "1234"}};
  }
};

TEST_F(graceful_stop, sigterm_tells_sse_clients_to_retry_closes_streams_and_exits_0) {
  auto u = new_user("stop");
  create_household(u.key, "Stop");
  raw_connection sse(port());
  sse.send("GET /api/v1/sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + u.key +
           "\r\nAccept: text/event-stream\r\n\r\n");
  std::string data;
  ASSERT_TRUE(sse.read_until("retry: 1234\n\n", data, 5s)) << data;
  auto first = data.find("retry: 1234");
  auto exit_code = std::async(std::launch::async, [&] { return hearth_->stop(SIGTERM); });
  // A second retry hint, then the chunked body's end, then the close.
  ASSERT_TRUE(sse.read_until("0\r\n\r\n", data, 10s)) << data;
  EXPECT_NE(data.find("retry: 1234", first + 1), std::string::npos) << data;
  EXPECT_TRUE(sse.read_until_closed(5s).second);
  EXPECT_EQ(exit_code.get(), 0);
  EXPECT_NE(hearth_->log().find("told to reconnect"), std::string::npos) << hearth_->log();
}

}  // namespace
}  // namespace hearth::testing
