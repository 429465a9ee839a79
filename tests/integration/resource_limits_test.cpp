// Bounded per-account and per-address resources (README, Security): one
// account or one client address cannot hold every SSE stream or connection
// of a node. Beyond maxStreamsPerAccount / maxStreamsPerAddress a stream is
// refused with 429 and Retry-After; beyond maxConnectionsPerAddress a
// connection gets a 429 envelope and is closed; other accounts and
// addresses are not refused; a slot comes back when its stream or
// connection ends; /metrics counts the refusals.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/fixture.hpp"
#include "tests/support/raw_connection.hpp"

namespace hearth::testing {
namespace {

// The value of one sample line of /metrics, -1 when absent.
double sample(const std::string& body, const std::string& line_start) {
  auto at = body.find(line_start);
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + line_start.size()));
}

class stream_limits : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    // The test client is a proxy on loopback naming distinct clients.
    return {{"HEARTH_TRUSTED_PROXIES", "127.0.0.1/32"},
            {"HEARTH_MAX_STREAMS_PER_ACCOUNT", "3"},
            {"HEARTH_MAX_STREAMS_PER_ADDRESS", "5"}};
  }

  std::unique_ptr<sse_client> stream_of(const test_user& u, const std::string& address) {
    return open_sse(u.key, {{"X-Forwarded-For", address}});
  }

  http_response refused_stream(const test_user& u, const std::string& address) {
    return http().request("GET", "/api/v1/sse", "",
                          {{"Authorization", "Bearer " + u.key}, {"X-Forwarded-For", address}});
  }
};

TEST_F(stream_limits, one_account_or_one_address_cannot_hold_every_stream) {
  auto a = new_user("streams-a");
  auto b = new_user("streams-b");
  auto c = new_user("streams-c");
  const std::string home = "198.51.100.1", other = "198.51.100.2";

  std::vector<std::unique_ptr<sse_client>> a_streams;
  for (int i = 0; i < 3; ++i) a_streams.push_back(stream_of(a, home));
  // A fourth stream of account a: refused, from any address.
  for (const auto& address : {home, other}) {
    auto res = refused_stream(a, address);
    check_envelope(res, 429);
    EXPECT_EQ(res.header("retry-after"), "5");
    EXPECT_NE(message_of(res).find("too many open streams"), std::string::npos) << res.body;
  }
  // Account b shares a's address: 2 more fill the address (5)...
  std::vector<std::unique_ptr<sse_client>> b_streams;
  for (int i = 0; i < 2; ++i) b_streams.push_back(stream_of(b, home));
  check_envelope(refused_stream(b, home), 429);
  // ...but another address is not refused, nor another account there.
  b_streams.push_back(stream_of(b, other));
  auto c_stream = stream_of(c, other);
  EXPECT_EQ(http().request_as(c.key, "GET", "/api/v1/shop/items").status, 200u);

  // A stream that ends gives its slot back.
  a_streams.pop_back();
  std::unique_ptr<sse_client> again;
  ASSERT_TRUE(eventually(
      [&] {
        try {
          again = stream_of(a, home);
          return true;
        } catch (const std::exception&) {
          return false;
        }
      },
      10s))
      << "the ended stream's slot never came back";

  auto metrics = http().request("GET", "/metrics").body;
  EXPECT_GE(sample(metrics, "hearth_limit_refusals_total{limit=\"maxStreamsPerAccount\"} "), 2)
      << metrics.substr(0, 500);
  EXPECT_GE(sample(metrics, "hearth_limit_refusals_total{limit=\"maxStreamsPerAddress\"} "), 1);
  EXPECT_NE(hearth_->log().find("security: stream refused"), std::string::npos);
}

class connection_limits : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_MAX_CONNECTIONS_PER_ADDRESS", "4"}};
  }
};

// A connection to hearth from `source` (a loopback address of its own).
int connect_from(const char* source, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(connection_limits, one_address_cannot_hold_every_connection) {
  // Four idle connections from 127.0.0.1 fill its quota.
  std::vector<std::unique_ptr<raw_connection>> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<raw_connection>(port()));
  raw_connection fifth(port());
  auto [answer, closed] = fifth.read_until_closed(10s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(answer.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Retry-After: 5\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("too many connections from this address"), std::string::npos);

  // Another address is served meanwhile.
  int other = connect_from("127.0.0.2", port());
  if (other < 0) GTEST_SKIP() << "127.0.0.2 cannot be bound here";
  const std::string get = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(other, get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::recv(other, buf, sizeof buf, 0)) > 0;) reply.append(buf, n);
  ::close(other);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply.substr(0, 200);

  // A connection that ends gives its slot back.
  held.pop_back();
  ASSERT_TRUE(eventually(
      [&] {
        raw_connection c(port());
        c.send(get);
        std::string data;
        return c.read_until("\r\n\r\n", data, 5s) && data.rfind("HTTP/1.1 200", 0) == 0;
      },
      10s));
  held.clear();
  auto metrics = http().request("GET", "/metrics").body;
  EXPECT_GE(sample(metrics, "hearth_limit_refusals_total{limit=\"maxConnectionsPerAddress\"} "), 1);
}

}  // namespace
}  // namespace hearth::testing
