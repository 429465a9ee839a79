// The uptime monitor's status page data (apps/uptime/status.hpp) end to end:
// GET /api/v1/monitor/status (shape, order, public by default) and the SSE
// stream GET /api/v1/monitor/status/events: a `snapshot` first, then one
// `check` event per new check, recorded on this node or another one, none
// twice and none lost when checks commit out of id order; with
// uptimeStatusPublic=false both need operator Basic auth. The monitored
// sites are local: fake_http_server (up) and a closed port (down). Every wait
// polls with a deadline.

#include <optional>
#include <pqxx/pqxx>

#include "tests/integration/fixture.hpp"
#include "tests/support/fake_http_server.hpp"

namespace hearth::testing {
namespace {

using steady = std::chrono::steady_clock;

// Basic operator:s3cret
const std::map<std::string, std::string> kOperator{{"Authorization", "Basic b3BlcmF0b3I6czNjcmV0"}};

/// A port nobody listens on: bound once, then closed.
std::uint16_t closed_port() {
  fake_http_server gone;
  return gone.port();
}

class uptime_status : public hearth_test {
 protected:
  /// Added to (and overriding) the suite's environment.
  virtual std::map<std::string, std::string> more_env() { return {}; }

  std::map<std::string, std::string> extra_env() override {
    std::map<std::string, std::string> env{
        // A password: the operator routes need it, the status does not.
        {"HEARTH_OPERATOR_PASSWORD", "s3cret"},        {"HEARTH_UPTIME_PROBE_TIMEOUT_MS", "1000"},
        {"HEARTH_UPTIME_CHECK_SCHEDULE", "0 0 1 1 *"},  // never during a test
        {"HEARTH_UPTIME_STATUS_POLL_MS", "100"},       {"HEARTH_SSE_HEARTBEAT_MS", "500"},
    };
    for (auto& [k, v] : more_env()) env[k] = v;
    return env;
  }

  /// Monitors `url` (operator API); returns its id.
  std::string add_site(const std::string& url) {
    auto res = http().request("POST", "/api/v1/monitor/sites",
                              json::serialize(json::object{{"url", url}}), kOperator);
    require_status(res, 201, "add site " + url);
    return str(first_value(res), "id");
  }
  /// Checks the site now (operator API); returns the MonitorCheck.
  json::object check(const std::string& id) {
    auto res = http().request("POST", "/api/v1/monitor/check/" + id, "", kOperator);
    require_status(res, 200, "check " + id);
    return first_value(res);
  }
  json::array status(const std::map<std::string, std::string>& headers = {}) {
    auto res = http().request("GET", "/api/v1/monitor/status", "", headers);
    require_status(res, 200, "status");
    check_envelope(res, 200, "MonitorStatus");
    return res.json().as_object().at("dataValue").as_array();
  }
  std::unique_ptr<sse_client> open_status(std::map<std::string, std::string> headers = {}) {
    return std::make_unique<sse_client>(port(), headers, "/api/v1/monitor/status/events");
  }

  /// A check recorded straight into the database, as another node would.
  std::int64_t insert_check(pqxx::work& tx, const std::string& site, bool up, int duration_ms) {
    return tx
        .exec_params1(
            "INSERT INTO uptime_check (site_id, up, status, error, duration_ms) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            site, up, up ? std::optional<int>(204) : std::nullopt,
            up ? std::nullopt : std::optional<std::string>("inserted by the test"), duration_ms)[0]
        .as<std::int64_t>();
  }

  fake_http_server site_{200};
};

/// The next event named `name` (others are skipped), or nullopt at the deadline.
std::optional<sse_event> next_named(sse_client& s, const std::string& name,
                                    std::chrono::milliseconds timeout = 5s) {
  const auto deadline = steady::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return std::nullopt;
    auto ev = s.next(left);
    if (!ev) return std::nullopt;
    if (ev->event == name) return ev;
  }
}

/// The site object of `id` in a status array (throws when absent).
json::object site_in(const json::array& sites, const std::string& id) {
  for (const auto& v : sites)
    if (str(v.as_object(), "id") == id) return v.as_object();
  throw std::runtime_error("site " + id + " not in " + json::serialize(sites));
}

void expect_unchecked(const json::object& s) {
  for (const char* k : {"state", "lastChecked", "latencyMs", "status", "error"})
    EXPECT_TRUE(s.at(k).is_null()) << k << " in " << json::serialize(s);
}

// The status of `c` (a MonitorCheck) as a MonitorStatus shows it.
void expect_matches(const json::object& s, const json::object& c) {
  EXPECT_EQ(str(s, "id"), str(c, "siteID")) << json::serialize(s);
  EXPECT_EQ(str(s, "url"), str(c, "url"));
  EXPECT_EQ(str(s, "state"), c.at("up").as_bool() ? "up" : "down");
  EXPECT_EQ(str(s, "lastChecked"), str(c, "checkedAt"));
  EXPECT_EQ(s.at("latencyMs").to_number<std::int64_t>(),
            c.at("durationMs").to_number<std::int64_t>());
  EXPECT_EQ(s.at("status"), c.at("status"));
  EXPECT_EQ(s.at("error"), c.at("error"));
  EXPECT_EQ(s.size(), 7u) << json::serialize(s);
}

TEST_F(uptime_status, the_status_lists_every_site_with_its_last_check_without_auth) {
  EXPECT_TRUE(status().empty());
  const auto up = add_site(site_.url("/health"));
  const auto down = add_site("http://127.0.0.1:" + std::to_string(closed_port()) + "/");

  auto before = status();
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(str(before[0].as_object(), "id"), up);  // in the order added
  EXPECT_EQ(str(before[1].as_object(), "id"), down);
  EXPECT_EQ(str(before[0].as_object(), "url"), site_.url("/health"));
  expect_unchecked(before[0].as_object());
  expect_unchecked(before[1].as_object());

  const auto up_check = check(up);
  const auto down_check = check(down);
  ASSERT_TRUE(up_check.at("up").as_bool());
  ASSERT_FALSE(down_check.at("up").as_bool());
  auto after = status();
  ASSERT_EQ(after.size(), 2u);
  expect_matches(site_in(after, up), up_check);
  expect_matches(site_in(after, down), down_check);
  EXPECT_EQ(site_in(after, up).at("status").to_number<int>(), 200);
  EXPECT_TRUE(site_in(after, up).at("error").is_null());
  EXPECT_TRUE(site_in(after, down).at("status").is_null());
  EXPECT_EQ(str(site_in(after, down), "error"), "connection refused");

  // The latest check wins.
  site_.set_status(503);
  const auto again = check(up);
  expect_matches(site_in(status(), up), again);
  EXPECT_EQ(str(site_in(status(), up), "state"), "down");

  // Public: no credentials needed, while the operator API needs them.
  EXPECT_EQ(http().request("GET", "/api/v1/monitor/sites").status, 401u);
  EXPECT_EQ(http().request("POST", "/api/v1/monitor/check/" + up).status, 401u);
}

TEST_F(uptime_status, the_stream_sends_a_snapshot_then_each_new_check_once) {
  const auto up = add_site(site_.url("/"));
  const auto down = add_site("http://127.0.0.1:" + std::to_string(closed_port()) + "/");
  const auto first = check(up);

  auto stream = open_status();
  EXPECT_EQ(stream->header("content-type").rfind("text/event-stream", 0), 0u);
  auto snapshot = next_named(*stream, "snapshot");
  ASSERT_TRUE(snapshot) << "no snapshot event";
  EXPECT_TRUE(stream->retry_hint(0ms).has_value()) << "no retry: before the snapshot";
  auto sites = json::parse(snapshot->data).as_array();
  ASSERT_EQ(sites.size(), 2u) << snapshot->data;
  expect_matches(site_in(sites, up), first);
  expect_unchecked(site_in(sites, down));

  // A check on this node: one `check` event with the site's new status.
  const auto down_check = check(down);
  auto ev = next_named(*stream, "check");
  ASSERT_TRUE(ev) << "no check event after POST /check";
  expect_matches(json::parse(ev->data).as_object(), down_check);

  site_.set_status(500);
  const auto up_check = check(up);
  ev = next_named(*stream, "check");
  ASSERT_TRUE(ev) << "no check event for the second check";
  expect_matches(json::parse(ev->data).as_object(), up_check);
  EXPECT_EQ(str(json::parse(ev->data).as_object(), "state"), "down");

  // Each check once: nothing more for several poll periods (100 ms).
  EXPECT_FALSE(next_named(*stream, "check", 800ms)) << "a check was sent twice";

  // A stream opened now starts from a snapshot with both checks, and gets
  // only checks after it.
  auto late = open_status();
  auto late_snapshot = next_named(*late, "snapshot");
  ASSERT_TRUE(late_snapshot);
  auto late_sites = json::parse(late_snapshot->data).as_array();
  expect_matches(site_in(late_sites, up), up_check);
  expect_matches(site_in(late_sites, down), down_check);
  EXPECT_FALSE(next_named(*late, "check", 500ms)) << "an old check reached a new stream";
  const auto third = check(down);
  for (auto* s : {stream.get(), late.get()}) {
    ev = next_named(*s, "check");
    ASSERT_TRUE(ev) << "no check event for the third check";
    expect_matches(json::parse(ev->data).as_object(), third);
  }

  // A stream that ended is forgotten; the others go on.
  late.reset();
  const auto fourth = check(up);
  ev = next_named(*stream, "check");
  ASSERT_TRUE(ev);
  expect_matches(json::parse(ev->data).as_object(), fourth);
}

// Checks recorded by other nodes reach the stream through the database, in
// whatever order their transactions commit (ids are taken at insert time:
// a smaller id may commit after a larger one has been read).
TEST_F(uptime_status, checks_from_elsewhere_reach_the_stream_even_out_of_id_order) {
  const auto a = add_site(site_.url("/a"));
  const auto b = add_site(site_.url("/b"));
  auto stream = open_status();
  ASSERT_TRUE(next_named(*stream, "snapshot"));

  pqxx::connection slow_conn(database_url_), fast_conn(database_url_);
  pqxx::work slow(slow_conn);
  const auto slow_id = insert_check(slow, a, false, 11);  // the smaller id, not committed
  std::int64_t fast_id = 0;
  {
    pqxx::work fast(fast_conn);
    fast_id = insert_check(fast, b, true, 22);
    fast.commit();
  }
  ASSERT_LT(slow_id, fast_id);
  auto ev = next_named(*stream, "check");
  ASSERT_TRUE(ev) << "no event for the committed check";
  auto got = json::parse(ev->data).as_object();
  EXPECT_EQ(str(got, "id"), b);
  EXPECT_EQ(str(got, "state"), "up");
  EXPECT_EQ(got.at("latencyMs").to_number<int>(), 22);
  EXPECT_EQ(got.at("status").to_number<int>(), 204);
  // Several polls read past it while the smaller id is still open.
  EXPECT_FALSE(next_named(*stream, "check", 500ms));

  slow.commit();
  ev = next_named(*stream, "check");
  ASSERT_TRUE(ev) << "the check that committed after a larger id was never sent";
  got = json::parse(ev->data).as_object();
  EXPECT_EQ(str(got, "id"), a);
  EXPECT_EQ(str(got, "state"), "down");
  EXPECT_EQ(str(got, "error"), "inserted by the test");
  EXPECT_TRUE(got.at("status").is_null());
  EXPECT_EQ(got.at("latencyMs").to_number<int>(), 11);
  EXPECT_FALSE(next_named(*stream, "check", 500ms)) << "a check was sent twice";
}

// Two nodes on one database: a check made through node A reaches a stream
// on node B.
TEST_F(uptime_status, a_check_on_another_node_reaches_the_stream) {
  const auto id = add_site(site_.url("/"));
  auto env = extra_env();
  env["HEARTH_DATABASE_URL"] = database_url_;
  hearth_process other(env);
  sse_client stream(other.port(), {}, "/api/v1/monitor/status/events");
  auto snapshot = next_named(stream, "snapshot");
  ASSERT_TRUE(snapshot);
  expect_unchecked(site_in(json::parse(snapshot->data).as_array(), id));

  const auto c = check(id);  // on this fixture's node
  auto ev = next_named(stream, "check");
  ASSERT_TRUE(ev) << "node B's stream did not get node A's check:\n" << other.log().substr(0, 4000);
  expect_matches(json::parse(ev->data).as_object(), c);
}

class uptime_status_private : public uptime_status {
 protected:
  std::map<std::string, std::string> more_env() override {
    return {{"HEARTH_UPTIME_STATUS_PUBLIC", "false"}};
  }
};

TEST_F(uptime_status_private, the_status_needs_the_operator_password) {
  const auto id = add_site(site_.url("/"));
  auto anonymous = http().request("GET", "/api/v1/monitor/status");
  check_envelope(anonymous, 401);
  EXPECT_EQ(anonymous.header("www-authenticate").rfind("Basic ", 0), 0u);
  auto wrong = http().request(
      "GET", "/api/v1/monitor/status/events", "",
      {{"Accept", "text/event-stream"}, {"Authorization", "Basic b3BlcmF0b3I6d3Jvbmc="}});
  EXPECT_EQ(wrong.status, 401u) << wrong.body;
  EXPECT_THROW(open_status(), std::runtime_error);

  auto sites = status(kOperator);
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(str(sites[0].as_object(), "id"), id);
  auto stream = open_status(kOperator);
  ASSERT_TRUE(next_named(*stream, "snapshot"));
  const auto c = check(id);
  auto ev = next_named(*stream, "check");
  ASSERT_TRUE(ev);
  expect_matches(json::parse(ev->data).as_object(), c);
}

}  // namespace
}  // namespace hearth::testing
