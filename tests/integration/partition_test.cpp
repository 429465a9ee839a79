// A silent network partition between a node and PostgreSQL (docs/chaos.md).
//
// The node runs in a network namespace of its own (`ip netns`), reached
// through two veth pairs: one carries its database traffic, to a TCP
// forwarder in this (the root) namespace that passes the bytes on to the
// test's PostgreSQL; the other carries the test's HTTP requests. Setting the
// database pair's root-side link down drops every packet between the node
// and PostgreSQL without a reset: a partition, as a cut cable or a dead
// switch gives one. The node must notice within seconds
// (storage::with_network_timeouts: TCP keepalives), stop leading and answer
// readiness-style failures instead of hanging, then lead again once the
// link is back. Needs root and iproute2; skipped otherwise.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/fixture.hpp"
#include "tests/support/hearth_process.hpp"
#include "tests/support/throwaway_postgres.hpp"

namespace hearth::testing {
namespace {

int sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// Forwards every connection accepted on `listen_addr` (an IPv4 address of
// this namespace, port chosen by the kernel) to PostgreSQL at a Unix socket
// path or a 127.0.0.1 port, byte for byte, until stopped.
class tcp_forwarder {
 public:
  tcp_forwarder(const std::string& listen_addr, std::string unix_path, int tcp_port)
      : unix_path_(std::move(unix_path)), tcp_port_(tcp_port) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, listen_addr.c_str(), &a.sin_addr);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_, 64) != 0)
      throw std::runtime_error("forwarder: cannot listen on " + listen_addr);
    socklen_t len = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accepter_ = std::thread([this] { accept_loop(); });
  }
  ~tcp_forwarder() {
    stop_ = true;
    ::shutdown(listen_, SHUT_RDWR);
    ::close(listen_);
    accepter_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : pumps_) t.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  int upstream() const {
    if (!unix_path_.empty()) {
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un u{};
      u.sun_family = AF_UNIX;
      std::snprintf(u.sun_path, sizeof u.sun_path, "%s", unix_path_.c_str());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&u), sizeof u) == 0) return fd;
      ::close(fd);
      return -1;
    }
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(tcp_port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    ::close(fd);
    return -1;
  }
  void accept_loop() {
    while (!stop_) {
      int client = ::accept(listen_, nullptr, nullptr);
      if (client < 0) return;
      int server = upstream();
      if (server < 0) {
        ::close(client);
        continue;
      }
      std::lock_guard lock(mutex_);
      pumps_.emplace_back([this, client, server] { pump(client, server); });
    }
  }
  // Both directions until either side closes or the forwarder stops.
  void pump(int a, int b) {
    char buf[16384];
    while (!stop_) {
      pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(p, 2, 200) <= 0) continue;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        auto n = ::read(p[i].fd, buf, sizeof buf);
        if (n <= 0) {
          done = true;
          break;
        }
        const int to = i == 0 ? b : a;
        for (ssize_t off = 0; off < n;) {
          auto w = ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) {
            done = true;
            break;
          }
          off += w;
        }
      }
      if (done) break;
    }
    ::close(a);
    ::close(b);
  }

  std::string unix_path_;
  int tcp_port_ = 0;
  int listen_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accepter_;
  std::mutex mutex_;
  std::vector<std::thread> pumps_;
};

// One GET to address:port (`headers`: more header lines, each ending in
// CRLF); {status, body}, status 0 when no whole answer came within `timeout`.
std::pair<unsigned, std::string> get(const std::string& address, std::uint16_t port,
                                     const std::string& target, std::chrono::milliseconds timeout,
                                     const std::string& headers = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return static_cast<int>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now())
               .count()));
  };
  pollfd p{fd, POLLOUT, 0};
  std::string data;
  if (::poll(&p, 1, left()) == 1) {
    const std::string req =
        "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + "\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      for (;;) {
        pollfd r{fd, POLLIN, 0};
        if (::poll(&r, 1, left()) != 1) break;
        char buf[4096];
        auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  const auto body = data.find("\r\n\r\n");
  if (data.rfind("HTTP/1.1 ", 0) != 0 || body == std::string::npos) return {0, ""};
  return {static_cast<unsigned>(std::stoul(data.substr(9, 3))), data.substr(body + 4)};
}

// Whether the node's health says it leads (false when it cannot say).
bool leading(const std::pair<unsigned, std::string>& health) {
  try {
    const auto v = boost::json::parse(health.second);
    return v.as_object()
        .at("dataValue")
        .as_array()
        .at(0)
        .as_object()
        .at("cluster")
        .as_object()
        .at("leading")
        .as_bool();
  } catch (const std::exception&) {
    return false;
  }
}

class network_partition : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    if (sh("ip -V") != 0) GTEST_SKIP() << "iproute2 (ip) is not installed";
    const auto id = std::to_string(::getpid() % 100000);
    const auto net = std::to_string(::getpid() % 200 + 20);
    ns_ = "hpart" + id;
    db_link_ = "hpd" + id;
    http_link_ = "hph" + id;
    db_host_ = "10.231." + net + ".1";
    db_node_ = "10.231." + net + ".2";
    http_host_ = "10.232." + net + ".1";
    http_node_ = "10.232." + net + ".2";
    const std::vector<std::string> setup = {
        "ip netns add " + ns_,
        "ip -n " + ns_ + " link set lo up",
        "ip link add " + db_link_ + "a type veth peer name " + db_link_ + "b",
        "ip link set " + db_link_ + "b netns " + ns_,
        "ip addr add " + db_host_ + "/30 dev " + db_link_ + "a",
        "ip link set " + db_link_ + "a up",
        "ip -n " + ns_ + " addr add " + db_node_ + "/30 dev " + db_link_ + "b",
        "ip -n " + ns_ + " link set " + db_link_ + "b up",
        "ip link add " + http_link_ + "a type veth peer name " + http_link_ + "b",
        "ip link set " + http_link_ + "b netns " + ns_,
        "ip addr add " + http_host_ + "/30 dev " + http_link_ + "a",
        "ip link set " + http_link_ + "a up",
        "ip -n " + ns_ + " addr add " + http_node_ + "/30 dev " + http_link_ + "b",
        "ip -n " + ns_ + " link set " + http_link_ + "b up"};
    for (const auto& c : setup) {
      if (sh(c) != 0) {
        TearDown();
        GTEST_SKIP() << "cannot set up network namespaces here (" << c << ")";
      }
    }
    database_url_ = throwaway_postgres::shared().create_database();
  }

  void TearDown() override {
    node_.reset();
    forwarder_.reset();
    if (!ns_.empty()) {
      sh("ip link del " + db_link_ + "a");
      sh("ip link del " + http_link_ + "a");
      sh("ip netns del " + ns_);
    }
  }

  // The forwarder to the test's PostgreSQL, and the node's URL through it.
  std::string node_database_url() {
    pqxx::connection probe{database_url_};
    const std::string host = probe.hostname() ? probe.hostname() : "";
    const int port = std::atoi(probe.port());
    const auto dbname = std::string(probe.dbname());
    const auto user = std::string(probe.username());
    probe.disconnect();
    const bool unix_socket = host.empty() || host[0] == '/';
    forwarder_ = std::make_unique<tcp_forwarder>(
        db_host_,
        unix_socket
            ? (host.empty() ? "/var/run/postgresql" : host) + "/.s.PGSQL." + std::to_string(port)
            : "",
        port);
    return "postgresql://" + user + "@" + db_host_ + ":" + std::to_string(forwarder_->port()) +
           "/" + dbname;
  }

  std::pair<unsigned, std::string> health(std::chrono::milliseconds timeout = 5s) {
    return get(http_node_, node_->port(), "/api/v1/health", timeout);
  }

  std::string ns_, db_link_, http_link_, db_host_, db_node_, http_host_, http_node_;
  std::string database_url_;
  std::unique_ptr<tcp_forwarder> forwarder_;
  std::unique_ptr<hearth_process> node_;
};

TEST_F(network_partition, a_node_cut_off_from_postgres_stops_leading_within_seconds_and_recovers) {
  const auto url = node_database_url();
  node_ = std::make_unique<hearth_process>(
      std::map<std::string, std::string>{{"HEARTH_DATABASE_URL", url},
                                         {"HEARTH_HTTP_ADDR", http_node_ + ":0"},
                                         {"HEARTH_OPERATOR_PASSWORD", "partition-test"},
                                         {"HEARTH_NODE_ID", "partitioned"}},
      std::vector<std::string>{"serve"}, std::vector<std::string>{"ip", "netns", "exec", ns_});
  ASSERT_TRUE(eventually([&] { return leading(health()); }, 30s))
      << "the node never led: " << health().second << "\n"
      << node_->log();

  // The partition: every packet between the node and PostgreSQL dropped.
  ASSERT_EQ(sh("ip link set " + db_link_ + "a down"), 0);
  const auto cut = std::chrono::steady_clock::now();
  // It stops leading within seconds (TCP keepalives: 5 s idle + 3 x 2 s),
  // and its health (which asks the database on a connection of its own, as
  // cut off as the rest) answers within its 3 s deadline, never hanging.
  bool stepped_down = false;
  while (std::chrono::steady_clock::now() - cut < 40s) {
    auto h = health(10s);
    ASSERT_NE(h.first, 0u) << "the node's health did not answer within 10 s";
    if (!leading(h)) {
      stepped_down = true;
      break;
    }
    std::this_thread::sleep_for(200ms);  // polling pace
  }
  const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut).count();
  EXPECT_TRUE(stepped_down) << "still leading 40 s after the partition:\n" << node_->log();
  std::printf("the partitioned node stopped leading after %.1f s\n", took);
  EXPECT_LT(took, 30) << "the node noticed the partition too late";
  auto during = health(10s);
  EXPECT_EQ(during.first, 503u) << during.second;

  // The link comes back: it leads again and serves.
  ASSERT_EQ(sh("ip link set " + db_link_ + "a up"), 0);
  EXPECT_TRUE(eventually([&] { return leading(health()); }, 40s))
      << "the node did not lead again after the partition healed:\n"
      << health().second << "\n"
      << node_->log().substr(node_->log().size() > 6000 ? node_->log().size() - 6000 : 0);
  EXPECT_EQ(health().first, 200u);
}

// A node cut off from PostgreSQL (and, being alone, from every peer) cannot
// learn of a sign-out or a member's removal (storage/revocations.hpp), so it
// may answer reads from its cache only while the cached lists live:
// cacheTtlMs after their read (plus the sweep's ttl/4). After that its reads
// get 503, never a list it can no longer check; and once the link is back
// it serves them again.
TEST_F(network_partition, a_node_cut_off_serves_cached_reads_no_longer_than_their_ttl) {
  constexpr auto ttl = 8s;
  const auto url = node_database_url();
  node_ = std::make_unique<hearth_process>(
      std::map<std::string, std::string>{{"HEARTH_DATABASE_URL", url},
                                         {"HEARTH_HTTP_ADDR", http_node_ + ":0"},
                                         {"HEARTH_CACHE_TTL_MS", "8000"},
                                         {"HEARTH_OPERATOR_PASSWORD", "partition-test"},
                                         {"HEARTH_NODE_ID", "cut-off"}},
      std::vector<std::string>{"serve"}, std::vector<std::string>{"ip", "netns", "exec", ns_});
  ASSERT_TRUE(eventually([&] { return health().first == 200; }, 30s)) << node_->log();
  http_client c(node_->port(), http_node_);
  const auto user = new_user_on(c, "cut");
  const auto household = create_household_on(c, user.key, "Home");
  require_status(c.request_as(user.key, "POST", "/api/v1/shop/items",
                              boost::json::serialize(boost::json::object{
                                  {"authHouseholdID", household}, {"name", "milk"}})),
                 201, "create an item");
  const std::string auth = "Authorization: Bearer " + user.key + "\r\n";
  auto list = [&] { return get(http_node_, node_->port(), "/api/v1/shop/items", 30s, auth); };
  const auto read = std::chrono::steady_clock::now();
  ASSERT_EQ(list().first, 200u);  // read from the database: cached from now on

  ASSERT_EQ(sh("ip link set " + db_link_ + "a down"), 0);
  auto cached = list();  // from memory: the database is not asked
  EXPECT_EQ(cached.first, 200u) << cached.second;
  EXPECT_NE(cached.second.find("milk"), std::string::npos) << cached.second;

  // Poll until a read is refused; no 200 may start after the bound.
  const auto bound = read + ttl + ttl / 4 + 2s;
  std::pair<unsigned, std::string> last;
  bool late_200 = false;
  while (std::chrono::steady_clock::now() - read < 90s) {
    const auto sent = std::chrono::steady_clock::now();
    last = list();
    if (last.first == 200 && sent > bound) late_200 = true;
    if (last.first != 200 && last.first != 0) break;
    std::this_thread::sleep_for(250ms);  // polling pace
  }
  std::printf("the cut-off node refused reads %.1f s after the list's read (ttl 8 s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - read).count());
  EXPECT_FALSE(late_200) << "a cut-off node served a cached list after its ttl";
  EXPECT_EQ(last.first, 503u) << last.second;

  ASSERT_EQ(sh("ip link set " + db_link_ + "a up"), 0);
  EXPECT_TRUE(eventually([&] { return list().first == 200; }, 60s))
      << "reads did not come back after the partition healed:\n"
      << node_->log().substr(node_->log().size() > 6000 ? node_->log().size() - 6000 : 0);
}

}  // namespace
}  // namespace hearth::testing
