// Fuzzes the configuration file (config/config.hpp apply_json: the text of
// --config FILE layered onto the defaults), then the cross-field checks
// (validate) and the address split the servers use (split_host_port).
//
// Invariants: only config::config_error is thrown; a configuration that
// validates has addresses that split into a host and a port.

#include <cstddef>
#include <cstdint>
#include <string>

#include "check.hpp"
#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hearth::config;
  std::string text(reinterpret_cast<const char*>(data), size);
  config cfg = defaults();
  try {
    apply_json(cfg, text, "fuzz.json");
  } catch (const config_error&) {
    return 0;
  }
  try {
    validate(cfg);
  } catch (const config_error&) {
    return 0;
  }
  for (const auto* addr : {&cfg.http_addr, &cfg.cluster_addr}) {
    auto [host, port] = split_host_port(*addr);
    FUZZ_CHECK(host.size() < addr->size());
    (void)port;
  }
  if (!cfg.cluster_advertise_addr.empty()) split_host_port(cfg.cluster_advertise_addr);
  return 0;
}
