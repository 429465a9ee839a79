#include "app/takeover.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "config/logging.hpp"

extern char** environ;

namespace hearth::app {

int inherited_listen_fd() {
  int n = sd_listen_fds(1);  // 1: unset LISTEN_FDS/LISTEN_PID for our children
  if (n < 1) return -1;
  if (n > 1) log::warn("socket activation passed {} sockets; using the first", n);
  int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
    log::warn("inherited fd {} is not a listening TCP socket; binding instead", fd);
    return -1;
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

void notify_ready() {
  // 0: keep NOTIFY_SOCKET, a successor may need to tell systemd MAINPID.
  if (sd_notify(0, "READY=1") < 0) log::warn("cannot notify readiness");
}

void notify_main_pid(int pid) {
  // Under systemd Type=notify the successor becomes the service's main
  // process before this one exits (no-op without NOTIFY_SOCKET).
  sd_notifyf(0, "MAINPID=%d", pid);
}

namespace {

// The successor's notify socket: an abstract unix datagram socket, and its
// name (NOTIFY_SOCKET=@name). fd -1 when it cannot be made.
struct notify_socket {
  int fd = -1;
  std::string name;
};

notify_socket open_notify_socket() {
  int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  auto name = "hearth-takeover-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::random_device{}());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(sock, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    ::close(sock);
    return {};
  }
  return {sock, std::move(name)};
}

// Everything the child needs, built before fork: between fork and exec
// only async-signal-safe calls are allowed. Not movable: envp and argp
// point into it.
struct successor_exec {
  successor_exec(const std::vector<std::string>& argv, const std::string& notify_name) {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      if (kv.starts_with("LISTEN_") || kv.starts_with("NOTIFY_SOCKET=")) continue;
      env_strings.emplace_back(kv);
    }
    env_strings.push_back("LISTEN_FDS=1");
    env_strings.push_back("LISTEN_FDNAMES=http");
    env_strings.push_back("NOTIFY_SOCKET=@" + notify_name);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(pid_var);  // filled in by the child
    envp.push_back(nullptr);
    args = argv;
    for (auto& a : args) argp.push_back(a.data());
    argp.push_back(nullptr);
  }
  successor_exec(const successor_exec&) = delete;
  successor_exec& operator=(const successor_exec&) = delete;

  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  char pid_var[32] = "LISTEN_PID=";
  std::vector<std::string> args;
  std::vector<char*> argp;
};

// The child after fork: fd 3 = the listening socket, LISTEN_PID = our pid,
// exec. Async-signal-safe calls only.
[[noreturn]] void exec_successor(successor_exec& x, int listen_fd, int max_fd) {
  if (listen_fd != SD_LISTEN_FDS_START) {
    if (::dup2(listen_fd, SD_LISTEN_FDS_START) < 0) ::_exit(127);
  } else {
    ::fcntl(SD_LISTEN_FDS_START, F_SETFD, 0);
  }
  // Nothing else may leak into the successor: a copy of a client socket
  // there would keep it open after this process closes it.
#ifdef SYS_close_range
  ::syscall(SYS_close_range, 4u, ~0u, CLOSE_RANGE_CLOEXEC);
#endif
  for (int fd = 4; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  char digits[16];
  int n = 0;
  for (pid_t p = ::getpid(); p > 0 && n < 15; p /= 10)
    digits[n++] = static_cast<char>('0' + p % 10);
  char* out = x.pid_var + 11;
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
  ::execve("/proc/self/exe", x.argp.data(), x.envp.data());
  ::_exit(127);
}

// The parent: waits for the child's READY=1 on `sock`, its death, or the
// deadline (then kills it). The child's pid when ready, else -1.
int await_ready(pid_t child, int sock, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) {
      log::error("takeover: successor {} exited during start-up (status {})", child, status);
      return -1;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      log::error("takeover: successor {} not ready after {} ms, stopping it", child,
                 timeout.count());
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return -1;
    }
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100))) <= 0) continue;
    char buf[512];
    auto len = ::recv(sock, buf, sizeof buf - 1, 0);
    if (len <= 0) continue;
    buf[len] = '\0';
    if (std::string_view(buf).find("READY=1") != std::string_view::npos) return child;
  }
}

}  // namespace

int start_successor(const std::vector<std::string>& argv, int listen_fd,
                    std::chrono::milliseconds timeout) {
  auto [sock, name] = open_notify_socket();
  if (sock < 0) return -1;
  successor_exec exec(argv, name);
  const int max_fd = static_cast<int>(::sysconf(_SC_OPEN_MAX) > 0 ? ::sysconf(_SC_OPEN_MAX) : 1024);
  pid_t child = ::fork();
  if (child < 0) {
    ::close(sock);
    return -1;
  }
  if (child == 0) exec_successor(exec, listen_fd, max_fd);
  int result = await_ready(child, sock, timeout);
  ::close(sock);
  return result;
}

}  // namespace hearth::app
