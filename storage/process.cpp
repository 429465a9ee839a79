// Child processes without a shell (see process.hpp).
//
// fork+exec rather than posix_spawn because run_as needs setgroups/setgid/
// setuid in the child. Everything that allocates or reads files (PATH lookup,
// the environment, the user's groups, opening the log file) happens in the
// parent before fork(); between fork() and exec() the child only makes
// async-signal-safe system calls, so this is safe in a multi-threaded process.
// A close-on-exec pipe reports a failure of the child before exec (errno and
// the step that failed), so spawn_process throws instead of returning the pid
// of a child that immediately exits with 127.

#include "storage/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace hearth::storage {
namespace {

/// Steps of the child between fork and exec, reported on failure.
enum class child_step : int { setgroups = 1, setgid, setuid, chdir, redirect, exec };

const char* step_name(child_step step) {
  switch (step) {
    case child_step::setgroups:
      return "setgroups";
    case child_step::setgid:
      return "setgid";
    case child_step::setuid:
      return "setuid";
    case child_step::chdir:
      return "chdir to the working directory";
    case child_step::redirect:
      return "redirect output to the log file";
    case child_step::exec:
      return "exec";
  }
  return "start";
}

struct child_error {
  int step;
  int error;
};

/// A file descriptor closed on scope exit.
class fd_guard {
 public:
  explicit fd_guard(int fd = -1) : fd_(fd) {}
  ~fd_guard() { reset(); }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

/// Full user record (uid, gid, home) of `name`.
struct user_record {
  uid_t uid;
  gid_t gid;
  std::string name;
  std::string home;
};

std::optional<user_record> lookup_user_record(const std::string& name) {
  long size_hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size_hint > 0 ? static_cast<std::size_t>(size_hint) : 4096);
  for (;;) {
    passwd entry{};
    passwd* result = nullptr;
    int rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0 || result == nullptr) return std::nullopt;
    return user_record{entry.pw_uid, entry.pw_gid, entry.pw_name,
                       entry.pw_dir ? entry.pw_dir : "/"};
  }
}

/// Supplementary groups of a user (what initgroups would set).
std::vector<gid_t> groups_of(const user_record& user) {
  int count = 32;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  while (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) {
    if (count <= static_cast<int>(groups.size())) count = static_cast<int>(groups.size()) * 2;
    groups.resize(static_cast<std::size_t>(count));
  }
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

/// Resolves argv[0] like execvp does, but in the parent.
std::string resolve_program(const std::string& program, const std::string& path_env) {
  if (program.empty())
    throw std::system_error(ENOENT, std::generic_category(), "spawn: empty argv[0]");
  if (program.find('/') != std::string::npos) return program;
  std::string path = path_env.empty() ? "/usr/local/bin:/usr/bin:/bin" : path_env;
  std::size_t begin = 0;
  for (;;) {
    std::size_t end = path.find(':', begin);
    std::string dir =
        path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  throw std::system_error(ENOENT, std::generic_category(),
                          "spawn " + program + ": not found in PATH");
}

/// Marks every descriptor >= 3 close-on-exec (async-signal-safe). Descriptors
/// the parent did not open with O_CLOEXEC (e.g. a listening socket) must not
/// leak into long-lived children such as the PostgreSQL server.
void cloexec_all_from_3(int max_fd) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0) return;
#endif
  for (int fd = 3; fd < max_fd; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

[[noreturn]] void child_fail(int report_fd, child_step step) {
  child_error report{static_cast<int>(step), errno};
  ssize_t ignored = ::write(report_fd, &report, sizeof report);
  (void)ignored;
  ::_exit(127);
}

/// The child's environment as KEY=value strings: the parent's, then
/// HOME/USER/LOGNAME of `user`, then `extra` (a later value wins; keys keep
/// their first place). `path` gets its PATH ("" when unset).
std::vector<std::string> child_environment(const std::optional<user_record>& user,
                                           const std::map<std::string, std::string>& extra,
                                           std::string& path) {
  std::map<std::string, std::string> env_map;
  std::vector<std::string> env_order;
  for (char** e = environ; e && *e; ++e) {
    std::string entry{*e};
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string key = entry.substr(0, eq);
    if (!env_map.count(key)) env_order.push_back(key);
    env_map[key] = entry.substr(eq + 1);
  }
  auto set_env = [&](const std::string& key, const std::string& value) {
    if (!env_map.count(key)) env_order.push_back(key);
    env_map[key] = value;
  };
  if (user) {
    set_env("HOME", user->home);
    set_env("USER", user->name);
    set_env("LOGNAME", user->name);
  }
  for (const auto& [key, value] : extra) set_env(key, value);
  std::vector<std::string> env_strings;
  env_strings.reserve(env_order.size());
  for (const auto& key : env_order) env_strings.push_back(key + "=" + env_map[key]);
  path = env_map.count("PATH") ? env_map["PATH"] : "";
  return env_strings;
}

/// The null-terminated array of pointers into `strings` that execve takes.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

/// The log file opened for appending (close-on-exec), or -1 when `file` is "".
int open_log_file(const std::string& file, const std::string& program) {
  if (file.empty()) return -1;
  int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "spawn " + program + ": cannot open log file " + file);
  }
  return fd;
}

/// The descriptors the child marks close-on-exec without close_range: up to
/// the open-file limit, at most 65536.
int max_fd_to_mark() {
  int max_fd = 65536;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < 65536) {
    max_fd = static_cast<int>(limit.rlim_cur);
  }
  return max_fd;
}

/// What the child does between fork and exec, all prepared in the parent.
struct child_plan {
  const user_record* user;           // run as this user; nullptr = as we are
  const std::vector<gid_t>* groups;  // its supplementary groups
  const char* work_dir;              // nullptr = inherit
  int log_fd;                        // stdout+stderr; -1 = inherit
  int max_fd;
  const char* program;
  char* const* argv;
  char* const* envp;
  int report;  // the pipe that reports a failure
};

/// The child: async-signal-safe calls only.
[[noreturn]] void exec_child(const child_plan& p) {
  // Default signal dispositions and an empty mask (ignored signals such as
  // SIGPIPE and the parent's blocked signals would survive exec).
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    ::sigaction(sig, &action, nullptr);
  }
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  if (p.user) {
    if (::setgroups(p.groups->size(), p.groups->data()) != 0)
      child_fail(p.report, child_step::setgroups);
    if (::setgid(p.user->gid) != 0) child_fail(p.report, child_step::setgid);
    if (::setuid(p.user->uid) != 0) child_fail(p.report, child_step::setuid);
  }
  if (p.work_dir && ::chdir(p.work_dir) != 0) child_fail(p.report, child_step::chdir);
  if (p.log_fd >= 0) {
    if (::dup2(p.log_fd, STDOUT_FILENO) < 0 || ::dup2(p.log_fd, STDERR_FILENO) < 0) {
      child_fail(p.report, child_step::redirect);
    }
  }
  cloexec_all_from_3(p.max_fd);
  ::execve(p.program, p.argv, p.envp);
  child_fail(p.report, child_step::exec);
}

/// The parent: throws what the child reported when it failed before exec
/// (after reaping it); returns when the exec succeeded (the pipe closed).
void await_exec(pid_t pid, int report_read, const std::string& program) {
  child_error report{};
  ssize_t got;
  do {
    got = ::read(report_read, &report, sizeof report);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof report)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw std::system_error(
        report.error, std::generic_category(),
        "spawn " + program + ": " + step_name(static_cast<child_step>(report.step)) + " failed");
  }
}

}  // namespace

std::optional<user_ids> lookup_user(const std::string& name) {
  auto record = lookup_user_record(name);
  if (!record) return std::nullopt;
  return user_ids{record->uid, record->gid};
}

pid_t spawn_process(const std::vector<std::string>& argv, const spawn_options& options) {
  if (argv.empty()) throw std::system_error(EINVAL, std::generic_category(), "spawn: empty argv");

  // --- Everything that allocates happens here, before fork. ---
  std::optional<user_record> user;
  std::vector<gid_t> groups;
  if (!options.run_as.empty()) {
    user = lookup_user_record(options.run_as);
    if (!user) {
      throw std::system_error(ENOENT, std::generic_category(),
                              "spawn " + argv[0] + ": no such user '" + options.run_as + "'");
    }
    groups = groups_of(*user);
  }

  std::string path;
  std::vector<std::string> env_strings = child_environment(user, options.env, path);
  std::vector<char*> envp = c_strings(env_strings);
  std::vector<std::string> args = argv;
  std::vector<char*> argvp = c_strings(args);
  std::string program = resolve_program(argv[0], path);
  fd_guard log_fd{open_log_file(options.log_file, argv[0])};

  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "spawn " + argv[0] + ": pipe");
  }
  fd_guard report_read{report_pipe[0]};
  fd_guard report_write{report_pipe[1]};
  const child_plan plan{user ? &*user : nullptr,
                        &groups,
                        options.work_dir.empty() ? nullptr : options.work_dir.c_str(),
                        log_fd.get(),
                        max_fd_to_mark(),
                        program.c_str(),
                        argvp.data(),
                        envp.data(),
                        report_pipe[1]};

  pid_t pid = ::fork();
  if (pid < 0) {
    throw std::system_error(errno, std::generic_category(), "spawn " + argv[0] + ": fork");
  }
  if (pid == 0) exec_child(plan);

  // --- Parent. ---
  report_write.reset();
  await_exec(pid, report_read.get(), argv[0]);
  return pid;
}

std::optional<int> wait_process(pid_t pid, std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    pid_t rc = ::waitpid(pid, &status, WNOHANG);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "waitpid " + std::to_string(pid));
    }
    if (rc == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      continue;  // stopped/continued: keep waiting
    }
    auto now = clock::now();
    if (now >= deadline) return std::nullopt;
    // A process wait, not a synchronisation primitive: poll with short sleeps.
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::min({pause, remaining, std::chrono::milliseconds(20)}));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

int run_process(const std::vector<std::string>& argv, const spawn_options& options,
                std::chrono::milliseconds timeout) {
  pid_t pid = spawn_process(argv, options);
  if (auto code = wait_process(pid, timeout)) return *code;
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  throw std::runtime_error("process " + argv[0] + " timed out after " +
                           std::to_string(timeout.count()) + " ms and was killed");
}

}  // namespace hearth::storage
