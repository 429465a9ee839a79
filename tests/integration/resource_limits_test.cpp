// Bounded per-account and per-address resources (docs/security.md): one
// account or one client address cannot hold every SSE stream or connection
// of a node. Beyond maxStreamsPerAccount / maxStreamsPerAddress a stream is
// refused with 429 and Retry-After; beyond maxConnectionsPerAddress a
// connection gets a 429 envelope and is closed; other accounts and
// addresses are not refused; a slot comes back when its stream or
// connection ends; /metrics counts the refusals.

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

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

// A flood of one account from one address: it holds every stream and
// connection its limits allow, keeps asking for more, and sends requests
// back to back on what it holds. Another account from another address
// meanwhile sees no refusal, and the p90 of its requests during the flood
// stays within 3× of its p90 just before it (a baseline below 3 ms counts as
// 3 ms: on this shared 2-core machine, where the flood's own client threads
// take a core, scheduling noise, not the server, sets latencies under that)
// in at least 2 of 3 rounds: a neighbour test's burst of CPU can spoil one
// round, a server that lets the flood starve the victim spoils all three.
class flood_isolation : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_MAX_STREAMS_PER_ACCOUNT", "4"},
            {"HEARTH_MAX_STREAMS_PER_ADDRESS", "8"},
            {"HEARTH_MAX_CONNECTIONS_PER_ADDRESS", "16"}};
  }
};

// One keep-alive GET on `c`; its status (0 when no whole answer came).
unsigned get_on(raw_connection& c, const std::string& key, const std::string& target) {
  c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\n\r\n");
  std::string data;
  if (!c.read_until("\r\n\r\n", data, 10s)) return 0;
  const auto head_end = data.find("\r\n\r\n") + 4;
  const auto at = data.find("Content-Length: ");
  if (at == std::string::npos || at > head_end) return 0;
  const auto length = std::stoul(data.substr(at + 16));
  if (!c.read_at_least(head_end + length, data, 10s)) return 0;
  return static_cast<unsigned>(std::stoul(data.substr(9, 3)));
}

double percentile_ms(std::vector<double> v, int p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * p / 100)];
}

TEST_F(flood_isolation, another_account_at_another_address_is_not_refused_or_slowed) {
  auto flooder = new_user("flooder");
  auto victim = new_user("victim");
  create_item(victim.key, create_household(victim.key, "Victim"), "row");
  std::unique_ptr<raw_connection> probe;
  try {
    probe = std::make_unique<raw_connection>(port(), "127.0.0.2");
  } catch (const std::exception&) {
    GTEST_SKIP() << "127.0.0.2 cannot be bound here";
  }
  // The victim's requests: sequential GETs of its list on one keep-alive
  // connection from 127.0.0.2. Latency per request, and every status.
  std::map<unsigned, int> statuses;
  auto measure = [&](int n) {
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto status = get_on(*probe, victim.key, "/api/v1/shop/items");
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      ++statuses[status];
    }
    return ms;
  };
  measure(50);  // warm-up: the session and the list cached
  statuses.clear();

  // The flood, bounded in time and count: every stream and connection the
  // limits allow, attempts for more, and requests back to back. It runs in
  // phases, on and off, so that the baseline and the flooded figures share
  // whatever else this machine is doing at the time.
  std::atomic<bool> stop{false};
  bool flooding = false;
  std::mutex phase_mutex;
  std::condition_variable phase;
  auto wait_for_flood = [&] {  // false once stopped
    std::unique_lock lock(phase_mutex);
    phase.wait(lock, [&] { return flooding || stop; });
    return !stop;
  };
  auto set_flooding = [&](bool on) {
    {
      std::lock_guard lock(phase_mutex);
      flooding = on;
    }
    phase.notify_all();
  };
  std::atomic<int> refused_streams{0}, refused_connections{0}, flood_requests{0};
  std::vector<std::unique_ptr<sse_client>> held_streams;
  for (int i = 0; i < 4; ++i) held_streams.push_back(open_sse(flooder.key));
  std::vector<std::thread> flood;
  for (int t = 0; t < 1; ++t)
    flood.emplace_back([&] {  // requests back to back on a held connection
      try {
        auto c = std::make_unique<raw_connection>(port());
        for (int i = 0; i < 200'000 && wait_for_flood(); ++i) {
          try {
            if (get_on(*c, flooder.key, "/api/v1/shop/items") == 200) ++flood_requests;
          } catch (const std::exception&) {  // the server closed it: a new connection
            c = std::make_unique<raw_connection>(port());
          }
        }
      } catch (const std::exception&) {  // no connection at all: the flood ends
      }
    });
  flood.emplace_back([&] {  // more streams and connections than allowed
    std::vector<std::unique_ptr<raw_connection>> held;
    for (int i = 0; i < 20'000 && wait_for_flood(); ++i) {
      try {
        auto c = std::make_unique<raw_connection>(port());
        c->send("GET /api/v1/sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + flooder.key +
                "\r\n\r\n");
        std::string head;
        if (c->read_until("\r\n\r\n", head, 5s) && head.rfind("HTTP/1.1 429", 0) == 0) {
          if (head.find("too many connections") != std::string::npos)
            ++refused_connections;
          else
            ++refused_streams;
        }
        if (held.size() < 16) held.push_back(std::move(c));  // keep the address full
      } catch (const std::exception&) {
        ++refused_connections;  // refused before a word: counted alike
      }
    }
  });
  std::vector<double> quiet, flooded_ms;
  int isolated_rounds = 0;
  std::string rounds;
  for (int round = 0; round < 3; ++round) {
    auto q = measure(150);
    quiet.insert(quiet.end(), q.begin(), q.end());
    set_flooding(true);
    ASSERT_TRUE(eventually([&] { return flood_requests > 20 * (round + 1); }, 20s))
        << "the flood does not run";
    auto f = measure(150);
    flooded_ms.insert(flooded_ms.end(), f.begin(), f.end());
    set_flooding(false);
    const double q90 = percentile_ms(q, 90), f90 = percentile_ms(f, 90);
    if (f90 <= 3 * std::max(q90, 3.0)) ++isolated_rounds;
    rounds += fmt::format(" round {}: p90 {:.2f} ms quiet, {:.2f} ms flooded;", round, q90, f90);
  }
  {
    std::lock_guard lock(phase_mutex);
    stop = true;
  }
  phase.notify_all();
  for (auto& t : flood) t.join();
  const auto base = percentile_ms(quiet, 99), flooded = percentile_ms(flooded_ms, 99);

  std::printf(
      "victim p99: %.2f ms without the flood, %.2f ms during it; flood: %d requests served, "
      "%d streams and %d connections refused\n",
      base, flooded, flood_requests.load(), refused_streams.load(), refused_connections.load());
  EXPECT_EQ(statuses.size(), 1u) << "the victim got something other than 200";
  EXPECT_EQ(statuses[200], 900);
  EXPECT_GT(refused_streams + refused_connections, 20) << "the flood was refused";
  EXPECT_GE(isolated_rounds, 2) << "the victim was slowed by the flood:" << rounds;
  std::printf("%s\n", rounds.c_str());
  EXPECT_GT(flood_requests.load(), 0);
}

}  // namespace
}  // namespace hearth::testing
