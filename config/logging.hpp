#pragma once
// Logging: spdlog, one line per event, five levels debug < info < notice <
// warn < error. spdlog has no "notice", so hearth's levels sit one step up
// on spdlog's (debug = trace, info = debug, notice = info, warn, error = err)
// and a custom pattern flag prints hearth's names. Lines that belong to a
// request carry its request id; secrets (passwords, session keys, cookies)
// are never passed to the logger. The level can change at run time
// (SIGHUP re-reads the configuration).

#include <spdlog/spdlog.h>

#include <string>

namespace hearth::log {

/// Sets up the process-wide logger (stderr) at `level` (debug|info|notice|warn|error).
void init(const std::string& level);

/// Changes the level at run time; returns false (and changes nothing) for
/// an unknown name.
bool set_level(const std::string& level);

/// The process-wide logger.
inline spdlog::logger& get() { return *spdlog::default_logger_raw(); }

/// True when debug lines are written (to skip building costly ones).
inline bool debug_enabled() { return get().should_log(spdlog::level::trace); }

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  get().trace(f, std::forward<Args>(args)...);
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  get().debug(f, std::forward<Args>(args)...);
}
template <class... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) {
  get().info(f, std::forward<Args>(args)...);
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
