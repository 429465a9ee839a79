#pragma once
// Quiet failure: a line that repeats while something stays broken (the
// database is down and every subscription, retry or request reports it) is
// written once, then as one summary per interval:
//
//   warn pubsub: cannot claim deliveries of uptime.webhook: connection refused
//   warn [pubsub.claim] repeated 48 times in the last 10.0 s: pubsub: cannot claim ...
//
// Lines are grouped by (site, message): `site` is a short fixed name of the
// place in the code ("pubsub.claim"), `message` the line without what varies
// per occurrence (request ids, attempt numbers: pass those as `context`,
// which is written with the first line but not compared). A key that stays
// silent for a whole interval is forgotten, so its next occurrence is
// written in full again. Held-back lines are counted per site
// (hearth_log_suppressed_total{site} in /metrics).

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::log {

/// Lines held back at one site since the start of the process.
struct suppressed_count {
  std::string site;
  std::uint64_t count = 0;
};

class repeat_limiter {
 public:
  using clock = std::chrono::steady_clock;
  /// The time source (tests inject one); default std::chrono::steady_clock::now.
  using now_fn = std::function<clock::time_point()>;
  /// Writes one finished line at a spdlog level; default: the process logger
  /// (config/logging.hpp).
  using write_fn = std::function<void(spdlog::level::level_enum, const std::string&)>;

  /// At most this many distinct keys are tracked; beyond it, further new
  /// lines of a site share the key (site, "other messages").
  static constexpr std::size_t max_keys = 1024;

  /// `interval`: how often a repeating line is summarised; 0 = no limiting
  /// (every line is written).
  explicit repeat_limiter(std::chrono::milliseconds interval = std::chrono::seconds(10),
                          now_fn now = {}, write_fn write = {});

  void set_interval(std::chrono::milliseconds interval);
  std::chrono::milliseconds interval() const;

  /// One occurrence of `message` at `site`, at spdlog level `level`. Written
  /// ("<context>: <message>", or just the message) when the key is new or was
  /// silent for an interval; otherwise counted, and when the key's interval
  /// is over, the count is written as one summary line. Returns whether this
  /// occurrence was written as its own line. Thread-safe; never throws
  /// (a failing sink is ignored).
  bool report(spdlog::level::level_enum level, std::string_view site, std::string_view message,
              std::string_view context = {});

  /// Writes the summary of every key whose interval is over and that held
  /// lines back, and forgets keys silent for an interval. The flusher (below)
  /// calls it about once a second; report() only looks at its own key.
  void flush();

  /// Held-back lines per site since construction, sorted by site.
  std::vector<suppressed_count> suppressed() const;

 private:
  struct entry {
    spdlog::level::level_enum level;
    std::string site;
    std::string message;
    clock::time_point window_start;  // when the current count began
    clock::time_point last_seen;
    std::uint64_t count = 0;  // held back since window_start
  };

  clock::time_point now() const;
  void write(spdlog::level::level_enum level, const std::string& line) const noexcept;
  void summarise(entry& e, clock::time_point now);

  mutable std::mutex mutex_;
  std::chrono::milliseconds interval_;
  now_fn now_;
  write_fn write_;
  std::map<std::pair<std::string, std::string>, entry> entries_;
  std::map<std::string, std::uint64_t, std::less<>> suppressed_;
};

/// `text` up to its first line break, trailing blanks removed (libpq's
/// messages end in a newline and may add DETAIL/HINT lines).
std::string first_line(std::string_view text);

/// The process-wide limiter (interval: config logRepeatIntervalMs, set by
/// `hearth serve`).
repeat_limiter& repeats();

/// report() on the process-wide limiter at warn / error level.
inline bool warn_once(std::string_view site, std::string_view message,
                      std::string_view context = {}) {
  return repeats().report(spdlog::level::warn, site, message, context);
}
inline bool error_once(std::string_view site, std::string_view message,
                       std::string_view context = {}) {
  return repeats().report(spdlog::level::err, site, message, context);
}

/// A thread that calls limiter.flush() every `period` until destroyed, so a
/// summary is written even when the failure stopped (RAII: the destructor
/// stops and joins it, writing the last summaries).
class repeat_flusher {
 public:
  explicit repeat_flusher(repeat_limiter& limiter,
                          std::chrono::milliseconds period = std::chrono::seconds(1));
  ~repeat_flusher();
  repeat_flusher(const repeat_flusher&) = delete;
  repeat_flusher& operator=(const repeat_flusher&) = delete;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::log
