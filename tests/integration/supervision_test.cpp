// Fault tolerance of the embedded PostgreSQL (storage/supervisor.hpp) and
// quiet failure (config/log_limiter.hpp): kill -9 of the postmaster under a
// running `hearth serve`; hearth restarts it, reconnects and serves again
// without restarting itself, acknowledged writes survive, and the outage is
// logged once and counted instead of once per retry.

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>

#include <fstream>
#include <set>
#include <sstream>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

/// The pid on the first line of <data_dir>/postgres/postmaster.pid (0 when absent).
pid_t postmaster_pid(const std::filesystem::path& data_dir) {
  std::ifstream in(data_dir / "postgres" / "postmaster.pid");
  long pid = 0;
  if (!(in >> pid)) return 0;
  return static_cast<pid_t>(pid);
}

/// The processes whose parent is `parent` (from /proc/<pid>/stat).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  while (auto* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::ifstream in("/proc/" + std::string(entry->d_name) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');  // the command may hold spaces and parentheses
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

/// Occurrences of `needle` in `text`.
std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

/// A Prometheus sample's value ("" when absent).
std::string metric_value(const std::string& text, const std::string& sample) {
  auto at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return "";
  auto start = at + sample.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

class embedded_supervision : public ::testing::Test {
 protected:
  temp_dir dir;
  std::filesystem::path data_dir = dir.path / "data";
  std::unique_ptr<hearth_process> hearth;
  std::unique_ptr<http_client> http;
  std::string key, household;
  pid_t held = 0;  // a stopped PostgreSQL process, killed at the end whatever happens

  void start(std::map<std::string, std::string> env = {}) {
    env["HEARTH_DATA_DIR"] = data_dir.string();  // no databaseURL: embedded PostgreSQL
    hearth = std::make_unique<hearth_process>(env);
    http = std::make_unique<http_client>(hearth->port());
    const auto email = unique_email("supervised");
    require_status(http->request("POST", "/api/v1/auth/signup",
                                 json::serialize(json::object{{"emailAddress", email},
                                                              {"password", "kill dash nine"},
                                                              {"name", "Supervised"}})),
                   201, "signup");
    auto signin = http->request(
        "POST", "/api/v1/auth/signin",
        json::serialize(json::object{{"emailAddress", email}, {"password", "kill dash nine"}}));
    require_status(signin, 201, "signin");
    key = str(first_value(signin), "key");
    auto hh = http->request_as(key, "POST", "/api/v1/auth/households",
                               json::serialize(json::object{{"name", "Supervised"}}));
    require_status(hh, 201, "household");
    household = str(first_value(hh), "id");
  }

  void TearDown() override {
    if (held > 0) ::kill(held, SIGKILL);
    if (HasFailure() && hearth) {
      std::string log = hearth->log();
      if (log.size() > 8000) log = log.substr(log.size() - 8000);
      std::cerr << "---- hearth log tail ----\n" << log << "\n---- end ----\n";
    }
    if (hearth) hearth->stop(SIGTERM, std::chrono::seconds(60));
  }

  http_response create_item(const std::string& name) {
    return http->request_as(
        key, "POST", "/api/v1/shop/items",
        json::serialize(json::object{{"authHouseholdID", household}, {"name", name}}));
  }

  json::object health(unsigned* status = nullptr) {
    auto res = http->request("GET", "/api/v1/health");
    if (status) *status = res.status;
    return first_value(res);
  }
};

TEST_F(embedded_supervision, restarts_postgres_after_kill_9_and_keeps_acknowledged_writes) {
  start();
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 5; ++i) {
    auto res = create_item("before " + std::to_string(i));
    require_status(res, 201, "item before the kill");
    acknowledged.push_back(str(first_value(res), "id"));
  }
  const pid_t old_pid = postmaster_pid(data_dir);
  ASSERT_GT(old_pid, 0);
  auto before = health();
  EXPECT_EQ(str(before.at("embeddedPostgres").as_object(), "state"), "running");
  EXPECT_EQ(before.at("embeddedPostgres").as_object().at("pid").to_number<pid_t>(), old_pid);

  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);

  // Write until the restarted server takes writes. Backends of the killed
  // postmaster may still commit a write or two before they notice its
  // death, so success alone does not mean restarted: health says when.
  // Every answer meanwhile is 201 or 503 (database unavailable), never a
  // 500 or a dropped connection.
  std::vector<std::string> written;
  bool restarted = false;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (int i = 0; !restarted && std::chrono::steady_clock::now() < deadline; ++i) {
    auto res = create_item("after " + std::to_string(i));
    ASSERT_TRUE(res.status == 201 || res.status == 503) << res.status << " " << res.body;
    if (res.status == 201) written.push_back(str(first_value(res), "id"));
    unsigned status = 0;
    auto h = health(&status);
    restarted =
        status == 200 && h.at("embeddedPostgres").as_object().at("restarts").to_number<int>() >= 1;
    if (!restarted) std::this_thread::sleep_for(50ms);  // pacing of the client's retries
  }
  ASSERT_TRUE(restarted) << "not restarted within 60 s of the kill";
  // The supervisor had the pool reconnect before it reported the restart
  // (storage::pool::reconnect): no connection opened before the kill is
  // used again, so the next write succeeds at once. (Before, each such
  // connection failed one job with 503 + Retry-After.)
  http_response again;
  int stale = 0;
  for (; stale < 8; ++stale) {
    again = create_item("after the restart");
    if (again.status != 503) break;
    std::this_thread::sleep_for(50ms);  // pacing of the client's retries
  }
  require_status(again, 201, "write after the restart");
  EXPECT_EQ(stale, 0) << "503s after the restart: a pooled connection from before it was used";
  written.push_back(str(first_value(again), "id"));

  // The same process serves, with a new postmaster, and says so.
  EXPECT_EQ(::kill(hearth->pid(), 0), 0);
  // Health too may meet a stale pooled connection once (503), like a write.
  unsigned status = 0;
  json::object after;
  EXPECT_TRUE(eventually(
      [&] {
        after = health(&status);
        return status == 200;
      },
      10s));
  EXPECT_EQ(status, 200u);
  const auto& embedded = after.at("embeddedPostgres").as_object();
  EXPECT_EQ(str(embedded, "state"), "running");
  EXPECT_GE(embedded.at("restarts").to_number<int>(), 1);
  EXPECT_NE(embedded.at("pid").to_number<pid_t>(), old_pid);
  EXPECT_EQ(embedded.at("pid").to_number<pid_t>(), postmaster_pid(data_dir));
  EXPECT_TRUE(after.at("down").as_array().empty()) << json::serialize(after);

  // Writes acknowledged before the kill are all there.
  for (const auto& id : acknowledged) {
    auto got = http->request_as(key, "GET", "/api/v1/shop/items/" + id);
    EXPECT_EQ(got.status, 200u) << id << " " << got.body;
  }
  for (const auto& id : written)
    EXPECT_EQ(http->request_as(key, "GET", "/api/v1/shop/items/" + id).status, 200u) << id;

  auto metrics = http->request("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_EQ(metric_value(metrics.body, "hearth_embedded_postgres_restarts_total"), "1")
      << metrics.body.substr(0, 200);
  EXPECT_EQ(metric_value(metrics.body, "hearth_embedded_postgres_up"), "1");
}

// A backend of the killed postmaster that cannot exit (stopped) keeps its
// shared memory attached, so PostgreSQL refuses to start: the database stays
// down for seconds while the supervisor retries with backoff. Health says
// what is down; the per-retry warnings are logged once, then counted.
// With no client during the outage, the pool's connections are all from
// before the kill when the restart is done; the supervisor has the pool
// reconnect (storage::pool::reconnect), so the first requests after the
// restart do not each fail once on a dead connection.
TEST_F(embedded_supervision, the_first_requests_after_a_restart_meet_no_connection_from_before) {
  start({{"HEARTH_DB_POOL_SIZE", "2"}});  // few connections, all opened below
  for (int i = 0; i < 20; ++i)
    require_status(create_item("warm " + std::to_string(i)), 201, "warm");
  const pid_t old_pid = postmaster_pid(data_dir);
  ASSERT_GT(old_pid, 0);
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  // Wait for the supervisor's word in the log, without a request meanwhile.
  ASSERT_TRUE(eventually(
      [&] { return hearth->log().find("embedded PostgreSQL: restarted") != std::string::npos; },
      60s))
      << "not restarted within 60 s of the kill";
  for (int i = 0; i < 6; ++i) {
    auto res = create_item("after " + std::to_string(i));
    EXPECT_EQ(res.status, 201u) << "request " << i << " after the restart: " << res.body;
    auto h = http->request("GET", "/api/v1/health");
    EXPECT_EQ(h.status, 200u) << "health " << i << " after the restart: " << h.body;
  }
}

TEST_F(embedded_supervision, long_outage_is_reported_by_health_and_logged_quietly) {
  // Claims every 50 ms: without the limiter, one warning per 50 ms.
  start({{"HEARTH_PUBSUB_POLL_MS", "50"}});
  const pid_t old_pid = postmaster_pid(data_dir);
  ASSERT_GT(old_pid, 0);
  auto children = children_of(old_pid);
  ASSERT_FALSE(children.empty());
  held = children.front();
  ASSERT_EQ(::kill(held, SIGSTOP), 0);
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);

  // Down for ≥ 3 s, with a client retrying every 50 ms meanwhile.
  const auto outage_end = std::chrono::steady_clock::now() + 3s;
  int refused = 0;
  json::object during;
  unsigned during_status = 0;
  while (std::chrono::steady_clock::now() < outage_end) {
    // A backend of the dead postmaster may commit a last write before it
    // notices; after that, every write is refused.
    auto res = create_item("during the outage");
    EXPECT_TRUE(res.status == 503 || res.status == 201) << res.status << " " << res.body;
    refused += res.status == 503;
    during = health(&during_status);
    std::this_thread::sleep_for(50ms);  // pacing of the client's retries
  }
  EXPECT_GE(refused, 10);
  EXPECT_EQ(during_status, 503u);
  EXPECT_EQ(str(during, "database"), "unavailable") << json::serialize(during);
  const auto& down = during.at("down").as_array();
  EXPECT_NE(std::find(down.begin(), down.end(), json::value("embeddedPostgres")), down.end())
      << json::serialize(during);
  const auto& embedded = during.at("embeddedPostgres").as_object();
  EXPECT_EQ(str(embedded, "state"), "restarting");
  EXPECT_GE(embedded.at("attempt").to_number<int>(), 2) << json::serialize(during);
  EXPECT_NE(str(embedded, "lastError").find("shared memory"), std::string::npos)
      << json::serialize(during);
  EXPECT_TRUE(embedded.at("downSince").is_string());

  // Let the held backend go: the next attempt (≤ 5 s away) succeeds.
  ASSERT_EQ(::kill(held, SIGKILL), 0);
  held = 0;
  unsigned status = 0;
  EXPECT_TRUE(eventually(
      [&] {
        health(&status);
        return status == 200;
      },
      60s));
  require_status(create_item("after the outage"), 201, "write after the outage");

  // Quiet: each warning once per distinct error (plus at most a summary),
  // not one per 50 ms retry (≈ 60 each over 3 s). The claim warning names
  // its subscription (webhook, import, smtp, account-smtp: four, of three
  // modules) and libpq's error text, which changes as the server goes away,
  // refuses, has no socket, starts up: at most 5 distinct texts per
  // subscription.
  const auto log = hearth->log();
  const auto tail = log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  const auto claims = count_of(log, "warn pubsub: cannot claim deliveries");
  EXPECT_GE(claims, 1u) << tail;
  EXPECT_LE(claims, 20u) << tail;
  EXPECT_LE(count_of(log, "POST /api/v1/shop/items -> 503"), 3u) << tail;
  EXPECT_LE(count_of(log, "warn embedded PostgreSQL: restart attempt"), 3u) << tail;
  auto metrics = http->request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("hearth_log_suppressed_total{site=\"pubsub.claim\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("hearth_log_suppressed_total{site=\"http.503\"}"), std::string::npos);
}

}  // namespace
}  // namespace hearth::testing
