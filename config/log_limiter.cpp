#include "config/log_limiter.hpp"

#include <fmt/format.h>
#include <pthread.h>

#include <condition_variable>
#include <thread>

#include "config/logging.hpp"

namespace hearth::log {
namespace {

constexpr std::string_view kOtherMessages = "other messages";

}  // namespace

repeat_limiter::repeat_limiter(std::chrono::milliseconds interval, now_fn now, write_fn write)
    : interval_(interval), now_(std::move(now)), write_(std::move(write)) {}

void repeat_limiter::set_interval(std::chrono::milliseconds interval) {
  std::lock_guard lock(mutex_);
  interval_ = interval;
}

std::chrono::milliseconds repeat_limiter::interval() const {
  std::lock_guard lock(mutex_);
  return interval_;
}

repeat_limiter::clock::time_point repeat_limiter::now() const {
  return now_ ? now_() : clock::now();
}

void repeat_limiter::write(spdlog::level::level_enum level,
                           const std::string& line) const noexcept {
  try {
    if (write_)
      write_(level, line);
    else
      get().log(level, "{}", line);
  } catch (...) {
    // A log sink that fails must not fail the caller.
  }
}

void repeat_limiter::summarise(entry& e, clock::time_point now) {
  const double seconds = std::chrono::duration<double>(now - e.window_start).count();
  write(e.level, fmt::format("[{}] repeated {} times in the last {:.1f} s: {}", e.site, e.count,
                             seconds, e.message));
  e.count = 0;
  e.window_start = now;
}

bool repeat_limiter::report(spdlog::level::level_enum level, std::string_view site,
                            std::string_view message, std::string_view context) {
  std::string line =
      context.empty() ? std::string(message) : fmt::format("{}: {}", context, message);
  std::unique_lock lock(mutex_);
  const auto t = now();
  if (interval_.count() <= 0) {
    lock.unlock();
    write(level, line);
    return true;
  }
  auto key = std::make_pair(std::string(site), std::string(message));
  auto it = entries_.find(key);
  if (it == entries_.end() && entries_.size() >= max_keys) {
    key.second = kOtherMessages;
    it = entries_.find(key);
  }
  if (it == entries_.end()) {
    entries_.emplace(key, entry{level, key.first, key.second, t, t, 0});
    lock.unlock();
    write(level, line);
    return true;
  }
  entry& e = it->second;
  e.last_seen = t;
  if (t - e.window_start >= interval_) {
    if (e.count == 0) {  // quiet for a whole interval: like a new line
      e.window_start = t;
      lock.unlock();
      write(level, line);
      return true;
    }
    ++e.count;
    ++suppressed_[e.site];
    summarise(e, t);
    return false;
  }
  ++e.count;
  ++suppressed_[e.site];
  return false;
}

void repeat_limiter::flush() {
  std::lock_guard lock(mutex_);
  const auto t = now();
  for (auto it = entries_.begin(); it != entries_.end();) {
    entry& e = it->second;
    if (e.count > 0 && t - e.window_start >= interval_) summarise(e, t);
    if (e.count == 0 && t - e.last_seen >= interval_) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<suppressed_count> repeat_limiter::suppressed() const {
  std::lock_guard lock(mutex_);
  std::vector<suppressed_count> out;
  out.reserve(suppressed_.size());
  for (const auto& [site, count] : suppressed_) out.push_back({site, count});
  return out;
}

std::string first_line(std::string_view text) {
  auto line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t'))
    line.remove_suffix(1);
  return std::string(line);
}

repeat_limiter& repeats() {
  static repeat_limiter limiter;
  return limiter;
}

struct repeat_flusher::impl {
  repeat_limiter& limiter;
  std::chrono::milliseconds period;
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;

  impl(repeat_limiter& l, std::chrono::milliseconds p) : limiter(l), period(p) {}

  void run() {
    pthread_setname_np(pthread_self(), "hearth.logflush");
    std::unique_lock lock(mutex);
    while (!cv.wait_for(lock, period, [this] { return stopping; })) {
      lock.unlock();
      limiter.flush();
      lock.lock();
    }
  }
};

repeat_flusher::repeat_flusher(repeat_limiter& limiter, std::chrono::milliseconds period)
    : impl_(std::make_unique<impl>(limiter, period)) {
  impl_->thread = std::thread([this] { impl_->run(); });
}

repeat_flusher::~repeat_flusher() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_one();
  impl_->thread.join();
  impl_->limiter.flush();
}

}  // namespace hearth::log
