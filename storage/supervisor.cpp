// Supervision of the embedded PostgreSQL (see supervisor.hpp).

#include "storage/supervisor.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <system_error>
#include <thread>

#include "config/log_limiter.hpp"
#include "config/logging.hpp"

namespace hearth::storage {
namespace {

/// The first line of a restart error, plus the last PostgreSQL FATAL line
/// of its log excerpt when there is one (the reason the server did not start).
std::string short_error(const std::string& what) {
  std::string first = what.substr(0, what.find('\n'));
  auto fatal = what.rfind("FATAL:");
  if (fatal == std::string::npos) return first;
  auto end = what.find('\n', fatal);
  return first + " (" + what.substr(fatal, end == std::string::npos ? end : end - fatal) + ")";
}

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

const char* to_string(supervisor_status::state_t state) {
  switch (state) {
    case supervisor_status::state_t::running:
      return "running";
    case supervisor_status::state_t::restarting:
      return "restarting";
    case supervisor_status::state_t::stopped:
      break;
  }
  return "stopped";
}

struct postgres_supervisor::impl {
  embedded_postgres& server;
  supervisor_options options;
  mutable std::mutex mutex;
  supervisor_status status;
  std::mutex restarted_mutex;  // held while on_restarted runs
  std::function<void()> on_restarted;
  int wake_fd = -1;  // eventfd: stop() writes it
  bool stopping = false;
  std::thread thread;

  impl(embedded_postgres& s, supervisor_options o) : server(s), options(o) {}

  bool stop_requested() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  /// Waits up to `timeout` (-1: forever) for the wake-up eventfd and, when
  /// `pidfd` ≥ 0, for it. Returns true when the pidfd became readable.
  bool wait(int pidfd, int timeout_ms) {
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    const nfds_t count = pidfd >= 0 ? 2 : 1;
    int rc;
    do {
      rc = ::poll(fds, count, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc > 0 && count == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  }

  /// Blocks until `pid` is gone or stop() is called.
  void watch(pid_t pid) {
    const int pidfd = pidfd_open(pid);
    if (pidfd >= 0) {
      while (!stop_requested()) {
        if (wait(pidfd, -1)) break;
      }
      ::close(pidfd);
      return;
    }
    if (errno == ESRCH) return;  // already gone
    while (!stop_requested() && server.postmaster_pid() == pid)
      wait(-1, static_cast<int>(options.poll.count()));
  }

  void set_running(pid_t pid) {
    std::lock_guard lock(mutex);
    status.state = supervisor_status::state_t::running;
    status.pid = pid;
    status.attempt = 0;
    status.last_error.clear();
  }

  /// Restarts the server until it runs (or stop()); returns its pid, or 0 when stopped.
  pid_t restart(pid_t dead) {
    const auto since = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mutex);
      status.state = supervisor_status::state_t::restarting;
      status.pid = 0;
      status.attempt = 0;
      status.down_since = std::chrono::system_clock::now();
    }
    log::error("embedded PostgreSQL: postmaster {} exited; restarting it", dead);
    auto backoff = options.min_backoff;
    for (std::uint64_t attempt = 1; !stop_requested(); ++attempt) {
      try {
        const pid_t pid = server.restart();
        const auto down = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - since);
        {
          std::lock_guard lock(mutex);
          ++status.restarts;
        }
        {
          std::lock_guard lock(restarted_mutex);
          if (on_restarted) on_restarted();
        }
        set_running(pid);
        log::notice("embedded PostgreSQL: restarted (postmaster {}) after {} attempt(s), {} ms",
                    pid, attempt, down.count());
        return pid;
      } catch (const std::exception& e) {
        const auto why = short_error(e.what());
        {
          std::lock_guard lock(mutex);
          ++status.failed_attempts;
          status.attempt = attempt;
          status.last_error = why;
        }
        log::debug("embedded PostgreSQL: restart attempt {} failed: {}", attempt, e.what());
        log::warn_once("embedded_postgres.restart", why,
                       fmt::format("embedded PostgreSQL: restart attempt {} failed, next in {} ms",
                                   attempt, backoff.count()));
      }
      wait(-1, static_cast<int>(backoff.count()));
      backoff = std::min(backoff * 2, options.max_backoff);
    }
    return 0;
  }

  void run() {
    pthread_setname_np(pthread_self(), "hearth.pgwatch");
    pid_t pid = server.postmaster_pid();
    set_running(pid);
    while (!stop_requested()) {
      if (pid > 0) watch(pid);
      if (stop_requested()) break;
      pid = restart(pid);
    }
    std::lock_guard lock(mutex);
    status.state = supervisor_status::state_t::stopped;
  }
};

postgres_supervisor::postgres_supervisor(embedded_postgres& server, supervisor_options options)
    : impl_(std::make_unique<impl>(server, options)) {}

postgres_supervisor::~postgres_supervisor() { stop(); }

void postgres_supervisor::start() {
  if (impl_->thread.joinable()) return;
  impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl_->wake_fd < 0)
    throw std::system_error(errno, std::generic_category(), "embedded PostgreSQL: eventfd");
  impl_->thread = std::thread([this] { impl_->run(); });
}

void postgres_supervisor::stop() noexcept {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  if (impl_->wake_fd >= 0) {
    const std::uint64_t one = 1;
    ssize_t ignored = ::write(impl_->wake_fd, &one, sizeof one);
    (void)ignored;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
  impl_->wake_fd = -1;
}

supervisor_status postgres_supervisor::status() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->status;
}

void postgres_supervisor::on_restarted(std::function<void()> f) {
  std::lock_guard lock(impl_->restarted_mutex);
  impl_->on_restarted = std::move(f);
}

}  // namespace hearth::storage
