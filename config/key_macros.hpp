#pragma once
// Inside config/keys*.cpp only: the setter and getter of a table entry
// (config/keys.hpp) for one config member, by the member's kind.

// Each expands to the entry's setter and getter.
#define HEARTH_TEXT(member)                                            \
  [](config& c, const std::string& s, std::int64_t) { c.member = s; }, \
      [](const config& c) { return std::string(c.member); }
#define HEARTH_INT(member)                            \
  [](config& c, const std::string&, std::int64_t v) { \
    c.member = static_cast<decltype(c.member)>(v);    \
  },                                                  \
      [](const config& c) { return std::to_string(c.member); }
#define HEARTH_BOOL(member)                                                 \
  [](config& c, const std::string&, std::int64_t v) { c.member = v != 0; }, \
      [](const config& c) { return std::string(c.member ? "true" : "false"); }
