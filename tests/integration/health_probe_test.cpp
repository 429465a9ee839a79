// The database check of /api/v1/health (storage/health_probe.hpp): it
// answers from a real PostgreSQL, and it answers within its deadline when
// the database does not (a listener that never speaks, as a database behind
// a dead network path looks), instead of hanging for libpq's timeouts.

#include "storage/health_probe.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>

#include "tests/support/throwaway_postgres.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

// A TCP listener on 127.0.0.1 that never accepts: connections complete in
// the kernel's backlog, and libpq then waits for a server that never speaks.
struct silent_listener {
  int fd = -1;
  int port = 0;
  silent_listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0)
      throw std::runtime_error("silent_listener: bind/listen failed");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~silent_listener() { ::close(fd); }
  std::string url() const {
    return "postgresql://nobody@127.0.0.1:" + std::to_string(port) + "/none";
  }
};

// Waits (up to 30 s) for one check's answer.
std::string check(storage::health_probe& probe, std::chrono::milliseconds deadline) {
  auto answer = std::make_shared<std::promise<std::string>>();
  auto got = answer->get_future();
  probe.check(deadline, [answer](std::string error) { answer->set_value(std::move(error)); });
  if (got.wait_for(30s) != std::future_status::ready) return "(the check never answered)";
  return got.get();
}

TEST(health_probe, a_live_database_answers) {
  storage::health_probe probe(throwaway_postgres::shared().create_database());
  EXPECT_EQ(check(probe, 10s), "");
  EXPECT_EQ(check(probe, 10s), "");  // on the same connection
  EXPECT_EQ(probe.probes(), 2u);
}

TEST(health_probe, a_database_that_never_answers_gets_the_deadline_not_a_hang) {
  silent_listener silent;
  storage::health_probe probe(silent.url());
  // libpq's own connect_timeout (5 s) would answer "timeout expired"; the
  // deadline answers first.
  EXPECT_EQ(check(probe, 200ms), "no answer within 200 ms");
  // A check while that probe still hangs waits for the next probe, and is
  // answered by its own deadline too.
  EXPECT_EQ(check(probe, 300ms), "no answer within 300 ms");
}

TEST(health_probe, a_refused_connection_is_reported_and_retried_at_the_next_check) {
  silent_listener taken;  // a port nobody accepts on once it closes
  const auto url = taken.url();
  ::close(taken.fd);
  taken.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  storage::health_probe probe(url);
  const auto first = check(probe, 10s);
  EXPECT_NE(first.find("refused"), std::string::npos) << first;
  const auto second = check(probe, 10s);
  EXPECT_NE(second.find("refused"), std::string::npos) << second;
  EXPECT_EQ(probe.probes(), 2u);  // each check probed again
}

TEST(health_probe, stopping_answers_the_checks_still_waiting) {
  silent_listener silent;
  storage::health_probe probe(silent.url());
  auto answer = std::make_shared<std::promise<std::string>>();
  auto got = answer->get_future();
  probe.check(60s, [answer](std::string error) { answer->set_value(std::move(error)); });
  probe.stop();  // joins the prober once libpq's connect_timeout (5 s) ends its probe
  ASSERT_EQ(got.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(got.get(), "stopping");
  EXPECT_EQ(check(probe, 1s), "stopping");  // and every check after it
}

}  // namespace
}  // namespace hearth::testing
