// Safe by default (docs/security.md): outgoing requests made on a user's
// say-so never reach an internal address (http/outbound.hpp), whatever form
// the address takes in the URL or in DNS; the operator routes answer only
// loopback clients while no operatorPassword is set (http::operator_access),
// where "loopback" is the real client behind a trusted proxy; and a node
// does not start on another address without a password or operatorOpen.
//
// Every fetch here is to loopback: the refused ones must not connect at all,
// which the fake server checks by counting the requests it received.

#include "http/outbound.hpp"

#include <fmt/format.h>

#include "http/client.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/support/fake_http_server.hpp"

namespace hearth::testing {
namespace {

using http::url_source;

// The encodings of 127.0.0.1 a URL may use: a name that resolves to it,
// IPv4-mapped IPv6, the unspecified address (which Linux connects to the
// local host), and the numeric forms getaddrinfo() accepts (inet_aton:
// decimal, hexadecimal, octal, short).
std::vector<std::string> loopback_urls(std::uint16_t port) {
  std::vector<std::string> out;
  for (const char* host :
       {"127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f000001", "0177.0.0.1",
        "127.1", "0.0.0.0", "[::1]", "[::]", "[::ffff:7f00:1]", "127.0.0.2"})
    out.push_back(fmt::format("http://{}:{}/x.ics", host, port));
  return out;
}

class outbound_fetch : public ::testing::Test {
 protected:
  void TearDown() override { http::configure_outbound(config::config{}); }  // the defaults
};

TEST_F(outbound_fetch, a_users_fetch_refuses_every_form_of_a_loopback_address_before_connecting) {
  fake_http_server site;
  const auto before = http::outbound_stats().user_refused.load();
  const auto urls = loopback_urls(site.port());
  for (const auto& url : urls) {
    http::fetch_request r;
    r.url = url;  // source: user, the default
    auto got = http::fetch(r);
    EXPECT_FALSE(got.ok) << url;
    EXPECT_TRUE(got.refused_address) << url << ": " << got.detail;
    EXPECT_EQ(got.error, http::kConcealedNetworkError) << url;
    EXPECT_EQ(got.detail.rfind("refused address: ", 0), 0u) << url << ": " << got.detail;
  }
  EXPECT_EQ(http::outbound_stats().user_refused.load() - before, urls.size());
  EXPECT_EQ(site.request_count(), 0u) << "a refused fetch connected";

  // The same URLs as an operator's: they reach the site.
  http::fetch_request op;
  op.source = url_source::operator_config;
  op.url = fmt::format("http://2130706433:{}/x.ics", site.port());
  auto got = http::fetch(op);
  EXPECT_TRUE(got.ok) << got.error;
  EXPECT_EQ(site.request_count(), 1u);
}

TEST_F(outbound_fetch, an_allowed_range_is_reached_and_every_network_failure_reads_alike) {
  config::config c;
  c.outbound_allow = "127.0.0.1/32";
  http::configure_outbound(c);
  fake_http_server site;
  http::fetch_request r;
  r.url = fmt::format("http://localhost:{}/x.ics", site.port());  // a name: resolved, then checked
  auto got = http::fetch(r);
  ASSERT_TRUE(got.ok) << got.error << " / " << got.detail;
  EXPECT_EQ(got.status, 200u);
  // 127.0.0.2 is loopback but not in the allowed /32.
  r.url = fmt::format("http://127.0.0.2:{}/x.ics", site.port());
  got = http::fetch(r);
  EXPECT_TRUE(got.refused_address);
  const auto refused_error = got.error;

  // Connection refused and a timeout read exactly like a refused address.
  std::uint16_t closed_port;
  {
    fake_http_server gone;
    closed_port = gone.port();
  }
  r.url = fmt::format("http://127.0.0.1:{}/", closed_port);
  got = http::fetch(r);
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.detail, "connection refused");
  EXPECT_EQ(got.error, refused_error);

  fake_http_server hung;
  hung.set_hang(true);
  r.url = hung.url("/");
  r.read_timeout = std::chrono::milliseconds(300);
  got = http::fetch(r);
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.detail, "timeout");
  EXPECT_EQ(got.error, refused_error);
  EXPECT_EQ(refused_error, http::kConcealedNetworkError);

  // An invalid URL still says what is wrong with it.
  r.url = "ftp://example.com/";
  EXPECT_EQ(http::fetch(r).error.rfind("invalid url: ", 0), 0u);
}

TEST_F(outbound_fetch, an_operators_fetch_reaches_loopback_unless_denied) {
  fake_http_server site;
  http::fetch_request r;
  r.source = url_source::operator_config;
  r.url = site.url("/");
  EXPECT_TRUE(http::fetch(r).ok);
  config::config c;
  c.outbound_deny = "127.0.0.0/8";
  http::configure_outbound(c);
  const auto before = http::outbound_stats().operator_refused.load();
  auto got = http::fetch(r);
  EXPECT_FALSE(got.ok);
  EXPECT_TRUE(got.refused_address);
  // Operators see the cause: their errors are not concealed.
  EXPECT_EQ(got.error, "refused address: 127.0.0.1 (address in outboundDeny (127.0.0.0/8))");
  EXPECT_EQ(http::outbound_stats().operator_refused.load() - before, 1u);
  EXPECT_EQ(site.request_count(), 1u);
}

// ------------------------------------------------ calendar subscriptions

class calendar_ssrf : public hearth_test {};

TEST_F(calendar_ssrf, a_member_cannot_make_the_server_fetch_an_internal_address) {
  auto owner = new_user("ssrf-owner");
  const auto hh = create_household(owner.key, "Home");
  fake_http_server site;
  site.set_body(
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nBEGIN:VEVENT\r\nUID:secret@internal"
      "\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\nSUMMARY:Internal secret\r\n"
      "END:VEVENT\r\nEND:VCALENDAR\r\n",
      "text/calendar");
  const std::vector<std::string> urls = {
      fmt::format("http://127.0.0.1:{}/x.ics", site.port()),
      fmt::format("http://localhost:{}/x.ics", site.port()),
      fmt::format("http://[::ffff:127.0.0.1]:{}/x.ics", site.port()),
      fmt::format("http://2130706433:{}/x.ics", site.port()),
      fmt::format("webcal://0x7f.1:{}/x.ics", site.port())};
  for (const auto& url : urls) {
    auto made = http().request_as(
        owner.key, "POST", "/api/v1/calendar/subscriptions",
        json::serialize(json::object{{"authHouseholdID", hh}, {"url", url}, {"name", url}}));
    check_envelope(made, 201, "CalendarSubscription");
  }
  // Each import ran and recorded why it failed, in words that do not tell
  // a refused address from a closed port.
  json::array subs;
  ASSERT_TRUE(eventually(
      [&] {
        auto res = http().request_as(owner.key, "GET",
                                     "/api/v1/calendar/subscriptions?authHouseholdID=" + hh);
        subs = res.json().as_object().at("dataValue").as_array();
        for (const auto& v : subs)
          if (!v.as_object().at("lastError").is_string()) return false;
        return subs.size() == urls.size();
      },
      20s));
  for (const auto& v : subs)
    EXPECT_EQ(str(v.as_object(), "lastError"), http::kConcealedNetworkError) << json::serialize(v);
  EXPECT_EQ(site.request_count(), 0u) << "the server fetched an internal address";
  auto events =
      http().request_as(owner.key, "GET", "/api/v1/calendar/events?authHouseholdID=" + hh);
  EXPECT_TRUE(events.json().as_object().at("dataValue").as_array().empty()) << events.body;
  // /metrics counts them; the operator's log says what was refused, at NOTICE.
  auto metrics = http().request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("hearth_outbound_refused_total{source=\"user\"} "), std::string::npos);
  EXPECT_EQ(metrics.find("hearth_outbound_refused_total{source=\"user\"} 0\n"), std::string::npos);
  const auto log = hearth_->log();
  EXPECT_NE(log.find("security: outgoing fetch refused: calendar subscription"), std::string::npos);
  EXPECT_NE(log.find("(internal address (loopback))"), std::string::npos);
}

// ------------------------------------------------------ operator routes

class operator_routes : public hearth_test {};

TEST_F(operator_routes, answer_loopback_clients_and_refuse_a_forwarded_one_without_a_password) {
  EXPECT_EQ(http().request("GET", "/metrics").status, 200u);
  EXPECT_EQ(http().request("GET", "/api/v1/admin/cron").status, 200u);
  // A proxy on this machine that is not in trustedProxies: every client
  // would look local, so a forwarded request is refused.
  for (const char* header : {"X-Forwarded-For", "Forwarded", "X-Real-IP"}) {
    auto res = http().request("GET", "/metrics", "", {{header, "203.0.113.9"}});
    check_envelope(res, 403);
    EXPECT_NE(message_of(res).find("operatorPassword"), std::string::npos) << res.body;
  }
  // The API is not an operator route.
  EXPECT_EQ(
      http().request("GET", "/api/v1/health", "", {{"X-Forwarded-For", "203.0.113.9"}}).status,
      200u);
  EXPECT_NE(hearth_->log().find("security: operator route refused to a non-loopback client"),
            std::string::npos);
}

class operator_routes_behind_a_proxy : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_TRUSTED_PROXIES", "127.0.0.1/32"}};
  }
};

TEST_F(operator_routes_behind_a_proxy, judge_the_real_client_named_by_a_trusted_proxy) {
  const std::map<std::string, std::string> remote = {{"X-Forwarded-For", "203.0.113.9"}};
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/metrics"},
           {"GET", "/api/v1/admin/cron"},
           {"GET", "/api/v1/admin/dead-letters"},
           {"POST", "/api/v1/admin/dead-letters/retry"},
           {"DELETE", "/api/v1/admin/dead-letters"},
           {"GET", "/api/v1/monitor/sites"},
           {"POST", "/api/v1/monitor/sites"}}) {
    auto res = http().request(method, path,
                              method == "POST" ? R"({"url":"http://a.example/"})" : "", remote);
    check_envelope(res, 403);
  }
  // A client that spoofs a loopback address before the real one is still
  // the real one: the proxy appends what it saw.
  EXPECT_EQ(
      http().request("GET", "/metrics", "", {{"X-Forwarded-For", "127.0.0.1, 203.0.113.9"}}).status,
      403u);
  // The proxy's own requests and a local client behind it pass.
  EXPECT_EQ(http().request("GET", "/metrics").status, 200u);
  EXPECT_EQ(http().request("GET", "/metrics", "", {{"X-Forwarded-For", "127.0.0.1"}}).status, 200u);
}

class operator_routes_open : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_TRUSTED_PROXIES", "127.0.0.1/32"}, {"HEARTH_OPERATOR_OPEN", "true"}};
  }
};

TEST_F(operator_routes_open, answer_every_client_and_say_so_at_start) {
  EXPECT_EQ(http().request("GET", "/metrics", "", {{"X-Forwarded-For", "203.0.113.9"}}).status,
            200u);
  EXPECT_NE(hearth_->log().find("operatorOpen is true and operatorPassword is empty"),
            std::string::npos);
}

TEST(operator_exposure, a_node_on_a_non_loopback_address_without_a_password_does_not_start) {
  // Refused before anything listens: 0.0.0.0 is never bound here.
  auto [code, output] =
      hearth_process::run({{"HEARTH_DATABASE_URL", throwaway_postgres::shared().create_database()},
                           {"HEARTH_HTTP_ADDR", "0.0.0.0:0"}},
                          {"serve"});
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("operatorPassword is empty: set operatorPassword"), std::string::npos)
      << output;
  EXPECT_NE(output.find("operatorOpen"), std::string::npos) << output;
  auto bad =
      hearth_process::run({{"HEARTH_DATABASE_URL", throwaway_postgres::shared().create_database()},
                           {"HEARTH_OUTBOUND_ALLOW", "10.0.0.0/33"}},
                          {"serve"});
  EXPECT_EQ(bad.first, 2) << bad.second;
  EXPECT_NE(bad.second.find("outboundAllow: \"10.0.0.0/33\""), std::string::npos) << bad.second;
}

}  // namespace
}  // namespace hearth::testing
