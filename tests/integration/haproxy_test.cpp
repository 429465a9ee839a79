// HAProxy in front of a cluster, as users run it: deploy/haproxy.cfg
// rendered by scripts/haproxy-config (only the server lines change), TLS
// and HTTP/2 to the client (curl --http2), HTTP/1.1 to three real nodes.
// An SSE stream and writes go through it; the operator routes are refused
// at the front door; and a rolling restart under load (drain, stop, start,
// one node at a time) loses and duplicates nothing: the stream resumes on
// another node with Last-Event-ID, writes carry an Idempotency-Key and are
// retried on 503 or a broken connection.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>
#include <thread>

#include "storage/process.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/pki.hpp"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;

// The repository (this file is tests/integration/haproxy_test.cpp).
fs::path source_dir() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("no free port");
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// Runs a command to completion (60 s at most); its stdout+stderr.
std::string run(const std::vector<std::string>& argv, const fs::path& out_file) {
  std::error_code ec;
  fs::remove(out_file, ec);
  storage::spawn_options o;
  o.log_file = out_file.string();
  auto pid = storage::spawn_process(argv, o);
  if (!storage::wait_process(pid, 60s)) {
    ::kill(pid, SIGKILL);
    storage::wait_process(pid, 10s);
  }
  return slurp(out_file);
}

class HAProxyFront : public ::testing::Test {
 protected:
  void SetUp() override {
    // Fixed HTTP ports: a restarted node comes back where HAProxy expects it.
    cluster_options o;
    o.nodes = 3;
    o.tls = false;
    o.extra_env = {{"HEARTH_TRUSTED_PROXIES", "127.0.0.1/32"},
                   {"HEARTH_DRAIN_NOTICE_MS", "3000"},
                   {"HEARTH_SHUTDOWN_TIMEOUT_MS", "5000"}};
    for (char c = 'a'; c < 'a' + o.nodes; ++c)
      o.node_env[std::string("node-") + c] = {
          {"HEARTH_HTTP_ADDR", "127.0.0.1:" + std::to_string(free_port())}};
    cluster_ = std::make_unique<test_cluster>(o);
    ASSERT_TRUE(cluster_->wait_linked(20s)) << cluster_->describe();

    dir_ = fs::temp_directory_path() / ("hearth-haproxy-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto cert = make_self_signed_certificate(dir_, "localhost");
    {
      std::ofstream pem(dir_ / "front.pem");
      pem << slurp(cert.cert) << slurp(cert.key);
    }
    std::vector<std::string> render{"bash", (source_dir() / "scripts/haproxy-config").string()};
    for (const auto& n : cluster_->names())
      render.push_back("127.0.0.1:" + std::to_string(cluster_->http_port(n)));
    const auto cfg = run(render, dir_ / "haproxy.cfg");
    ASSERT_NE(cfg.find("balance hash"), std::string::npos) << cfg;

    port_ = free_port();
    storage::spawn_options so;
    so.log_file = (dir_ / "haproxy.log").string();
    so.env = {{"HEARTH_FRONT_ADDR", "127.0.0.1:" + std::to_string(port_)},
              {"HEARTH_FRONT_CERT", (dir_ / "front.pem").string()}};
    haproxy_ =
        storage::spawn_process({"haproxy", "-db", "-f", (dir_ / "haproxy.cfg").string()}, so);
    // Up once both nodes passed their readiness checks (rise 2, inter 1 s).
    ASSERT_TRUE(eventually(
        [&] {
          return curl({"-o", "/dev/null", "-w", "%{http_code}", url("/api/v1/ready")}) == "200";
        },
        20s))
        << slurp(dir_ / "haproxy.log");
  }

  void TearDown() override {
    if (stream_ > 0) {
      ::kill(stream_, SIGKILL);
      storage::wait_process(stream_, 10s);
    }
    if (haproxy_ > 0) {
      if (HasFailure()) std::cerr << "---- haproxy ----\n" << slurp(dir_ / "haproxy.log");
      ::kill(haproxy_, SIGTERM);
      storage::wait_process(haproxy_, 10s);
    }
    cluster_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }

  // curl over HTTP/2 with TLS (the front's self-signed certificate).
  std::string curl(std::vector<std::string> args) {
    std::vector<std::string> argv{"curl", "-sS", "-k", "--http2", "--max-time", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, dir_ / ("curl-" + std::to_string(++calls_) + ".out"));
  }

  struct account {
    std::string bearer;  // "Authorization: Bearer <key>"
    std::string household;
  };
  // An account with a household, made through the front door.
  account account_with_household(const std::string& name) {
    const auto email = unique_email(name);
    const auto signup =
        curl({"-H", "Content-Type: application/json", "-d",
              json::serialize(json::object{
                  {"emailAddress", email}, {"password", "correct horse front"}, {"name", name}}),
              "-w", "\n%{http_code} %{http_version}", url("/api/v1/auth/signup")});
    EXPECT_NE(signup.find("\n201 2"), std::string::npos) << "not a 201 over HTTP/2: " << signup;
    const auto signin = curl({"-H", "Content-Type: application/json", "-d",
                              json::serialize(json::object{{"emailAddress", email},
                                                           {"password", "correct horse front"}}),
                              url("/api/v1/auth/signin")});
    std::smatch m;
    if (!std::regex_search(signin, m, std::regex("\"key\":\"([^\"]+)\""))) {
      ADD_FAILURE() << signin;
      return {};
    }
    account a;
    a.bearer = "Authorization: Bearer " + m[1].str();
    const auto created =
        curl({"-H", a.bearer, "-H", "Content-Type: application/json", "-d",
              json::serialize(json::object{{"name", name}}), url("/api/v1/auth/households")});
    if (!std::regex_search(created, m, std::regex("\"id\":\"([^\"]+)\""))) {
      ADD_FAILURE() << created;
      return {};
    }
    a.household = m[1].str();
    return a;
  }

  std::unique_ptr<test_cluster> cluster_;
  fs::path dir_;
  std::uint16_t port_ = 0;
  pid_t haproxy_ = -1;
  pid_t stream_ = -1;
  int calls_ = 0;
};

TEST_F(HAProxyFront, a_stream_and_writes_over_http2_go_through_haproxy_to_the_cluster) {
  const auto acct = account_with_household("front");
  const auto& bearer = acct.bearer;
  const auto& household = acct.household;

  // The stream, over HTTP/2 through HAProxy.
  storage::spawn_options so;
  so.log_file = (dir_ / "stream.out").string();
  stream_ = storage::spawn_process({"curl", "-sS", "-k", "--http2", "-N", "--max-time", "60", "-H",
                                    bearer, "-v", url("/api/v1/sse")},
                                   so);
  ASSERT_TRUE(eventually(
      [&] { return slurp(dir_ / "stream.out").find("retry:") != std::string::npos; }, 10s))
      << slurp(dir_ / "stream.out");
  EXPECT_NE(slurp(dir_ / "stream.out").find("HTTP/2 200"), std::string::npos)
      << "the stream is not HTTP/2";

  auto write = [&](const std::string& name) {
    const auto res =
        curl({"-H", bearer, "-H", "Content-Type: application/json", "-d",
              json::serialize(json::object{{"authHouseholdID", household}, {"name", name}}), "-w",
              "\n%{http_code} %{http_version}", url("/api/v1/shop/items")});
    EXPECT_NE(res.find("\n201 2"), std::string::npos) << "not a 201 over HTTP/2: " << res;
  };
  // Every seq the stream received, in order.
  auto seqs = [&] {
    std::vector<long> out;
    const auto text = slurp(dir_ / "stream.out");
    static const std::regex seq("\"seq\":([0-9]+)");
    for (std::sregex_iterator it(text.begin(), text.end(), seq), end; it != end; ++it)
      out.push_back(std::stol((*it)[1].str()));
    return out;
  };
  // The stream attaches to the household shortly after its first bytes:
  // write until it sees an event.
  for (int i = 0; i < 20 && seqs().empty(); ++i) {
    write("warm-up " + std::to_string(i));
    eventually([&] { return !seqs().empty(); }, 500ms);
  }
  ASSERT_FALSE(seqs().empty()) << slurp(dir_ / "stream.out");
  const auto first = seqs().front();
  // Writes over HTTP/2 through HAProxy reach it, each once, in order.
  constexpr int kWrites = 5;
  for (int i = 0; i < kWrites; ++i) write("item " + std::to_string(i));
  auto expected = [&] {
    std::vector<long> out;
    for (long s = first; s <= first + kWrites; ++s) out.push_back(s);
    return out;
  }();
  ASSERT_TRUE(eventually([&] { return seqs().size() >= expected.size(); }, 10s))
      << slurp(dir_ / "stream.out");
  EXPECT_EQ(seqs(), expected) << "each event once, in order";

  // The operator routes are refused at the front door, even to a local client.
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", url("/metrics")}), "403");
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", url("/api/v1/admin/pool")}), "403");
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", url("/api/v1/monitor/sites")}), "403");
}

// An SSE client through the front door that, whenever its stream ends
// (a node drains and says `retry:`), connects again with the Last-Event-ID
// of the last event it got, as a browser's EventSource does. Each
// connection is one curl process; the seqs of all of them, in order of
// arrival, are kept.
class resuming_stream {
 public:
  resuming_stream(fs::path dir, std::string url, std::string bearer)
      : dir_(std::move(dir)), url_(std::move(url)), bearer_(std::move(bearer)) {
    thread_ = std::thread([this] { run(); });
  }
  ~resuming_stream() {
    stop_ = true;
    thread_.join();
  }
  std::vector<long> seqs() const {
    std::lock_guard lock(mutex_);
    return seqs_;
  }
  int connections() const { return connections_; }
  bool connected() const { return connected_; }

 private:
  // The complete frames of `text` after the first `done` ones: their
  // change seqs and the last `id:`.
  void take(const std::string& text, std::size_t& done) {
    std::size_t frames = 0, pos = 0;
    static const std::regex seq("\"seq\":([0-9]+)");
    for (auto end = text.find("\n\n", pos); end != std::string::npos;
         pos = end + 2, end = text.find("\n\n", pos)) {
      if (++frames <= done) continue;
      const auto frame = text.substr(pos, end - pos);
      if (frame.find("retry:") != std::string::npos) connected_ = true;
      std::smatch m;
      if (frame.find("event: change") == std::string::npos || !std::regex_search(frame, m, seq))
        continue;
      std::lock_guard lock(mutex_);
      seqs_.push_back(std::stol(m[1].str()));
      const auto id_at = frame.find("id: ");
      if (id_at != std::string::npos)
        last_id_ = frame.substr(id_at + 4, frame.find('\n', id_at) - id_at - 4);
    }
    done = frames;
  }

  void run() {
    while (!stop_) {
      const auto out = dir_ / ("stream-" + std::to_string(++connections_) + ".out");
      std::vector<std::string> argv{"curl",       "-sS", "-k", "--http2", "-N",
                                    "--max-time", "300", "-H", bearer_};
      {
        std::lock_guard lock(mutex_);
        if (!last_id_.empty()) {
          argv.push_back("-H");
          argv.push_back("Last-Event-ID: " + last_id_);
        }
      }
      argv.push_back(url_);
      storage::spawn_options o;
      o.log_file = out.string();
      const auto pid = storage::spawn_process(argv, o);
      std::size_t done = 0;
      bool exited = false;
      while (!stop_ && !exited) {
        // The wait doubles as the poll interval.
        exited = storage::wait_process(pid, 50ms).has_value();
        take(slurp(out), done);
      }
      if (!exited) {
        ::kill(pid, SIGKILL);
        storage::wait_process(pid, 10s);
      }
    }
  }

  fs::path dir_;
  std::string url_, bearer_;
  mutable std::mutex mutex_;
  std::vector<long> seqs_;
  std::string last_id_;
  std::atomic<int> connections_{0};
  std::atomic<bool> connected_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(HAProxyFront, a_rolling_restart_under_load_loses_and_duplicates_nothing) {
  const auto acct = account_with_household("rolling");
  resuming_stream stream(dir_, url("/api/v1/sse"), acct.bearer);
  ASSERT_TRUE(eventually([&] { return stream.connected(); }, 10s));

  // One write, retried with the same Idempotency-Key on 503, a bad gateway
  // or a broken connection, until it is answered 201. Returns the tries.
  std::atomic<int> retries{0};
  auto write = [&](const std::string& name) {
    auto key = "rolling-" + name;
    std::replace(key.begin(), key.end(), ' ', '-');
    for (int attempt = 1; attempt <= 100; ++attempt) {
      const auto res =
          curl({"-H", acct.bearer, "-H", "Content-Type: application/json", "-H",
                "Idempotency-Key: " + key, "-d",
                json::serialize(json::object{{"authHouseholdID", acct.household}, {"name", name}}),
                "-w", "\n%{http_code}", url("/api/v1/shop/items")});
      const auto code = res.substr(res.rfind('\n') + 1);
      if (code == "201") return true;
      if (code != "000" && code != "502" && code != "503" && code != "504") {
        ADD_FAILURE() << "write " << name << ": " << res;
        return false;
      }
      ++retries;
      std::this_thread::sleep_for(100ms);  // a retry pause (not a wait for a state)
    }
    ADD_FAILURE() << "write " << name << " never succeeded";
    return false;
  };
  // The stream attaches to the household shortly after its first bytes:
  // write until it sees an event.
  int written = 0;
  for (int i = 0; i < 20 && stream.seqs().empty(); ++i) {
    ASSERT_TRUE(write("warm-up " + std::to_string(written++)));
    eventually([&] { return !stream.seqs().empty(); }, 500ms);
  }
  ASSERT_FALSE(stream.seqs().empty());
  const long first = stream.seqs().front();

  // Writes go on while every node in turn drains, stops and starts again.
  std::atomic<bool> restarted{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    for (int i = 0; i < 100'000 && !restarted; ++i)
      if (write("w" + std::to_string(i))) ++writes;
  });
  // One round in CI; ROLLING_RESTART_ROUNDS=N for a longer run.
  const char* rounds_env = std::getenv("ROLLING_RESTART_ROUNDS");
  const int rounds = rounds_env ? std::max(1, std::atoi(rounds_env)) : 1;
  for (int round = 0; round < rounds; ++round)
    for (const auto& name : cluster_->names()) {
      ASSERT_EQ(cluster_->terminate(name), 0) << name << " did not stop cleanly";
      cluster_->restart(name);
      ASSERT_TRUE(cluster_->wait_linked(20s)) << cluster_->describe();
    }
  restarted = true;
  writer.join();
  ASSERT_FALSE(HasFailure());
  ASSERT_GT(writes.load(), 0);

  // Every write committed exactly once...
  pqxx::connection db{cluster_->database_url()};
  pqxx::nontransaction tx{db};
  const auto rows = tx.exec_params1(
      "SELECT count(*), count(DISTINCT name) FROM shop_item WHERE auth_household_id = $1",
      acct.household);
  EXPECT_EQ(rows[0].as<long>(), written + writes) << "rows: one per acknowledged write";
  EXPECT_EQ(rows[1].as<long>(), rows[0].as<long>()) << "a write committed twice";
  const auto head =
      tx.exec_params1("SELECT event_seq FROM auth_household WHERE id = $1", acct.household)[0]
          .as<long>();
  // ...and on the stream, across its resumes, every event once and in order.
  std::vector<long> expected;
  for (long seq = first; seq <= head; ++seq) expected.push_back(seq);
  EXPECT_TRUE(eventually([&] { return stream.seqs().size() >= expected.size(); }, 15s));
  EXPECT_EQ(stream.seqs(), expected);
  EXPECT_GE(stream.connections(), 2) << "the stream never had to resume";
  std::cout << rounds << " rolling restart(s) of " << cluster_->names().size()
            << " nodes: " << writes << " writes (" << retries << " retries), "
            << stream.seqs().size() << " events on a stream that connected " << stream.connections()
            << " times, lost 0\n";
}

}  // namespace
}  // namespace hearth::testing
