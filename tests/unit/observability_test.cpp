#include "app/observability.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace hearth::app {
namespace {

TEST(Observability, RedactsSecretQueryParameters) {
  EXPECT_EQ(redact_target("/a?b=1"), "/a?b=1");
  EXPECT_EQ(redact_target("/a?apiKey=xyz&n=2&password=p&session_token=t"),
            "/a?apiKey=[redacted]&n=2&password=[redacted]&session_token=[redacted]");
  EXPECT_EQ(redact_target("/plain"), "/plain");
  // The token of a calendar feed URL is a credential.
  EXPECT_EQ(redact_target("/api/v1/calendar/feeds/abcDEF_-123.ics"),
            "/api/v1/calendar/feeds/[redacted]");
  EXPECT_EQ(redact_target("/api/v1/calendar/feeds/abc.ics?x=1"),
            "/api/v1/calendar/feeds/[redacted]?[redacted]");
  EXPECT_EQ(redact_target("/api/v1/calendar/feeds"), "/api/v1/calendar/feeds");
}

TEST(Observability, AccessLogLineIsApacheCombinedFormat) {
  http::exchange_record r;
  r.method = "GET";
  r.target = "/api/v1/shop/items?key=secret";
  r.remote_addr = "127.0.0.1";
  r.status = 200;
  r.response_bytes = 1234;
  r.referer = "https://app.example/";
  r.user_agent = "curl/7.88 \"quoted\"";
  r.started = std::chrono::system_clock::from_time_t(1700000000);  // 2023-11-14 22:13:20 UTC
  EXPECT_EQ(combined_log_line(r),
            "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /api/v1/shop/items?key=[redacted] "
            "HTTP/1.1\" 200 1234 \"https://app.example/\" \"curl/7.88 \\\"quoted\\\"\"");
  r.response_bytes = 0;
  r.referer.clear();
  r.user_agent.clear();
  EXPECT_TRUE(std::regex_search(combined_log_line(r), std::regex(R"( 200 - "-" "-"$)")));
}

}  // namespace
}  // namespace hearth::app
