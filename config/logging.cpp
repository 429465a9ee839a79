#include "config/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace hearth::log {

void init(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("hearth");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  spdlog::level::level_enum l = spdlog::level::info;
  if (level == "debug")
    l = spdlog::level::debug;
  else if (level == "warn")
    l = spdlog::level::warn;
  else if (level == "error")
    l = spdlog::level::err;
  logger->set_level(l);
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

}  // namespace hearth::log
