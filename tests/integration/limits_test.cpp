// Limits that protect the server (slow and idle clients, header size, bad
// resume cursors), the scheduler's session expiry, and concurrent migrations.

#include <future>
#include <pqxx/pqxx>
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/support/raw_connection.hpp"

namespace hearth::testing {
namespace {

class limits : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_IDLE_TIMEOUT_MS", "400"}, {"HEARTH_REQUEST_TIMEOUT_MS", "400"}};
  }
};

TEST_F(limits, a_header_that_never_ends_is_cut_off) {
  raw_connection c(port());
  auto start = std::chrono::steady_clock::now();
  c.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  auto [data, closed] = c.read_until_closed(10s);
  EXPECT_TRUE(closed) << "the server kept a half-sent header open";
  EXPECT_TRUE(data.empty()) << data;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 350ms);
}

TEST_F(limits, a_body_that_never_ends_is_cut_off) {
  raw_connection c(port());
  c.send(
      "POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"emailAd");
  auto [data, closed] = c.read_until_closed(10s);
  EXPECT_TRUE(closed) << "the server kept a half-sent body open";
  EXPECT_TRUE(data.empty()) << data;
}

TEST_F(limits, a_trickling_header_is_cut_off_at_its_deadline) {
  // Slowloris: one byte at a time keeps every read short, but the whole
  // header has one deadline (the idle timeout, 400 ms here).
  raw_connection c(port());
  const std::string header =
      "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  bool cut = false;
  for (char ch : header) {
    try {
      c.send(std::string(1, ch));
    } catch (const std::runtime_error&) {
      cut = true;
      break;
    }
    if (c.read_until_closed(50ms).second) {
      cut = true;
      break;
    }
  }
  EXPECT_TRUE(cut) << "a header trickling in for " << header.size() * 50 << " ms was never cut off";
}

TEST_F(limits, an_idle_keep_alive_connection_is_closed) {
  raw_connection c(port());
  c.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
  auto [data, closed] = c.read_until_closed(10s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(data.rfind("HTTP/1.1 200", 0), 0u) << data;
  EXPECT_EQ(data.find("HTTP/1.1 408"), std::string::npos) << "idle is not a timeout error";
}

TEST_F(limits, an_oversized_header_is_431) {
  raw_connection c(port());
  c.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') +
         "\r\n\r\n");
  auto [data, closed] = c.read_until_closed(10s);
  EXPECT_EQ(data.rfind("HTTP/1.1 431", 0), 0u) << data.substr(0, 200);
  EXPECT_TRUE(closed);
}

TEST_F(limits, a_malformed_request_is_400) {
  raw_connection c(port());
  c.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n");
  auto [data, closed] = c.read_until_closed(10s);
  EXPECT_EQ(data.rfind("HTTP/1.1 400", 0), 0u) << data;
  EXPECT_NE(data.find("\"success\":false"), std::string::npos) << data;
}

TEST_F(limits, a_last_event_id_that_is_not_a_cursor_is_400) {
  auto user = new_user("cursor");
  auto res = http().request("GET", "/api/v1/sse", "",
                            {{"Authorization", "Bearer " + user.key},
                             {"Accept", "text/event-stream"},
                             {"Last-Event-ID", "nope!"}});
  EXPECT_EQ(res.status, 400u) << res.body;
  EXPECT_NE(message_of(res).find("Last-Event-ID"), std::string::npos) << res.body;
}

class housekeeping : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_SESSION_TTL_MS", "1000"}, {"HEARTH_SESSION_EXPIRY_SCHEDULE", "every 1s"}};
  }
};

TEST_F(housekeeping, the_session_expiry_cron_job_deletes_expired_sessions) {
  auto user = new_user("expiring");
  pqxx::connection db{database_url_};
  auto count = [&] {
    pqxx::read_transaction tx{db};
    return tx.exec1("SELECT count(*) FROM auth_session")[0].as<int>();
  };
  EXPECT_EQ(count(), 1);
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (count() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);  // polling with a deadline
  EXPECT_EQ(count(), 0) << "the expired session was not deleted";
  EXPECT_EQ(http().request_as(user.key, "GET", "/api/v1/auth/accounts/me").status, 401u);
}

TEST(migrations, concurrent_migrate_runs_each_migration_once) {
  auto url = throwaway_postgres::shared().create_database();
  std::map<std::string, std::string> env{{"HEARTH_DATABASE_URL", url}};
  std::vector<std::future<std::pair<int, std::string>>> runs;
  for (int i = 0; i < 3; ++i)
    runs.push_back(
        std::async(std::launch::async, [env] { return hearth_process::run(env, {"migrate"}); }));
  for (auto& r : runs) {
    auto [code, output] = r.get();
    EXPECT_EQ(code, 0) << output;
  }
  pqxx::connection db{url};
  pqxx::read_transaction tx{db};
  auto r = tx.exec("SELECT version, count(*) FROM schema_migrations GROUP BY version");
  ASSERT_GE(r.size(), 1u);
  for (const auto& row : r) EXPECT_EQ(row[1].as<int>(), 1) << "version " << row[0].c_str();
}

}  // namespace
}  // namespace hearth::testing
