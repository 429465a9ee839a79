// The Grafana dashboard (docs/grafana/hearth.json) against the metrics a
// node really exports: Debian's Prometheus scrapes a node every second,
// and every query of every panel runs through Prometheus's HTTP API; each
// must parse and return data. The dashboard must also cover what
// operators watch: requests and latency by route, SSE streams and
// delivery, write batches, the pool, cluster leader and peers, dead
// letters.

#include <signal.h>

#include <boost/json/parse.hpp>
#include <fstream>
#include <sstream>

#include "storage/process.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/support/smtp_sink.hpp"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPrometheus = "/usr/bin/prometheus";

fs::path source_dir() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

std::string percent_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Every `expr` of every panel (rows hold panels too).
void collect_exprs(const json::value& v, std::vector<std::string>& out) {
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (auto* e = o.if_contains("expr"); e && e->is_string()) out.emplace_back(e->as_string());
    for (const auto& [k, child] : o) collect_exprs(child, out);
  } else if (v.is_array()) {
    for (const auto& child : v.as_array()) collect_exprs(child, out);
  }
}

// Grafana's variables, as the dashboard's defaults resolve them.
std::string resolve(std::string expr) {
  for (const auto& [var, value] :
       {std::pair<std::string, std::string>{"$__rate_interval", "30s"}, {"$instance", ".+"}}) {
    for (auto at = expr.find(var); at != std::string::npos; at = expr.find(var, at))
      expr.replace(at, var.size(), value);
  }
  return expr;
}

class grafana_dashboard : public hearth_test {};

TEST_F(grafana_dashboard, every_query_parses_and_returns_data_from_debians_prometheus) {
  ASSERT_TRUE(fs::exists(kPrometheus))
      << kPrometheus << " is missing: install Debian's prometheus (scripts/lib.sh does)";
  std::ifstream in(source_dir() / "docs/grafana/hearth.json");
  ASSERT_TRUE(in) << "docs/grafana/hearth.json";
  std::stringstream text;
  text << in.rdbuf();
  const auto dashboard = json::parse(text.str());
  std::vector<std::string> exprs;
  collect_exprs(dashboard.at("panels"), exprs);
  ASSERT_GE(exprs.size(), 15u);
  std::string all;
  for (const auto& e : exprs) all += e + "\n";
  for (const char* metric :
       {"hearth_http_requests_total", "hearth_http_request_duration_seconds_bucket",
        "hearth_sse_open_streams", "hearth_sse_events_delivered_total",
        "hearth_write_batches_total", "hearth_db_pool_in_use", "hearth_cluster_leader",
        "hearth_cluster_peers", "hearth_pubsub_dead_lettered_total"})
    EXPECT_NE(all.find(metric), std::string::npos) << "no panel shows " << metric;

  // Some traffic for the node to count: a user, a household, a stream, writes.
  auto user = new_user("grafana");
  const auto hh = create_household(user.key, "Dashboard");
  sse_client stream(port(), {{"Authorization", "Bearer " + user.key}});
  for (int i = 0; i < 5; ++i)
    require_status(
        http().request_as(user.key, "POST", "/api/v1/shop/items",
                          json::serialize(json::object{{"authHouseholdID", hh},
                                                       {"name", "i" + std::to_string(i)}})),
        201, "item");

  temp_dir dir;
  const auto prom_port = smtp_sink::free_port();
  const auto config = dir.path / "prometheus.yml";
  {
    std::ofstream out(config);
    out << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: hearth\n    metrics_path: /metrics\n"
        << "    static_configs:\n      - targets: ['127.0.0.1:" << port() << "']\n";
  }
  storage::spawn_options o;
  o.log_file = (dir.path / "prometheus.log").string();
  const pid_t prometheus =
      storage::spawn_process({kPrometheus, "--config.file=" + config.string(),
                              "--storage.tsdb.path=" + (dir.path / "data").string(),
                              "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                             o);
  struct stopper {
    pid_t pid;
    ~stopper() {
      ::kill(pid, SIGTERM);
      if (!storage::wait_process(pid, std::chrono::seconds(20))) {
        ::kill(pid, SIGKILL);
        storage::wait_process(pid, std::chrono::seconds(5));
      }
    }
  } stop_prometheus{prometheus};
  auto log_of_prometheus = [&] {
    std::ifstream l(o.log_file);
    std::stringstream t;
    t << l.rdbuf();
    return t.str();
  };

  http_client prom(prom_port);
  // One query: status "success" and, when `want_data`, at least one sample.
  auto query = [&](const std::string& expr, std::string& why) -> bool {
    http_response res;
    try {
      res = prom.request("GET", "/api/v1/query?query=" + percent_encode(expr));
    } catch (const std::exception& e) {
      why = e.what();
      return false;
    }
    why = res.body.substr(0, 400);
    if (res.status != 200) return false;
    auto body = json::parse(res.body).as_object();
    if (body.at("status").as_string() != "success") return false;
    const auto& data = body.at("data").as_object();
    if (data.at("resultType").as_string() == "scalar") return true;
    return !data.at("result").as_array().empty();
  };
  std::string why;
  ASSERT_TRUE(eventually([&] { return query("up{job=\"hearth\"} == 1", why); }, 30s))
      << "Prometheus never scraped the node: " << why << "\n"
      << log_of_prometheus();
  // rate() over 30 s needs two samples of each series, and more traffic
  // between them.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(1100ms);  // the scrape interval: samples to take a rate of
    require_status(http().request_as(user.key, "GET", "/api/v1/shop/items?authHouseholdID=" + hh),
                   200, "list");
  }
  for (const auto& e : exprs) {
    const auto expr = resolve(e);
    EXPECT_TRUE(eventually([&] { return query(expr, why); }, 20s))
        << "no data for: " << expr << "\n"
        << why;
  }
}

}  // namespace
}  // namespace hearth::testing
