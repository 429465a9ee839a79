#pragma once
// Inside config/config.cpp: the table of configuration keys (config/keys.cpp)
// that the JSON file, the environment and the flags are read with. Private
// to the hearth_config library.

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace hearth::config::detail {

// boolean: JSON true/false; in the environment and flags "true"/"false" (or 1/0).
enum class kind { text, integer, boolean };

// A day in ms: the upper bound of many durations.
inline constexpr std::int64_t kDay = 24LL * 3600 * 1000;

struct entry {
  key_info info;
  kind type;
  std::int64_t min = 0;  // for integers
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::function<void(config&, const std::string&, std::int64_t)> set;
  std::function<std::string(const config&)> get;  // the value as text (for --help's defaults)
};

/// The sections of config/keys_production.cpp (the rest are private to
/// config/keys.cpp).
std::vector<entry> production_keys();
std::vector<entry> security_keys();

/// Every key, in the order hearth --help lists them.
const std::vector<entry>& table();

}  // namespace hearth::config::detail
