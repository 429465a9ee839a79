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

struct entry {
  key_info info;
  kind type;
  std::int64_t min = 0;  // for integers
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::function<void(config&, const std::string&, std::int64_t)> set;
  std::function<std::string(const config&)> get;  // the value as text (for --help's defaults)
};

/// Every key, in the order hearth --help lists them.
const std::vector<entry>& table();

}  // namespace hearth::config::detail
