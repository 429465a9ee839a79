// Embedded PostgreSQL cluster (see embedded_postgres.hpp).
//
// Layout:
//   <data_dir>/postgres       PGDATA (or a symlink to it, see below)
//   <data_dir>/postgres.log   output of initdb / pg_ctl (opened by hearth)
//   <PGDATA>/server.log       the server's own log (pg_ctl -l; written by the
//                             server user, so it lives inside PGDATA)
//   <data_dir>/run            private unix socket directory (mode 0700, owned
//                             by the server user; removed at the last stop),
//                             so that an operator's `hearth backup` reaches a
//                             service with a private /tmp. When PGDATA lives
//                             elsewhere (below) or that path is too long for
//                             a unix socket (107 bytes), /tmp/hearth-pg-<hash>
//                             instead, <hash> being 16 hex digits of FNV-1a
//                             of the PGDATA path. A server that is already
//                             running is joined at the directory it recorded
//                             in postmaster.pid. Every cluster has its own
//                             directory, so all of them can use port 5432.
//
// Running as root: initdb refuses to run as root, so initdb, pg_ctl and the
// server run as the `postgres` system user and PGDATA is owned by it. That
// user must be able to traverse every directory above PGDATA. When it cannot
// (typically a checkout under /root, mode 0700), the cluster is placed at
//   /var/lib/hearth/clusters/<16 hex of FNV-1a of the absolute data_dir>
// (owned by postgres) and <data_dir>/postgres becomes a symlink to it, so the
// data still survives restarts and the data dir still says where it lives.
// An existing <data_dir>/postgres (directory or symlink) is always reused.
// Directories that hearth creates above PGDATA get mode 0755 in that case.
//
// Restarts: a server still running from an earlier, killed hearth (pg_ctl
// status says running) is adopted and stopped by us later: hearth owns this
// cluster. Several hearth processes may share one cluster (a local cluster of
// nodes, `hearth cluster status`): each holds a shared flock on
// <data_dir>/hearth.lock and only the last one to stop stops the server; a
// killed process's lock goes away with it. A stale postmaster.pid / socket lock file is removed
// before `pg_ctl status` when its pid is dead, a zombie (a killed postmaster whose parent, e.g. a
// container's pid 1, does not reap it: kill(pid, 0) still succeeds, so pg_ctl would report it
// running), or a live process whose working directory is not this cluster (pid reuse after a
// container restart; PostgreSQL refuses to start when such a process belongs to its own user).

#include "storage/embedded_postgres.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "storage/process.hpp"

namespace hearth::storage {
namespace fs = std::filesystem;

namespace {

constexpr const char* kServerUser = "postgres";
constexpr const char* kFallbackRoot = "/var/lib/hearth/clusters";
constexpr int kPort = 5432;
// A unix socket's path holds at most 107 bytes (sun_path); PostgreSQL adds
// "/.s.PGSQL.5432" to the directory.
constexpr std::size_t kMaxSocketDirLength = 90;

std::string hash_hex16(const std::string& text) {
  std::uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

/// The last `count` lines of a file ("" when unreadable).
std::string tail_lines(const fs::path& path, std::size_t count) {
  std::ifstream in(path);
  if (!in) return {};
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(std::move(line));
    if (lines.size() > count) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string log_excerpt(const fs::path& path) {
  std::string tail = tail_lines(path, 30);
  if (tail.empty()) return {};
  return "\n--- last lines of " + path.string() + " ---\n" + tail;
}

fs::path find_bin_dir() { return postgres_bin_dir(); }

}  // namespace

fs::path postgres_bin_dir() {
  const fs::path root = "/usr/lib/postgresql";
  std::optional<std::pair<std::pair<int, int>, fs::path>> best;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    int major = 0, minor = 0;
    std::string name = entry.path().filename().string();
    if (std::sscanf(name.c_str(), "%d.%d", &major, &minor) < 1) continue;
    fs::path bin = entry.path() / "bin";
    if (::access((bin / "initdb").c_str(), X_OK) != 0) continue;
    auto version = std::make_pair(major, minor);
    if (!best || version > best->first) best.emplace(version, bin);
  }
  if (!best) {
    throw std::runtime_error(
        "embedded PostgreSQL: no server binaries found under /usr/lib/postgresql/*/bin "
        "(install the 'postgresql' package, or configure HEARTH_DATABASE_URL)");
  }
  return best->second;
}

namespace {

/// Whether `ids` may search (traverse) every existing directory of `path`,
/// judged from the mode bits (owner, group incl. supplementary groups, other).
/// Components that do not exist yet are created by hearth with mode 0755.
bool can_traverse(const fs::path& path, const std::string& user, const user_ids& ids) {
  if (ids.uid == 0) return true;
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  while (::getgrouplist(user.c_str(), ids.gid, groups.data(), &count) < 0) {
    if (count <= static_cast<int>(groups.size())) count = static_cast<int>(groups.size()) * 2;
    groups.resize(static_cast<std::size_t>(count));
  }
  groups.resize(static_cast<std::size_t>(count));

  fs::path current;
  for (const auto& part : path) {
    current /= part;
    struct stat st {};
    if (::stat(current.c_str(), &st) != 0) return true;  // created by us later
    if (!S_ISDIR(st.st_mode)) return false;
    mode_t bit;
    if (st.st_uid == ids.uid) {
      bit = S_IXUSR;
    } else if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) {
      bit = S_IXGRP;
    } else {
      bit = S_IXOTH;
    }
    if (!(st.st_mode & bit)) return false;
  }
  return true;
}

/// create_directories, giving the directories it creates mode `mode` (when set).
void create_dirs(const fs::path& path, std::optional<fs::perms> mode) {
  fs::path current;
  for (const auto& part : path) {
    current /= part;
    std::error_code ec;
    if (fs::is_directory(current, ec)) continue;
    if (!fs::create_directory(current, ec) && ec) {
      throw std::runtime_error("embedded PostgreSQL: cannot create directory " + current.string() +
                               ": " + ec.message());
    }
    if (mode) fs::permissions(current, *mode, fs::perm_options::replace, ec);
  }
}

void chown_or_throw(const fs::path& path, const user_ids& owner) {
  if (::chown(path.c_str(), owner.uid, owner.gid) != 0) {
    throw std::runtime_error("embedded PostgreSQL: cannot chown " + path.string() + ": " +
                             std::strerror(errno));
  }
}

/// mkdir 0700 owned by `owner`; an existing one must be a real directory of
/// that owner (it sits in /tmp, where anybody could have created it first).
void ensure_private_dir(const fs::path& dir, const user_ids& owner) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    if (::geteuid() != owner.uid) chown_or_throw(dir, owner);
  } else if (errno != EEXIST) {
    throw std::runtime_error("embedded PostgreSQL: cannot create socket directory " + dir.string() +
                             ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != owner.uid) {
    throw std::runtime_error("embedded PostgreSQL: socket directory " + dir.string() +
                             " exists but is not a directory owned by uid " +
                             std::to_string(owner.uid) + "; remove it");
  }
  if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
    throw std::runtime_error("embedded PostgreSQL: cannot chmod " + dir.string() + ": " +
                             std::strerror(errno));
  }
}

/// The socket directory a running server recorded in postmaster.pid (its
/// fifth line: the first of unix_socket_directories), or nullopt.
std::optional<fs::path> recorded_socket_dir(const fs::path& cluster_dir) {
  std::ifstream in(cluster_dir / "postmaster.pid");
  std::string line;
  for (int i = 1; i <= 5 && std::getline(in, line); ++i)
    if (i == 5 && !line.empty()) return fs::path(line);
  return std::nullopt;
}

/// The pid on the first line of a PostgreSQL lock file, or 0.
pid_t lock_file_pid(const fs::path& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return static_cast<pid_t>(pid);
}

/// Whether `pid` may be the postmaster of `cluster`: alive and its working
/// directory is the cluster (the postmaster chdirs into PGDATA). A zombie has
/// no /proc/<pid>/cwd (ENOENT), so it counts as dead. When /proc cannot tell
/// (e.g. EACCES), assume yes and let pg_ctl/PostgreSQL decide.
bool may_be_postmaster_of(pid_t pid, const fs::path& cluster) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  if (pid == ::getpid()) return false;
  std::error_code ec;
  fs::path cwd = fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec);
  if (ec) return ec != std::errc::no_such_file_or_directory;
  fs::path real_cluster = fs::canonical(cluster, ec);
  if (ec) return true;
  return cwd == real_cluster;
}

std::string percent_encode(const std::string& text, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Who runs the server: `run_as` (when we are root), else ourselves.
user_ids server_owner(const std::string& run_as) {
  user_ids owner{::geteuid(), ::getegid()};
  if (!run_as.empty()) {
    auto ids = lookup_user(run_as);
    if (!ids) {
      throw std::runtime_error(
          "embedded PostgreSQL: running as root, but there is no '" + run_as +
          "' system user to run PostgreSQL as (install the 'postgresql' package, run hearth "
          "as a normal user, or configure HEARTH_DATABASE_URL)");
    }
    owner = *ids;
  }
  return owner;
}

/// A relocated cluster: its parent directories, and <data_dir>/postgres as
/// a symlink to it.
void link_relocated_cluster(const fs::path& cluster_dir, const fs::path& in_place) {
  std::error_code ec;
  create_dirs(cluster_dir.parent_path(), fs::perms(0755));
  if (!fs::is_symlink(in_place, ec)) {
    fs::create_directory_symlink(cluster_dir, in_place, ec);
    if (ec) {
      throw std::runtime_error("embedded PostgreSQL: cannot create symlink " + in_place.string() +
                               " -> " + cluster_dir.string() + ": " + ec.message());
    }
  }
}

/// initdb on first use.
void run_initdb(const fs::path& bin, const fs::path& cluster_dir, bool throwaway,
                const spawn_options& as_server, const fs::path& tools_log) {
  std::vector<std::string> argv = {(bin / "initdb").string(),
                                   "-D",
                                   cluster_dir.string(),
                                   "-U",
                                   "postgres",
                                   "-A",
                                   "trust",
                                   "-E",
                                   "UTF8",
                                   "--locale=C.UTF-8"};
  if (throwaway) argv.push_back("--no-sync");
  int code = run_process(argv, as_server);
  if (code != 0) {
    throw std::runtime_error("embedded PostgreSQL: initdb failed with exit code " +
                             std::to_string(code) + log_excerpt(tools_log));
  }
}

/// Removes stale lock files whose pid now belongs to an unrelated process.
void remove_stale_locks(const fs::path& cluster_dir, const fs::path& socket_dir) {
  std::error_code ec;
  for (const fs::path& lock : {cluster_dir / "postmaster.pid",
                               socket_dir / (".s.PGSQL." + std::to_string(kPort) + ".lock")}) {
    if (!fs::exists(lock, ec)) continue;
    if (!may_be_postmaster_of(lock_file_pid(lock), cluster_dir)) {
      fs::remove(lock, ec);
      if (lock.filename() != "postmaster.pid") {
        fs::remove(socket_dir / (".s.PGSQL." + std::to_string(kPort)), ec);
      }
    }
  }
}

/// pg_ctl start: the server on a unix socket in `socket_dir` only.
void start_server(const std::string& pg_ctl, const fs::path& cluster_dir,
                  const fs::path& socket_dir, bool throwaway, const spawn_options& as_server,
                  const fs::path& server_log, const fs::path& tools_log) {
  std::string server_options = "-k " + socket_dir.string() + " -c listen_addresses= -p " +
                               std::to_string(kPort) + " -c max_connections=200";
  if (throwaway) {
    server_options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
  }
  int code = run_process({pg_ctl, "-D", cluster_dir.string(), "-w", "-t", "60", "-l",
                          server_log.string(), "-o", server_options, "start"},
                         as_server, std::chrono::seconds(90));
  if (code != 0) {
    throw std::runtime_error("embedded PostgreSQL: pg_ctl start failed with exit code " +
                             std::to_string(code) + log_excerpt(server_log) +
                             log_excerpt(tools_log));
  }
}

/// Waits until the server at `url` accepts connections (an adopted server
/// may still be recovering), up to 60 s.
void wait_for_connections(const std::string& url, const fs::path& socket_dir,
                          const fs::path& server_log) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    try {
      pqxx::connection probe{url};
      break;
    } catch (const std::exception& e) {
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("embedded PostgreSQL: server at " + socket_dir.string() +
                                 " does not accept connections: " + e.what() +
                                 log_excerpt(server_log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace

embedded_postgres::embedded_postgres(embedded_postgres_options options)
    : options_(std::move(options)) {
  if (options_.data_dir.empty()) options_.data_dir = "hearth-data";
  options_.data_dir = fs::weakly_canonical(fs::absolute(options_.data_dir));
  if (::geteuid() == 0) run_as_ = kServerUser;

  // Decide where PGDATA lives. No side effects here: start() creates things.
  const fs::path in_place = options_.data_dir / "postgres";
  std::error_code ec;
  if (fs::is_symlink(in_place, ec)) {
    fs::path target = fs::read_symlink(in_place, ec);
    if (target.is_relative()) target = options_.data_dir / target;
    cluster_dir_ = fs::weakly_canonical(target);
  } else if (fs::exists(in_place, ec)) {
    cluster_dir_ = in_place;
  } else if (!run_as_.empty()) {
    auto ids = lookup_user(run_as_);
    if (ids && !can_traverse(options_.data_dir, run_as_, *ids)) {
      cluster_dir_ = fs::path(kFallbackRoot) / hash_hex16(options_.data_dir.string());
    } else {
      cluster_dir_ = in_place;
    }
  } else {
    cluster_dir_ = in_place;
  }
  // The socket beside the cluster, in <data_dir>/run, so that an
  // operator's `hearth backup` reaches a service whose /tmp is private;
  // /tmp when the cluster lives elsewhere or the path is too long.
  const fs::path beside = options_.data_dir / "run";
  socket_dir_ = cluster_dir_ == in_place && beside.string().size() <= kMaxSocketDirLength
                    ? beside
                    : fs::path("/tmp/hearth-pg-" + hash_hex16(cluster_dir_.string()));
}

embedded_postgres::~embedded_postgres() { stop(); }

void embedded_postgres::start() {
  const user_ids owner = server_owner(run_as_);
  const fs::path bin = options_.bin_dir.empty() ? find_bin_dir() : options_.bin_dir;
  bin_ = bin;
  const fs::path in_place = options_.data_dir / "postgres";
  const bool relocated = cluster_dir_ != in_place;
  const std::optional<fs::perms> traversable =
      run_as_.empty() ? std::nullopt : std::optional<fs::perms>(fs::perms(0755));

  // Directories.
  create_dirs(options_.data_dir, relocated ? std::nullopt : traversable);
  std::error_code ec;

  // Every hearth process using this cluster holds a shared lock on
  // <data_dir>/hearth.lock; the last one to stop stops the server (see
  // stop()). Blocks while another process holds it exclusively (stopping
  // the server), so we never adopt a server that is going away.
  if (lock_fd_ < 0) {
    const auto lock_path = options_.data_dir / "hearth.lock";
    lock_fd_ = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_SH) != 0) {
      throw std::runtime_error("embedded PostgreSQL: cannot lock " + lock_path.string() + ": " +
                               std::strerror(errno));
    }
  }
  if (relocated) link_relocated_cluster(cluster_dir_, in_place);
  create_dirs(cluster_dir_, std::nullopt);
  const bool initialised = fs::exists(cluster_dir_ / "PG_VERSION", ec);
  if (!initialised) {
    if (!run_as_.empty()) chown_or_throw(cluster_dir_, owner);
    ::chmod(cluster_dir_.c_str(), 0700);
  }
  ensure_private_dir(socket_dir_, owner);

  const fs::path tools_log = options_.data_dir / "postgres.log";
  const fs::path server_log = cluster_dir_ / "server.log";
  spawn_options as_server;
  as_server.run_as = run_as_;
  as_server.log_file = tools_log.string();
  as_server.work_dir = "/";  // the server user may not be able to access our cwd
  const std::string pg_ctl = (bin / "pg_ctl").string();

  if (!initialised) run_initdb(bin, cluster_dir_, options_.throwaway, as_server, tools_log);
  created_ = !initialised;
  remove_stale_locks(cluster_dir_, socket_dir_);

  // Adopt a running server, or start one.
  int status = run_process({pg_ctl, "status", "-D", cluster_dir_.string()}, as_server);
  joined_ = status == 0;
  // A running server listens where it was told when it started (an older
  // hearth put every socket in /tmp).
  if (joined_)
    if (auto recorded = recorded_socket_dir(cluster_dir_)) socket_dir_ = *recorded;
  if (status != 0)
    start_server(pg_ctl, cluster_dir_, socket_dir_, options_.throwaway, as_server, server_log,
                 tools_log);
  started_by_us_ = true;

  wait_for_connections(url("postgres"), socket_dir_, server_log);
  if (!options_.database.empty()) create_database(options_.database);
}

bool embedded_postgres::last_user() noexcept {
  if (lock_fd_ < 0) return true;
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return true;
  // Two users stopping at once would each see the other's shared lock:
  // drop ours first, so that the last one to try wins.
  ::flock(lock_fd_, LOCK_UN);
  return ::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0;
}

void embedded_postgres::release_lock() noexcept {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing releases the flock
  lock_fd_ = -1;
}

void embedded_postgres::stop() noexcept {
  if (!started_by_us_) return;
  started_by_us_ = false;
  if (!last_user()) {  // other hearth processes (cluster nodes, a CLI) still use it
    release_lock();
    return;
  }
  try {
    const fs::path bin = options_.bin_dir.empty() ? find_bin_dir() : options_.bin_dir;
    spawn_options as_server;
    as_server.run_as = run_as_;
    as_server.log_file = (options_.data_dir / "postgres.log").string();
    as_server.work_dir = "/";
    run_process({(bin / "pg_ctl").string(), "-D", cluster_dir_.string(), "-m", "fast", "-w", "-t",
                 "60", "stop"},
                as_server, std::chrono::seconds(90));
    ::rmdir(socket_dir_.c_str());  // empty once the server is gone: leave nothing behind
  } catch (...) {
    // Best effort: the destructor must not throw.
  }
  release_lock();
}

pid_t embedded_postgres::postmaster_pid() const {
  const pid_t pid = lock_file_pid(cluster_dir_ / "postmaster.pid");
  return may_be_postmaster_of(pid, cluster_dir_) ? pid : 0;
}

pid_t embedded_postgres::restart() {
  // One restart at a time among the hearth processes sharing this cluster;
  // the others find the restarted server running next time (pg_ctl status).
  const auto lock_path = options_.data_dir / "restart.lock";
  const int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("embedded PostgreSQL: cannot open " + lock_path.string() + ": " +
                             std::strerror(errno));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }  // closing releases the flock
  } guard{fd};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    throw std::runtime_error("embedded PostgreSQL: another hearth process is restarting it");
  }

  const fs::path tools_log = options_.data_dir / "postgres.log";
  const fs::path server_log = cluster_dir_ / "server.log";
  spawn_options as_server;
  as_server.run_as = run_as_;
  as_server.log_file = tools_log.string();
  as_server.work_dir = "/";
  const std::string pg_ctl = (bin_ / "pg_ctl").string();

  ensure_private_dir(socket_dir_, server_owner(run_as_));
  remove_stale_locks(cluster_dir_, socket_dir_);
  int status = run_process({pg_ctl, "status", "-D", cluster_dir_.string()}, as_server);
  if (status != 0) {
    start_server(pg_ctl, cluster_dir_, socket_dir_, options_.throwaway, as_server, server_log,
                 tools_log);
  }
  const pid_t pid = postmaster_pid();
  if (pid <= 0) {
    throw std::runtime_error("embedded PostgreSQL: started, but no live postmaster in " +
                             (cluster_dir_ / "postmaster.pid").string());
  }
  return pid;
}

std::string embedded_postgres::url() const { return url(options_.database); }

std::string embedded_postgres::url(const std::string& database) const {
  return "postgresql://postgres@/" + percent_encode(database, false) +
         "?host=" + percent_encode(socket_dir_.string(), true) + "&port=" + std::to_string(kPort);
}

void embedded_postgres::create_database(const std::string& name) {
  pqxx::connection conn{url("postgres")};
  pqxx::nontransaction txn{conn};
  if (!txn.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name).empty()) return;
  try {
    // template0: nobody is ever connected to it, so concurrent creations do
    // not fail with "source database is being accessed by other users".
    txn.exec("CREATE DATABASE " + conn.quote_name(name) + " TEMPLATE template0");
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != "42P04") throw;  // duplicate_database: created concurrently
  }
}

}  // namespace hearth::storage
