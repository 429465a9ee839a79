#pragma once
// Logging: spdlog, one line per event. Levels debug/info/notice/warn/error
// (spdlog has no "notice": it maps onto spdlog's info level with a "notice"
// tag). Lines that belong to a request carry its request id; secrets
// (passwords, session keys, cookies) are never passed to the logger.

#include <spdlog/spdlog.h>

#include <string>

namespace hearth::log {

/// Sets up the process-wide logger (stderr) at `level` (debug|info|notice|warn|error).
void init(const std::string& level);

/// The process-wide logger.
inline spdlog::logger& get() { return *spdlog::default_logger_raw(); }

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  get().debug(f, std::forward<Args>(args)...);
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  get().info(f, std::forward<Args>(args)...);
}
template <class... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) {
  get().info(fmt::format("notice: {}", fmt::format(f, std::forward<Args>(args)...)));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  get().warn(f, std::forward<Args>(args)...);
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  get().error(f, std::forward<Args>(args)...);
}

}  // namespace hearth::log
