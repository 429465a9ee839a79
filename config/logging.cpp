#include "config/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <optional>

namespace hearth::log {
namespace {

// hearth's level names for spdlog's levels, shifted by one (see logging.hpp).
class level_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view name = "error";
    switch (msg.level) {
      case spdlog::level::trace:
        name = "debug";
        break;
      case spdlog::level::debug:
        name = "info";
        break;
      case spdlog::level::info:
        name = "notice";
        break;
      case spdlog::level::warn:
        name = "warn";
        break;
      default:
        break;
    }
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<level_flag>();
  }
};

std::optional<spdlog::level::level_enum> parse(const std::string& level) {
  if (level == "debug") return spdlog::level::trace;
  if (level == "info") return spdlog::level::debug;
  if (level == "notice") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  return std::nullopt;
}

}  // namespace

void init(const std::string& level) {
  auto logger = spdlog::get("hearth");
  if (!logger) logger = spdlog::stderr_color_mt("hearth");
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<level_flag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%*%$ %v");
  logger->set_formatter(std::move(formatter));
  logger->set_level(parse(level).value_or(spdlog::level::debug));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

bool set_level(const std::string& level) {
  auto l = parse(level);
  if (!l) return false;
  get().set_level(*l);
  return true;
}

}  // namespace hearth::log
