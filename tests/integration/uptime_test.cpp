// The uptime monitor (apps/uptime) end to end, against real local servers
// only: fake_http_server plays both the monitored sites and the webhook
// receiver. The outgoing HTTP client (http/client.hpp) is tested in-process
// first. Then: the sites API; a transition is published exactly once per
// change (and in the check's transaction); a hung site is down with
// "timeout"; a failing webhook is retried with backoff and dead-lettered; a
// crash between commit and delivery still delivers; and a kill -9 of the
// leader neither skips nor doubles a cron tick. Every wait polls with a
// deadline.

#include <signal.h>

#include <future>
#include <pqxx/pqxx>
#include <thread>

#include "http/client.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/fake_http_server.hpp"
#include "tests/support/hearth_process.hpp"
#include "tests/support/tls_client.hpp"

namespace hearth::testing {
namespace {

using steady = std::chrono::steady_clock;

constexpr int kProbeTimeoutMs = 1000;
// A schedule that never comes up during a test: the checks happen when the
// tests ask. (On becoming leader a node claims the current and the previous
// tick; for a yearly job neither is within the scheduler's look-back.)
constexpr const char* kNever = "0 0 1 1 *";

/// Polls `pred` every 20 ms until it holds (true) or `timeout` passes (false).
template <class Pred>
bool eventually(std::chrono::milliseconds timeout, Pred pred) {
  const auto deadline = steady::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (steady::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::int64_t ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

/// The webhook message's text.
std::string text_of(const fake_http_server::recorded_request& r) {
  return str(json::parse(r.body).as_object(), "text");
}

// ------------------------------------------------------------ http::fetch

TEST(uptime_fetch, answers_statuses_bodies_and_sends_what_it_is_given) {
  fake_http_server server(200);
  http::fetch_request r;
  r.source = http::url_source::operator_config;
  r.url = server.url("/some/path?q=1#fragment");
  auto ok = http::fetch(r);
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.body, "status 200");
  EXPECT_TRUE(ok.error.empty());
  EXPECT_GE(ok.duration_ms, 0);

  server.set_status(503);
  r.method = "POST";
  r.body = R"({"text":"hi"})";
  r.headers = {{"Content-Type", "application/json"}, {"X-Hearth-Message-ID", "42"}};
  auto failed = http::fetch(r);
  ASSERT_TRUE(failed.ok) << failed.error;  // a response came: ok, whatever its status
  EXPECT_EQ(failed.status, 503u);

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/some/path?q=1");  // no fragment on the wire
  EXPECT_EQ(seen[0].header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].body, R"({"text":"hi"})");
  EXPECT_EQ(seen[1].header("content-type"), "application/json");
  EXPECT_EQ(seen[1].header("content-length"), "13");
  EXPECT_EQ(seen[1].header("x-hearth-message-id"), "42");
}

TEST(uptime_fetch, network_failures_are_results_with_a_reason) {
  // A port nobody listens on: bind one, note it, close it.
  std::uint16_t closed_port;
  {
    fake_http_server gone;
    closed_port = gone.port();
  }
  http::fetch_request refused;
  refused.source = http::url_source::operator_config;
  refused.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/";
  auto r = http::fetch(refused);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "connection refused");
  EXPECT_EQ(r.status, 0u);

  // Accepted but never answered: the read timeout ends it.
  fake_http_server hung;
  hung.set_hang(true);
  http::fetch_request slow;
  slow.source = http::url_source::operator_config;
  slow.url = hung.url("/");
  slow.read_timeout = 300ms;
  const auto start = steady::now();
  auto t = http::fetch(slow);
  const auto took = ms_between(start, steady::now());
  EXPECT_FALSE(t.ok);
  EXPECT_EQ(t.error, "timeout");
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 2300) << "the timeout did not end the exchange";
  EXPECT_TRUE(hung.wait_requests(1, 5s)) << "the request was not sent";

  // Invalid URLs never reach the network.
  for (const char* bad : {"ftp://example.com/", "example.com", "http://", "http:///path",
                          "http://user:secret@example.com/", "not a url"}) {
    http::fetch_request b;
    b.source = http::url_source::operator_config;
    b.url = bad;
    auto res = http::fetch(b);
    EXPECT_FALSE(res.ok) << bad;
    EXPECT_EQ(res.error.rfind("invalid url: ", 0), 0u) << bad << ": " << res.error;
    EXPECT_TRUE(http::url_problem(bad).has_value()) << bad;
  }
  EXPECT_TRUE(http::url_problem("http://example.com/" + std::string(2030, 'a')).has_value());
  EXPECT_FALSE(http::url_problem("https://example.com").has_value());
  EXPECT_FALSE(http::url_problem("http://[::1]:8080/x?y").has_value());
}

TEST(uptime_fetch, https_verifies_the_peer_certificate) {
  // hearth serving HTTPS with a self-signed certificate the system does not trust.
  auto dir =
      std::filesystem::temp_directory_path() / ("hearth-uptime-tls-" + std::to_string(::getpid()));
  make_test_certificate(dir);
  hearth_process server({{"HEARTH_DATABASE_URL", throwaway_postgres::shared().create_database()},
                         {"HEARTH_TLS_CERT", (dir / "cert.pem").string()},
                         {"HEARTH_TLS_KEY", (dir / "key.pem").string()}});
  http::fetch_request r;
  r.source = http::url_source::operator_config;
  r.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/api/v1/health";
  auto res = http::fetch(r);
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.error.rfind("tls: ", 0), 0u) << res.error;
  EXPECT_NE(res.error.find("certificate verify failed"), std::string::npos) << res.error;
}

TEST(uptime_config, a_bad_webhook_secret_stops_start_up_without_revealing_it) {
  auto [code, output] =
      hearth_process::run({{"HEARTH_DATABASE_URL", throwaway_postgres::shared().create_database()},
                           {"HEARTH_HTTP_ADDR", "127.0.0.1:0"},
                           {"HEARTH_SECRET_UPTIME_WEBHOOK_URL", "ftp://very-secret.example/hook"}},
                          {"serve"});
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("secret UPTIME_WEBHOOK_URL: scheme must be http or https"),
            std::string::npos)
      << output;
  EXPECT_EQ(output.find("very-secret"), std::string::npos) << output;
}

// ------------------------------------------------------------ one node

class uptime : public hearth_test {
 protected:
  /// Added to (and overriding) the suite's environment.
  virtual std::map<std::string, std::string> more_env() { return {}; }

  std::map<std::string, std::string> extra_env() override {
    std::map<std::string, std::string> env{
        {"HEARTH_SECRET_UPTIME_WEBHOOK_URL", hook_.url("/hook")},
        {"HEARTH_UPTIME_PROBE_TIMEOUT_MS", std::to_string(kProbeTimeoutMs)},
        {"HEARTH_UPTIME_CHECK_SCHEDULE", kNever},
        {"HEARTH_UPTIME_WEBHOOK_MIN_BACKOFF_MS", "100"},
        {"HEARTH_UPTIME_WEBHOOK_MAX_BACKOFF_MS", "400"},
        {"HEARTH_UPTIME_WEBHOOK_MAX_RETRIES", "3"},
        {"HEARTH_PUBSUB_POLL_MS", "50"},
        // One network thread: a probe that ran on it would stall every request.
        {"HEARTH_HTTP_THREADS", "1"},
    };
    for (auto& [k, v] : more_env()) env[k] = v;
    return env;
  }

  http_response add_site_response(const std::string& url) {
    return http().request("POST", "/api/v1/monitor/sites",
                          json::serialize(json::object{{"url", url}}));
  }
  /// Monitors `url`; returns its id.
  std::string add_site(const std::string& url) {
    auto res = add_site_response(url);
    require_status(res, 201, "add site " + url);
    return str(first_value(res), "id");
  }
  /// Checks the site now; returns the MonitorCheck.
  json::object check(const std::string& id) {
    auto res = http().request("POST", "/api/v1/monitor/check/" + id);
    require_status(res, 200, "check " + id);
    check_envelope(res, 200, "MonitorCheck");
    return first_value(res);
  }
  json::array sites() {
    auto res = http().request("GET", "/api/v1/monitor/sites");
    require_status(res, 200, "list sites");
    return res.json().as_object().at("dataValue").as_array();
  }

  std::int64_t db_count(const std::string& sql) {
    pqxx::connection conn(database_url_);
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql)[0].as<std::int64_t>();
  }

  fake_http_server site_{200};
  fake_http_server hook_{200};
};

TEST_F(uptime, the_sites_api_validates_lists_and_deletes) {
  // Bad URLs: 400 naming the field.
  for (const std::string& bad : std::vector<std::string>{
           "ftp://example.com/", "exa mple.com", "http://", "http://user:pw@example.com/", "",
           "http://example.com/" + std::string(2030, 'a')}) {
    auto res = add_site_response(bad);
    check_envelope(res, 400);
    EXPECT_EQ(message_of(res).rfind("url: ", 0), 0u) << bad << ": " << message_of(res);
  }
  for (const std::string body : {"{}", R"({"url":5})", R"({"url":"http://a.example","x":1})"}) {
    auto res = http().request("POST", "/api/v1/monitor/sites", body);
    check_envelope(res, 400);
  }

  auto created = add_site_response(site_.url("/health"));
  check_envelope(created, 201, "MonitorSite");
  auto site = first_value(created);
  const auto id = str(site, "id");
  EXPECT_TRUE(site.at("state").is_null());
  EXPECT_TRUE(site.at("lastChecked").is_null());
  EXPECT_EQ(str(site, "url"), site_.url("/health"));
  EXPECT_FALSE(str(site, "created").empty());

  auto duplicate = add_site_response(site_.url("/health"));
  check_envelope(duplicate, 409);
  EXPECT_NE(message_of(duplicate).find("url"), std::string::npos) << message_of(duplicate);

  // One site by id.
  auto one = http().request("GET", "/api/v1/monitor/sites/" + id);
  check_envelope(one, 200, "MonitorSite");
  EXPECT_EQ(str(first_value(one), "url"), site_.url("/health"));

  const auto other = add_site("http://127.0.0.1:9/unused");
  auto listed = sites();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(str(listed[0].as_object(), "id"), id);
  EXPECT_EQ(str(listed[1].as_object(), "id"), other);

  // A check of a new site that finds it up is no transition (never checked
  // counts as up).
  auto c = check(id);
  EXPECT_TRUE(c.at("up").as_bool());
  EXPECT_EQ(c.at("status").to_number<int>(), 200);
  EXPECT_TRUE(c.at("error").is_null());
  EXPECT_TRUE(c.at("transition").is_null());
  EXPECT_EQ(str(c, "siteID"), id);
  listed = sites();
  EXPECT_EQ(str(listed[0].as_object(), "state"), "up");
  EXPECT_FALSE(listed[0].as_object().at("lastChecked").is_null());
  EXPECT_TRUE(listed[1].as_object().at("state").is_null());

  // check-all checks every site: port 9 (discard) refuses on loopback.
  auto all = http().request("POST", "/api/v1/monitor/check-all");
  check_envelope(all, 200, "MonitorCheck");
  auto checks = all.json().as_object().at("dataValue").as_array();
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_TRUE(checks[0].as_object().at("up").as_bool());
  EXPECT_FALSE(checks[1].as_object().at("up").as_bool());
  EXPECT_TRUE(checks[1].as_object().at("status").is_null());
  EXPECT_FALSE(checks[1].as_object().at("error").is_null());
  EXPECT_EQ(str(checks[1].as_object(), "transition"), "down") << "a site down at its first check";

  // Unknown ids: 404 (not the router's "no route").
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  for (const auto& target :
       {"/api/v1/monitor/sites/" + unknown, std::string("/api/v1/monitor/sites/nope")})
    for (const char* method : {"GET", "DELETE"}) {
      auto res = http().request(method, target);
      check_envelope(res, 404);
      EXPECT_EQ(message_of(res), "MonitorSite not found") << method << " " << target;
    }
  check_envelope(http().request("POST", "/api/v1/monitor/check/" + unknown), 404);

  check_envelope(http().request("DELETE", "/api/v1/monitor/sites/" + other), 200, "MonitorSite");
  check_envelope(http().request("DELETE", "/api/v1/monitor/sites/" + other), 404);
  EXPECT_EQ(sites().size(), 1u);
  EXPECT_EQ(db_count("SELECT count(*) FROM uptime_check WHERE site_id = '" + other + "'"), 0)
      << "the site's checks are deleted with it";
  // A bare host means https:// (Encore's tutorial); it is not fetched when added.
  auto bare = add_site_response("example.com/health");
  check_envelope(bare, 201, "MonitorSite");
  EXPECT_EQ(str(first_value(bare), "url"), "https://example.com/health");

  // One transition: the refusing site's first check found it down (from
  // "up", as a site never checked counts).
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_message WHERE topic = 'site.transition' "
                     "AND payload->>'from' = 'up' AND payload->>'to' = 'down'"),
            1);
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_message"), 1);
}

TEST_F(uptime, a_transition_is_published_once_per_change_and_sent_to_the_webhook) {
  const auto id = add_site(site_.url("/health"));
  EXPECT_TRUE(check(id).at("transition").is_null());  // first check, up: no transition
  EXPECT_TRUE(check(id).at("transition").is_null());  // still up

  site_.set_status(500);
  auto down = check(id);
  EXPECT_FALSE(down.at("up").as_bool());
  EXPECT_EQ(down.at("status").to_number<int>(), 500);
  EXPECT_EQ(str(down, "transition"), "down");
  ASSERT_TRUE(hook_.wait_requests(1, 10s)) << "the webhook got nothing";
  {
    auto first = hook_.requests().at(0);
    EXPECT_EQ(first.method, "POST");
    EXPECT_EQ(first.target, "/hook");
    EXPECT_EQ(first.header("content-type"), "application/json");
    EXPECT_FALSE(first.header("x-hearth-message-id").empty());
    auto text = text_of(first);
    EXPECT_EQ(text.rfind(site_.url("/health") + " is DOWN (was up): HTTP 500 at ", 0), 0u) << text;
  }

  EXPECT_TRUE(check(id).at("transition").is_null());  // still down
  site_.set_status(200);
  auto up = check(id);
  EXPECT_TRUE(up.at("up").as_bool());
  EXPECT_EQ(str(up, "transition"), "up");
  ASSERT_TRUE(hook_.wait_requests(2, 10s)) << "the second transition was not sent";
  auto sent = hook_.requests();
  EXPECT_EQ(text_of(sent.at(1)).rfind(site_.url("/health") + " is UP (was down): HTTP 200 at ", 0),
            0u)
      << text_of(sent.at(1));
  EXPECT_NE(sent.at(0).header("x-hearth-message-id"), sent.at(1).header("x-hearth-message-id"));

  // Nothing else arrives (a bounded wait: more than the poll interval and
  // the first retry's backoff).
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(hook_.request_count(), 2u);

  // The database agrees: two messages, each delivered once to the webhook.
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_message WHERE topic = 'site.transition'"), 2);
  EXPECT_TRUE(eventually(5s, [&] {
    return db_count(
               "SELECT count(*) FROM pubsub_delivery WHERE subscription = 'webhook' "
               "AND delivered_at IS NOT NULL AND attempts = 1") == 2;
  })) << "deliveries not acknowledged once each";
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_dead_letter"), 0);
  EXPECT_EQ(db_count("SELECT count(*) FROM uptime_check WHERE site_id = '" + id + "'"), 5);
  // The webhook URL is a secret: never logged.
  EXPECT_EQ(hearth_->log().find(hook_.url("/hook")), std::string::npos);
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_message WHERE payload->>'site_id' = '" + id +
                     "' AND payload->>'from' = 'up' AND payload->>'to' = 'down' "
                     "AND (payload->>'status')::int = 500"),
            1);
}

TEST_F(uptime, a_hung_site_is_down_with_timeout_within_the_probe_timeout) {
  const auto id = add_site(site_.url("/slow"));
  EXPECT_TRUE(check(id).at("up").as_bool());

  site_.set_hang(true);
  // The probe runs on the module's threads: meanwhile the (single) network
  // thread keeps answering.
  const auto start = steady::now();
  auto pending = std::async(std::launch::async, [&] {
    http_client other(port());
    return other.request("POST", "/api/v1/monitor/check/" + id);
  });
  ASSERT_TRUE(site_.wait_requests(2, 5s)) << "the probe did not arrive";
  const auto asked = steady::now();
  http_client side(port());
  auto listed = side.request("GET", "/api/v1/monitor/sites");
  EXPECT_EQ(listed.status, 200u);
  EXPECT_LT(ms_between(asked, steady::now()), kProbeTimeoutMs / 2)
      << "a request waited for the hung probe";

  auto res = pending.get();
  const auto took = ms_between(start, steady::now());
  require_status(res, 200, "check of a hung site");
  auto c = first_value(res);
  EXPECT_FALSE(c.at("up").as_bool());
  EXPECT_EQ(str(c, "error"), "timeout");
  EXPECT_TRUE(c.at("status").is_null());
  EXPECT_EQ(str(c, "transition"), "down");
  EXPECT_GE(c.at("durationMs").to_number<int>(), kProbeTimeoutMs - 10);
  EXPECT_LT(c.at("durationMs").to_number<int>(), kProbeTimeoutMs + 1000);
  EXPECT_LT(took, kProbeTimeoutMs + 3000);
  ASSERT_TRUE(hook_.wait_requests(1, 10s));
  auto text = text_of(hook_.requests().at(0));
  EXPECT_NE(text.find(" is DOWN (was up): timeout at "), std::string::npos) << text;
  site_.set_hang(false);
}

// The receiver answers 500: 1 attempt + 3 retries after 100, 200 and 400 ms
// (min 100, doubling, max 400), then the dead letter and silence.
TEST_F(uptime, a_failing_webhook_is_retried_with_backoff_then_dead_lettered) {
  hook_.set_status(500);
  const auto id = add_site(site_.url("/"));
  check(id);
  site_.set_status(503);
  EXPECT_EQ(str(check(id), "transition"), "down");

  ASSERT_TRUE(hook_.wait_requests(4, 15s)) << "only " << hook_.request_count() << " attempts";
  ASSERT_TRUE(eventually(10s, [&] {
    return db_count("SELECT count(*) FROM pubsub_dead_letter WHERE subscription = 'webhook'") == 1;
  })) << "no dead letter";
  {
    pqxx::connection conn(database_url_);
    pqxx::nontransaction tx(conn);
    auto row = tx.exec1(
        "SELECT attempts, last_error, topic, payload->>'to' FROM pubsub_dead_letter "
        "WHERE subscription = 'webhook'");
    EXPECT_EQ(row[0].as<int>(), 4);
    EXPECT_NE(row[1].as<std::string>().find("500"), std::string::npos) << row[1].c_str();
    EXPECT_EQ(row[2].as<std::string>(), "site.transition");
    EXPECT_EQ(row[3].as<std::string>(), "down");
  }
  // No attempt after the dead letter (a bounded wait: more than the
  // longest backoff plus a poll).
  std::this_thread::sleep_for(700ms);
  auto attempts = hook_.requests();
  ASSERT_EQ(attempts.size(), 4u);

  // The same message each time; gaps at least the backoff.
  for (const auto& a : attempts)
    EXPECT_EQ(a.header("x-hearth-message-id"), attempts[0].header("x-hearth-message-id"));
  const std::int64_t backoff[] = {100, 200, 400};
  std::int64_t gap[3];
  for (int i = 0; i < 3; ++i) {
    gap[i] = ms_between(attempts[i].at, attempts[i + 1].at);
    EXPECT_GE(gap[i], backoff[i] - 15) << "retry " << i + 1 << " came too early";
    EXPECT_LT(gap[i], backoff[i] + 3000) << "retry " << i + 1 << " came very late";
  }
  // They grow: each at least its doubled backoff; measured gaps also carry
  // polling and scheduling jitter (pubsubPollMs = 50 plus load), hence the tolerance.
  constexpr std::int64_t kJitter = 250;
  for (int i = 0; i < 2; ++i)
    EXPECT_GT(gap[i + 1], gap[i] - kJitter)
        << "gaps " << gap[0] << ", " << gap[1] << ", " << gap[2] << " ms do not grow";
  EXPECT_EQ(hearth_->log().find(hook_.url("/hook")), std::string::npos) << "the secret was logged";
  std::printf("[ uptime   ] webhook retry gaps: %lld, %lld, %lld ms (backoff 100, 200, 400)\n",
              static_cast<long long>(gap[0]), static_cast<long long>(gap[1]),
              static_cast<long long>(gap[2]));
}

// Dead letters an operator can see and act on (engine/dead_letters.hpp):
// the webhook's dead letter is listed with its attempts and last error and
// counted in the metrics; once the receiver is back, a retry sends it
// through normal delivery as a new message and it arrives. A dead letter of
// a subscription no longer declared is left by a retry and discarded; the
// CLI lists what the routes list.
TEST_F(uptime, a_dead_letter_is_listed_retried_once_the_webhook_is_back_and_discarded) {
  hook_.set_status(500);
  const auto id = add_site(site_.url("/"));
  check(id);
  site_.set_status(503);
  EXPECT_EQ(str(check(id), "transition"), "down");
  ASSERT_TRUE(eventually(20s, [&] {
    return db_count("SELECT count(*) FROM pubsub_dead_letter WHERE subscription = 'webhook'") == 1;
  })) << "no dead letter";
  const auto failed_id = hook_.requests().at(0).header("x-hearth-message-id");

  auto listed = http().request("GET", "/api/v1/admin/dead-letters?subscription=webhook");
  check_envelope(listed, 200, "DeadLetter");
  auto letter = first_value(listed);
  EXPECT_EQ(str(letter, "topic"), "site.transition");
  EXPECT_EQ(letter.at("attempts").to_number<int>(), 4);
  EXPECT_NE(str(letter, "lastError").find("500"), std::string::npos) << listed.body;
  EXPECT_EQ(std::to_string(letter.at("messageID").to_number<std::int64_t>()), failed_id);
  EXPECT_EQ(str(letter.at("payload").as_object(), "to"), "down");
  auto counts = http().request("GET", "/api/v1/admin/dead-letters/counts");
  check_envelope(counts, 200, "DeadLetterCount");
  EXPECT_EQ(str(first_value(counts), "subscription"), "webhook");
  EXPECT_EQ(first_value(counts).at("count").to_number<int>(), 1) << counts.body;
  EXPECT_EQ(http().request("GET", "/api/v1/admin/dead-letters?messageID=x").status, 400u);
  EXPECT_EQ(http().request("GET", "/api/v1/admin/dead-letters?colour=red").status, 400u);
  auto metrics = http().request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("hearth_pubsub_dead_lettered_total{topic=\"site.transition\","
                              "subscription=\"webhook\"} 1"),
            std::string::npos);
  auto [code, printed] =
      hearth_process::run({{"HEARTH_DATABASE_URL", database_url_}},
                          {"dead-letters", "list", "--topic", "site.transition"});
  EXPECT_EQ(code, 0) << printed;
  EXPECT_NE(printed.find("1 dead letters match"), std::string::npos) << printed;
  EXPECT_NE(printed.find("webhook"), std::string::npos) << printed;

  hook_.set_status(200);
  const auto before = hook_.request_count();
  auto retried = http().request("POST", "/api/v1/admin/dead-letters/retry?subscription=webhook");
  check_envelope(retried, 200, "DeadLetterAction");
  EXPECT_EQ(first_value(retried).at("retried").to_number<int>(), 1) << retried.body;
  ASSERT_TRUE(hook_.wait_requests(before + 1, 10s)) << "the retried message never arrived";
  const auto again = hook_.requests().at(before);
  EXPECT_NE(again.header("x-hearth-message-id"), failed_id) << "sent as a new message";
  EXPECT_NE(text_of(again).find(" is DOWN (was up)"), std::string::npos) << text_of(again);
  EXPECT_TRUE(eventually(10s, [&] {
    return db_count(
               "SELECT count(*) FROM pubsub_delivery WHERE subscription = 'webhook' AND "
               "message_id = " +
               std::string(again.header("x-hearth-message-id")) +
               " AND delivered_at IS NOT NULL") == 1;
  })) << "the new delivery was never acknowledged";
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_dead_letter"), 0);
  auto none = http().request("POST", "/api/v1/admin/dead-letters/retry");
  EXPECT_EQ(first_value(none).at("retried").to_number<int>(), 0) << none.body;

  {
    pqxx::connection conn(database_url_);
    pqxx::nontransaction tx(conn);
    tx.exec0(
        "INSERT INTO pubsub_dead_letter (subscription, message_id, topic, payload, attempts, "
        "last_error) VALUES ('retired-sink', 7, 'old.topic', '{}', 6, 'gone')");
  }
  auto kept = http().request("POST", "/api/v1/admin/dead-letters/retry");
  EXPECT_EQ(first_value(kept).at("retried").to_number<int>(), 0) << kept.body;
  EXPECT_EQ(first_value(kept).at("unknownSubscription").to_number<int>(), 1) << kept.body;
  auto discarded = http().request("DELETE", "/api/v1/admin/dead-letters?topic=old.topic");
  check_envelope(discarded, 200, "DeadLetterAction");
  EXPECT_EQ(first_value(discarded).at("discarded").to_number<int>(), 1) << discarded.body;
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_dead_letter"), 0);
}

// GET /api/v1/monitor/ping (Encore's GET /ping/:url): any signed-in user,
// through the address check of every user's fetch; nothing recorded.
TEST_F(uptime, a_signed_in_user_pings_a_url_through_the_address_check) {
  const auto target = "/api/v1/monitor/ping?url=" + site_.url("/health");
  EXPECT_EQ(http().request("GET", target).status, 401u) << "a ping needs a session";
  auto user = new_user("pinger");
  auto refused = http().request_as(user.key, "GET", target);
  check_envelope(refused, 200, "MonitorPing");
  auto v = first_value(refused);
  EXPECT_FALSE(v.at("up").as_bool());
  EXPECT_TRUE(v.at("status").is_null());
  EXPECT_NE(str(v, "error").find("address is not allowed"), std::string::npos)
      << "a loopback URL was fetched for a user: " << refused.body;
  EXPECT_EQ(site_.request_count(), 0u) << "the refused site was reached";
  for (const std::string bad : {"/api/v1/monitor/ping", "/api/v1/monitor/ping?url=",
                                "/api/v1/monitor/ping?url=ftp://example.com/",
                                "/api/v1/monitor/ping?url=example.com&x=1"}) {
    auto res = http().request_as(user.key, "GET", bad);
    check_envelope(res, 400);
  }
  EXPECT_EQ(db_count("SELECT count(*) FROM uptime_check"), 0) << "a ping is recorded nowhere";
  EXPECT_EQ(db_count("SELECT count(*) FROM uptime_site"), 0);
}

// POST /api/v1/monitor/test-notification: the webhook, tried now.
TEST_F(uptime, a_test_notification_reaches_the_webhook_and_reports_its_answer) {
  auto sent = http().request("POST", "/api/v1/monitor/test-notification");
  check_envelope(sent, 200, "MonitorTestNotification");
  EXPECT_TRUE(first_value(sent).at("delivered").as_bool()) << sent.body;
  EXPECT_EQ(first_value(sent).at("status").to_number<int>(), 200);
  ASSERT_EQ(hook_.request_count(), 1u);
  EXPECT_NE(text_of(hook_.requests().at(0)).find("test notification"), std::string::npos);
  hook_.set_status(500);
  auto failed = http().request("POST", "/api/v1/monitor/test-notification");
  EXPECT_FALSE(first_value(failed).at("delivered").as_bool()) << failed.body;
  EXPECT_EQ(first_value(failed).at("status").to_number<int>(), 500);
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_message"), 0) << "a test is no message";
}

// Without a webhook there is nothing to test: 409 naming the secret.
class uptime_no_webhook : public hearth_test {};

TEST_F(uptime_no_webhook, a_test_notification_without_a_webhook_is_409) {
  auto res = http().request("POST", "/api/v1/monitor/test-notification");
  check_envelope(res, 409);
  EXPECT_NE(message_of(res).find("UPTIME_WEBHOOK_URL"), std::string::npos) << res.body;
}

// With the loopback range allowed (outboundAllow), the ping reaches the site.
class uptime_allowed : public uptime {
 protected:
  std::map<std::string, std::string> more_env() override {
    return {{"HEARTH_OUTBOUND_ALLOW", "127.0.0.0/8"}};
  }
};

TEST_F(uptime_allowed, a_ping_of_an_allowed_address_reports_its_status) {
  auto user = new_user("pinger");
  auto up = http().request_as(user.key, "GET", "/api/v1/monitor/ping?url=" + site_.url("/health"));
  check_envelope(up, 200, "MonitorPing");
  EXPECT_TRUE(first_value(up).at("up").as_bool()) << up.body;
  EXPECT_EQ(first_value(up).at("status").to_number<int>(), 200);
  EXPECT_EQ(site_.request_count(), 1u);
  site_.set_status(503);
  auto down = http().request_as(user.key, "GET", "/api/v1/monitor/ping?url=" + site_.url("/x"));
  EXPECT_FALSE(first_value(down).at("up").as_bool()) << down.body;
  EXPECT_EQ(first_value(down).at("status").to_number<int>(), 503);
}

// The monitor's API is in the operator group: Basic auth once a password is set.
class uptime_auth : public uptime {
 protected:
  std::map<std::string, std::string> more_env() override {
    return {{"HEARTH_OPERATOR_PASSWORD", "s3cret"}};
  }
};

TEST_F(uptime_auth, the_api_needs_the_operator_password_when_one_is_set) {
  auto anonymous = http().request("GET", "/api/v1/monitor/sites");
  EXPECT_EQ(anonymous.status, 401u) << anonymous.body;
  EXPECT_EQ(http().request("POST", "/api/v1/monitor/test-notification").status, 401u);
  EXPECT_EQ(hook_.request_count(), 0u);
  EXPECT_EQ(http().request("POST", "/api/v1/monitor/check-all").status, 401u);
  const std::map<std::string, std::string> op{{"Authorization", "Basic b3BlcmF0b3I6czNjcmV0"}};
  auto created = http().request("POST", "/api/v1/monitor/sites",
                                json::serialize(json::object{{"url", site_.url("/")}}), op);
  EXPECT_EQ(created.status, 201u) << created.body;
  auto listed = http().request("GET", "/api/v1/monitor/sites", "", op);
  check_envelope(listed, 200, "MonitorSite");
  EXPECT_EQ(listed.json().as_object().at("dataTotal").to_number<int>(), 1);
}

// Node A commits a transition but delivers nothing (no handler threads), and
// dies by kill -9. Node B, on the same database, delivers it.
class uptime_crash : public uptime {
 protected:
  std::map<std::string, std::string> more_env() override {
    return {{"HEARTH_PUBSUB_WORKERS", "0"}};
  }
};

TEST_F(uptime_crash, a_transition_committed_before_a_crash_is_delivered_by_another_node) {
  const auto id = add_site(site_.url("/"));
  check(id);
  site_.set_status(500);
  EXPECT_EQ(str(check(id), "transition"), "down");
  EXPECT_EQ(db_count("SELECT count(*) FROM pubsub_delivery WHERE subscription = 'webhook' "
                     "AND delivered_at IS NULL"),
            1);
  // Node A has no handler threads: a bounded wait shows it sends nothing.
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(hook_.request_count(), 0u);

  http_.reset();
  EXPECT_EQ(hearth_->stop(SIGKILL), 128 + SIGKILL);

  auto env = extra_env();
  env.erase("HEARTH_PUBSUB_WORKERS");
  env["HEARTH_DATABASE_URL"] = database_url_;
  hearth_process b(env);
  ASSERT_TRUE(hook_.wait_requests(1, 20s)) << "node B did not deliver the transition:\n"
                                           << b.log().substr(0, 6000);
  EXPECT_NE(text_of(hook_.requests().at(0)).find(" is DOWN (was up): HTTP 500 at "),
            std::string::npos);
  EXPECT_TRUE(eventually(5s, [&] {
    return db_count(
               "SELECT count(*) FROM pubsub_delivery WHERE subscription = 'webhook' "
               "AND delivered_at IS NOT NULL") == 1;
  }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(hook_.request_count(), 1u);
}

// ------------------------------------------------------------ cluster cron

class UptimeCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_options o;
    o.nodes = 3;
    o.extra_env = {{"HEARTH_UPTIME_CHECK_SCHEDULE", "every 1s"},
                   {"HEARTH_UPTIME_PROBE_TIMEOUT_MS", std::to_string(kProbeTimeoutMs)},
                   {"HEARTH_PUBSUB_POLL_MS", "50"}};
    cluster_ = std::make_unique<test_cluster>(o);
  }
  void TearDown() override {
    if (HasFailure() && cluster_)
      std::cerr << "---- cluster state ----\n"
                << cluster_->describe() << "---- scheduler runs ----\n"
                << runs_text() << cluster_->log_tails(6000);
    cluster_.reset();
  }

  std::vector<scheduler_run_row> runs() const {
    std::vector<scheduler_run_row> out;
    for (auto& r : cluster_->scheduler_runs())
      if (r.task == "cron:uptime.check-all") out.push_back(std::move(r));
    return out;  // ordered by tick
  }
  std::string runs_text() const {
    std::string out;
    for (const auto& r : runs())
      out += std::to_string(r.tick) + " term " + std::to_string(r.term) + " " + r.node_id + ": " +
             r.outcome + "\n";
    return out;
  }
  /// Finished runs in `term`.
  std::size_t finished_in(std::int64_t term) const {
    std::size_t n = 0;
    for (const auto& r : runs()) n += r.term == term && !r.outcome.empty();
    return n;
  }

  std::unique_ptr<test_cluster> cluster_;
};

TEST_F(UptimeCluster, killing_the_leader_neither_skips_nor_doubles_a_cron_tick) {
  fake_http_server site(200);
  test_cluster& c = *cluster_;
  auto l1 = c.wait_leader(20s);
  ASSERT_TRUE(l1) << "no single leader";
  {
    http_client client(c.http_port(c.names().front()));
    auto res = client.request("POST", "/api/v1/monitor/sites",
                              json::serialize(json::object{{"url", site.url("/")}}));
    require_status(res, 201, "add site");
  }
  ASSERT_TRUE(eventually(20s, [&] { return finished_in(l1->term) >= 3; }))
      << "the leader ran fewer than 3 ticks";
  ASSERT_TRUE(site.wait_requests(1, 10s)) << "the cron job never probed the site";

  const auto kill_time = steady::now();
  c.kill(l1->name);
  auto l2 = c.wait_leader(30s, l1->term + 1, l1->name, kill_time);
  ASSERT_TRUE(l2) << "no new leader after kill -9 of " << l1->name;
  std::printf("[ uptime   ] kill -9 of %s (term %lld): %s leads (term %lld) after %lld ms\n",
              l1->name.c_str(), static_cast<long long>(l1->term), l2->name.c_str(),
              static_cast<long long>(l2->term), static_cast<long long>(l2->elapsed.count()));
  ASSERT_TRUE(eventually(20s, [&] { return finished_in(l2->term) >= 3; }))
      << "the new leader ran fewer than 3 ticks";

  auto all = runs();
  ASSERT_GE(all.size(), 6u);
  bool seen_new_term = false;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& r = all[i];
    SCOPED_TRACE("tick " + std::to_string(r.tick));
    if (i > 0) {
      EXPECT_EQ(r.tick, all[i - 1].tick + 1) << "a tick was skipped or doubled";
    }
    // Each run was claimed by the leader of its term, and terms only grow.
    if (r.term == l1->term) {
      EXPECT_EQ(r.node_id, l1->name);
      EXPECT_FALSE(seen_new_term) << "the old term ran after the new one";
    } else if (r.term == l2->term) {
      EXPECT_EQ(r.node_id, l2->name);
      seen_new_term = true;
    } else if (r.term < l1->term) {
      EXPECT_FALSE(seen_new_term);
    } else {
      ADD_FAILURE() << "a run in term " << r.term << " by " << r.node_id
                    << ", between the two leaders' terms";
    }
    if (!r.outcome.empty() && r.term == l2->term) {
      EXPECT_EQ(r.outcome.rfind("checked 1 site, 0 down, 0 transitions", 0), 0u) << r.outcome;
    }
  }
  EXPECT_TRUE(seen_new_term);
}

}  // namespace
}  // namespace hearth::testing
