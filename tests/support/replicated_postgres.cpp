#include "tests/support/replicated_postgres.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string url_of(std::uint16_t port, const std::string& db) {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/" + db;
}

// Polls `check` every 50 ms until it holds (a throw counts as not yet) or
// `timeout` passes.
bool poll_until(const std::function<bool()>& check, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    try {
      if (check()) return true;
    } catch (const std::exception&) {
      // not up yet
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

// The processes whose parent is `pid` (from /proc).
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

}  // namespace

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

replicated_postgres::replicated_postgres() : bin_(postgres_bin_dir()) {
  char templ[] = "/tmp/hfoXXXXXX";
  if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp");
  root_ = templ;
  if (::geteuid() == 0) as_server_.run_as = "postgres";
  make_owned_dir(root_);  // the servers write their logs here
  ::chmod(root_.c_str(), 0755);
  as_server_.work_dir = "/";
  as_server_.log_file = (root_ / "tools.log").string();
  ports_[0] = free_port();
  ports_[1] = free_port();
  while (ports_[1] == ports_[0]) ports_[1] = free_port();
  make_owned_dir(root_ / "sock0");
  make_owned_dir(root_ / "sock1");

  make_owned_dir(dir(0));
  run({bin("initdb"), "-D", dir(0), "-U", "postgres", "-A", "trust", "-E", "UTF8",
       "--locale=C.UTF-8", "--no-sync"});
  append_conf(0);
  start(0);
  {
    pqxx::connection conn{url_of(ports_[0], "postgres")};
    pqxx::nontransaction tx{conn};
    tx.exec("CREATE DATABASE hearth");
  }
  rebuild_standby();
}

replicated_postgres::~replicated_postgres() {
  for (int server : {0, 1}) {
    try {
      storage::run_process(
          {bin("pg_ctl"), "-D", dir(server), "-m", "immediate", "-w", "-t", "30", "stop"},
          as_server_, std::chrono::seconds(60));
    } catch (...) {
    }
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::string replicated_postgres::hearth_url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(ports_[0]) +
         ",127.0.0.1:" + std::to_string(ports_[1]) +
         "/hearth?target_session_attrs=read-write&connect_timeout=2";
}

std::string replicated_postgres::primary_url() const { return url_of(ports_[primary_], "hearth"); }

std::string replicated_postgres::standby_url() const {
  return url_of(ports_[1 - primary_], "hearth");
}

void replicated_postgres::kill_primary() {
  std::ifstream pid_file(fs::path(dir(primary_)) / "postmaster.pid");
  pid_t pid = 0;
  pid_file >> pid;
  if (pid <= 0) throw std::runtime_error("no primary postmaster.pid");
  auto children = children_of(pid);
  ::kill(pid, SIGKILL);
  for (pid_t child : children) ::kill(child, SIGKILL);
  if (!poll_until([&] { return ::kill(pid, 0) != 0; }, 10s))
    throw std::runtime_error("the primary survived kill -9");
}

void replicated_postgres::promote_standby() {
  const int standby = 1 - primary_;
  run({bin("pg_ctl"), "-D", dir(standby), "-w", "-t", "60", "promote"});
  primary_ = standby;
  // Copied from the old primary by pg_basebackup, the setting would make
  // every commit wait for a standby that does not exist yet.
  pqxx::connection conn{url_of(ports_[primary_], "postgres")};
  pqxx::nontransaction tx{conn};
  tx.exec("ALTER SYSTEM RESET synchronous_standby_names");
  tx.exec("SELECT pg_reload_conf()");
}

void replicated_postgres::rebuild_standby() {
  const int standby = 1 - primary_;
  try {  // whatever is left of the old server (kill_primary leaves nothing running)
    storage::run_process(
        {bin("pg_ctl"), "-D", dir(standby), "-m", "immediate", "-w", "-t", "30", "stop"},
        as_server_, std::chrono::seconds(60));
  } catch (...) {
  }
  std::error_code ec;
  fs::remove_all(dir(standby), ec);
  make_owned_dir(dir(standby));
  run({bin("pg_basebackup"), "-h", "127.0.0.1", "-p", std::to_string(ports_[primary_]), "-U",
       "postgres", "-D", dir(standby), "-R", "-X", "stream", "-c", "fast", "--no-sync"});
  append_conf(standby);
  start(standby);
  // From now on a commit on the primary waits for the standby's flush.
  {
    pqxx::connection conn{url_of(ports_[primary_], "postgres")};
    pqxx::nontransaction tx{conn};
    tx.exec("ALTER SYSTEM SET synchronous_standby_names = '*'");
    tx.exec("SELECT pg_reload_conf()");
  }
  wait_synchronous();
}

void replicated_postgres::crash_and_restart_primary(std::chrono::milliseconds down) {
  run({bin("pg_ctl"), "-D", dir(primary_), "-m", "immediate", "-w", "-t", "60", "stop"});
  std::this_thread::sleep_for(down);  // the length of the outage (fault timing)
  start(primary_);
  wait_synchronous();
}

std::string replicated_postgres::logs() const {
  std::string out;
  for (const char* name : {"server0.log", "server1.log", "tools.log"}) {
    std::ifstream in(root_ / name);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (text.size() > 3000) text = text.substr(text.size() - 3000);
    out += "\n---- " + std::string(name) + " ----\n" + text;
  }
  return out;
}

std::string replicated_postgres::bin(const char* name) const { return (bin_ / name).string(); }

std::string replicated_postgres::dir(int server) const {
  return (root_ / ("data" + std::to_string(server))).string();
}

void replicated_postgres::make_owned_dir(const fs::path& d) const {
  fs::create_directories(d);
  if (!as_server_.run_as.empty()) {
    auto ids = storage::lookup_user(as_server_.run_as);
    if (!ids || ::chown(d.c_str(), ids->uid, ids->gid) != 0)
      throw std::runtime_error("cannot chown " + d.string());
  }
  ::chmod(d.c_str(), 0700);
}

void replicated_postgres::append_conf(int server) const {
  std::ofstream conf(fs::path(dir(server)) / "postgresql.conf", std::ios::app);
  conf << "\nlisten_addresses = '127.0.0.1'\nport = " << ports_[server]
       << "\nunix_socket_directories = '" << (root_ / ("sock" + std::to_string(server))).string()
       << "'\nfsync = off\nmax_connections = 100\nwal_keep_size = '256MB'\n";
}

void replicated_postgres::run(const std::vector<std::string>& argv) const {
  int code = storage::run_process(argv, as_server_, std::chrono::seconds(120));
  if (code != 0)
    throw std::runtime_error(argv.front() + " failed with exit code " + std::to_string(code) +
                             logs());
}

void replicated_postgres::start(int server) const {
  run({bin("pg_ctl"), "-D", dir(server), "-l",
       (root_ / ("server" + std::to_string(server) + ".log")).string(), "-w", "-t", "60", "start"});
}

void replicated_postgres::wait_synchronous() const {
  const bool sync = poll_until(
      [&] {
        pqxx::connection conn{url_of(ports_[primary_], "postgres")};
        pqxx::nontransaction tx{conn};
        return !tx.exec("SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'").empty();
      },
      30s);
  if (!sync) throw std::runtime_error("the standby never became synchronous" + logs());
}

}  // namespace hearth::testing
