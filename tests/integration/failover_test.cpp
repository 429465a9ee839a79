// Database primary failover (issue: survive every fault we can cause).
//
// On loopback: a primary and a synchronous streaming standby made with
// pg_basebackup, hearth configured with a libpq host list and
// target_session_attrs=read-write, writers and an SSE subscriber running;
// then kill -9 of every primary process (as if its host died) and
// `pg_ctl promote` of the standby. Checks: writes resume within 5 s of the
// promotion, no acknowledged write is lost, the stream delivers every
// event exactly once in seq order, and the leader is elected again (a new
// term) on the new primary.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/process.hpp"
#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

/// Newest /usr/lib/postgresql/<major>/bin.
fs::path postgres_bin_dir() {
  fs::path best;
  int best_major = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int major = std::atoi(entry.path().filename().c_str());
    if (major > best_major && fs::exists(entry.path() / "bin" / "pg_ctl")) {
      best_major = major;
      best = entry.path() / "bin";
    }
  }
  if (best.empty()) throw std::runtime_error("no PostgreSQL under /usr/lib/postgresql");
  return best;
}

/// A TCP port on 127.0.0.1 free at the time of asking.
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// The processes whose parent is `pid` (from /proc).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

/// A primary and its synchronous standby, in a temporary directory, both
/// listening on 127.0.0.1 (trust authentication: loopback test only).
class replicated_postgres {
 public:
  replicated_postgres() : bin_(postgres_bin_dir()) {
    char templ[] = "/tmp/hfoXXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp");
    root_ = templ;
    if (::geteuid() == 0) as_server_.run_as = "postgres";
    make_owned_dir(root_);  // the server writes its logs here
    ::chmod(root_.c_str(), 0755);
    as_server_.work_dir = "/";
    as_server_.log_file = (root_ / "tools.log").string();
    primary_port_ = free_port();
    standby_port_ = free_port();
    while (standby_port_ == primary_port_) standby_port_ = free_port();

    make_owned_dir(root_ / "primary");
    make_owned_dir(root_ / "sock1");
    make_owned_dir(root_ / "sock2");
    run({bin("initdb"), "-D", primary_dir(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--locale=C.UTF-8", "--no-sync"});
    append_conf(primary_dir(), primary_port_, root_ / "sock1");
    run({bin("pg_ctl"), "-D", primary_dir(), "-l", (root_ / "primary.log").string(), "-w", "-t",
         "60", "start"});
    {
      pqxx::connection conn{url_of(primary_port_, "postgres")};
      pqxx::nontransaction tx{conn};
      tx.exec("CREATE DATABASE hearth");
    }
    make_owned_dir(root_ / "standby");
    run({bin("pg_basebackup"), "-h", "127.0.0.1", "-p", std::to_string(primary_port_), "-U",
         "postgres", "-D", standby_dir(), "-R", "-X", "stream", "-c", "fast", "--no-sync"});
    append_conf(standby_dir(), standby_port_, root_ / "sock2");
    run({bin("pg_ctl"), "-D", standby_dir(), "-l", (root_ / "standby.log").string(), "-w", "-t",
         "60", "start"});
    // From now on a commit on the primary waits for the standby's flush.
    {
      pqxx::connection conn{url_of(primary_port_, "postgres")};
      pqxx::nontransaction tx{conn};
      tx.exec("ALTER SYSTEM SET synchronous_standby_names = '*'");
      tx.exec("SELECT pg_reload_conf()");
    }
    bool sync = eventually(
        [&] {
          pqxx::connection conn{url_of(primary_port_, "postgres")};
          pqxx::nontransaction tx{conn};
          auto r = tx.exec("SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'");
          return !r.empty();
        },
        30s);
    if (!sync) throw std::runtime_error("the standby never became synchronous" + logs());
  }

  ~replicated_postgres() {
    for (const auto& dir : {primary_dir(), standby_dir()}) {
      try {
        storage::run_process(
            {bin("pg_ctl"), "-D", dir, "-m", "immediate", "-w", "-t", "30", "stop"}, as_server_,
            std::chrono::seconds(60));
      } catch (...) {
      }
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  /// The libpq URI hearth is given: both hosts, the read-write one wins.
  std::string hearth_url() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(primary_port_) +
           ",127.0.0.1:" + std::to_string(standby_port_) +
           "/hearth?target_session_attrs=read-write&connect_timeout=2";
  }
  std::string standby_url() const { return url_of(standby_port_, "hearth"); }

  /// kill -9 of the primary's postmaster and every process it started, as
  /// when its host dies; returns once the postmaster is gone.
  void kill_primary() {
    std::ifstream pid_file(fs::path(primary_dir()) / "postmaster.pid");
    pid_t pid = 0;
    pid_file >> pid;
    if (pid <= 0) throw std::runtime_error("no primary postmaster.pid");
    auto children = children_of(pid);
    ::kill(pid, SIGKILL);
    for (pid_t child : children) ::kill(child, SIGKILL);
    bool gone = eventually([&] { return ::kill(pid, 0) != 0; }, 10s);
    if (!gone) throw std::runtime_error("the primary survived kill -9");
  }

  void promote_standby() { run({bin("pg_ctl"), "-D", standby_dir(), "-w", "-t", "60", "promote"}); }

  std::string logs() const {
    std::string out;
    for (const char* name : {"primary.log", "standby.log", "tools.log"}) {
      std::ifstream in(root_ / name);
      std::string text((std::istreambuf_iterator<char>(in)), {});
      if (text.size() > 3000) text = text.substr(text.size() - 3000);
      out += "\n---- " + std::string(name) + " ----\n" + text;
    }
    return out;
  }

 private:
  fs::path bin_;
  fs::path root_;
  storage::spawn_options as_server_;
  std::uint16_t primary_port_ = 0;
  std::uint16_t standby_port_ = 0;

  std::string bin(const char* name) const { return (bin_ / name).string(); }
  std::string primary_dir() const { return (root_ / "primary").string(); }
  std::string standby_dir() const { return (root_ / "standby").string(); }

  static std::string url_of(std::uint16_t port, const std::string& db) {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/" + db;
  }

  void make_owned_dir(const fs::path& dir) const {
    fs::create_directories(dir);
    if (!as_server_.run_as.empty()) {
      auto ids = storage::lookup_user(as_server_.run_as);
      if (!ids || ::chown(dir.c_str(), ids->uid, ids->gid) != 0) {
        throw std::runtime_error("cannot chown " + dir.string());
      }
    }
    ::chmod(dir.c_str(), 0700);
  }

  void append_conf(const std::string& data_dir, std::uint16_t port, const fs::path& sock) const {
    std::ofstream conf(fs::path(data_dir) / "postgresql.conf", std::ios::app);
    conf << "\nlisten_addresses = '127.0.0.1'\nport = " << port << "\nunix_socket_directories = '"
         << sock.string() << "'\nfsync = off\nmax_connections = 100\nwal_keep_size = '256MB'\n";
  }

  void run(const std::vector<std::string>& argv) const {
    int code = storage::run_process(argv, as_server_, std::chrono::seconds(120));
    if (code != 0) {
      throw std::runtime_error(argv.front() + " failed with exit code " + std::to_string(code) +
                               logs());
    }
  }
};

/// Counts the rows of `ids` present in ShopItem on the database at `url`.
std::set<std::string> present_items(const std::string& url, const std::string& household) {
  pqxx::connection conn{url};
  pqxx::read_transaction tx{conn};
  std::set<std::string> out;
  for (const auto& row :
       tx.exec_params("SELECT id::text FROM shop_item WHERE auth_household_id = $1", household)) {
    out.insert(row[0].as<std::string>());
  }
  return out;
}

class failover : public hearth_test {
 protected:
  void SetUp() override {
    pg_ = std::make_unique<replicated_postgres>();
    hearth_ = std::make_unique<hearth_process>(
        std::map<std::string, std::string>{{"HEARTH_DATABASE_URL", pg_->hearth_url()}});
    http_ = std::make_unique<http_client>(port());
  }
  void TearDown() override {
    if (HasFailure() && pg_) std::cerr << pg_->logs() << "\n";
    hearth_test::TearDown();
    pg_.reset();
  }
  std::unique_ptr<replicated_postgres> pg_;
};

/// The term in the node's health answer (0 when absent).
std::int64_t health_term(http_client& http) {
  auto res = http.request("GET", "/api/v1/health");
  if (res.status != 200) return 0;
  try {
    const auto health = first_value(res);
    const auto& c = health.at("cluster").as_object();
    if (c.contains("term") && c.at("term").is_int64()) return c.at("term").as_int64();
  } catch (const std::exception&) {
  }
  return 0;
}

bool health_leading(http_client& http) {
  auto res = http.request("GET", "/api/v1/health");
  if (res.status != 200) return false;
  try {
    const auto health = first_value(res);
    const auto& v = health.at("cluster").as_object();
    return v.contains("leading") && v.at("leading").is_bool() && v.at("leading").as_bool();
  } catch (const std::exception&) {
    return false;
  }
}

TEST_F(failover, a_promoted_standby_takes_over_with_no_acknowledged_write_lost) {
  auto user = new_user("failover");
  const auto household = create_household(user.key, "Failover house");
  ASSERT_TRUE(eventually([&] { return health_leading(http()); }, 15s)) << "no leader at start";
  const auto term_before = health_term(http());
  ASSERT_GT(term_before, 0);

  auto sse = open_sse(user.key);

  // Two writers, each on its own connection, until told to stop (bounded).
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::vector<clock_type::time_point> ack_times;
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  auto writer = [&](int n) {
    http_client client(port());
    for (int i = 0; i < 5000 && !stop.load(); ++i) {
      http_response res;
      try {
        res = client.request_as(user.key, "POST", "/api/v1/shop/items",
                                json::serialize(json::object{
                                    {"authHouseholdID", household},
                                    {"name", "w" + std::to_string(n) + "-" + std::to_string(i)}}));
      } catch (const std::exception&) {
        ++failed;
        continue;
      }
      if (res.status == 201) {
        std::lock_guard lock(mutex);
        acknowledged.insert(str(first_value(res), "id"));
        ack_times.push_back(clock_type::now());
      } else {
        ++failed;
        std::this_thread::sleep_for(20ms);  // pacing of retries, not synchronisation
      }
    }
  };
  std::thread w1(writer, 1), w2(writer, 2);
  auto acked = [&] {
    std::lock_guard lock(mutex);
    return acknowledged.size();
  };
  ASSERT_TRUE(eventually([&] { return acked() >= 40; }, 20s));

  pg_->kill_primary();
  const auto killed_acks = acked();
  pg_->promote_standby();
  const auto promoted_at = clock_type::now();

  // Writes resume within 5 s of the promotion.
  bool resumed = eventually(
      [&] {
        std::lock_guard lock(mutex);
        return std::any_of(ack_times.begin(), ack_times.end(),
                           [&](auto t) { return t > promoted_at; });
      },
      30s);
  ASSERT_TRUE(resumed) << "no write succeeded after the promotion; failed=" << failed;
  clock_type::time_point first_after{};
  {
    std::lock_guard lock(mutex);
    for (auto t : ack_times) {
      if (t > promoted_at && (first_after == clock_type::time_point{} || t < first_after)) {
        first_after = t;
      }
    }
  }
  const auto resume_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(first_after - promoted_at).count();
  EXPECT_LE(resume_ms, 5000) << "writes resumed " << resume_ms << " ms after the promotion";
  ASSERT_TRUE(eventually([&] { return acked() >= killed_acks + 40; }, 20s));
  stop = true;
  w1.join();
  w2.join();

  // No acknowledged write lost: every one is on the new primary.
  const auto present = present_items(pg_->standby_url(), household);
  std::size_t lost = 0;
  for (const auto& id : acknowledged) lost += present.count(id) == 0 ? 1 : 0;
  EXPECT_EQ(lost, 0u) << "of " << acknowledged.size() << " acknowledged writes";

  // The stream: every created row exactly once, seq strictly increasing.
  // A stream the server ends is resumed with Last-Event-ID, as EventSource does.
  std::map<std::string, int> seen;
  std::int64_t last_seq = 0;
  std::string last_id;
  int resyncs = 0, reconnects = 0;
  const auto deadline = clock_type::now() + 30s;
  while (clock_type::now() < deadline) {
    bool all = std::all_of(present.begin(), present.end(),
                           [&](const std::string& id) { return seen.count(id) != 0; });
    if (all) break;
    auto ev = sse->next(500ms);
    if (!ev) {
      if (sse->closed()) {
        ++reconnects;
        ASSERT_LE(reconnects, 20);
        std::map<std::string, std::string> headers;
        if (!last_id.empty()) headers["Last-Event-ID"] = last_id;
        try {
          sse = open_sse(user.key, headers);
        } catch (const std::exception&) {
          std::this_thread::sleep_for(100ms);  // the server refused: retry pacing
        }
      }
      continue;
    }
    if (!ev->id.empty()) last_id = ev->id;
    if (ev->event == "resync") ++resyncs;
    if (ev->event != "change") continue;
    auto data = change_data(*ev);
    if (str(data, "authHouseholdID") != household || str(data, "table") != "shop_item") continue;
    auto seq = data.at("seq").to_number<std::int64_t>();
    EXPECT_GT(seq, last_seq) << "events out of seq order";
    last_seq = seq;
    if (str(data, "operation") == "create") ++seen[str(data, "id")];
  }
  EXPECT_EQ(resyncs, 0) << "a resync means events were not all delivered";
  std::size_t missing = 0, duplicated = 0;
  for (const auto& id : present) missing += seen.count(id) == 0 ? 1 : 0;
  for (const auto& [id, count] : seen) duplicated += count > 1 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "of " << present.size() << " rows, none missing from the stream";
  EXPECT_EQ(duplicated, 0u);

  // The leader is elected again, in a newer term, on the new primary.
  EXPECT_TRUE(
      eventually([&] { return health_leading(http()) && health_term(http()) > term_before; }, 20s))
      << "term before " << term_before << ", now " << health_term(http());

  std::cerr << "failover: " << acknowledged.size() << " writes acknowledged (" << killed_acks
            << " before the kill), " << failed << " refused or failed, writes resumed " << resume_ms
            << " ms after the promotion, " << reconnects << " stream reconnects\n";
}

}  // namespace
}  // namespace hearth::testing
