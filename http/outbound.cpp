#include "http/outbound.hpp"

#include <mutex>
#include <stdexcept>
#include <utility>

namespace hearth::http {
namespace {

// A user's fetch under no configuration: internal addresses refused,
// network errors concealed.
outbound_policy default_user_policy() {
  outbound_policy p;
  p.refuse_internal = true;
  p.conceal_network_errors = true;
  return p;
}

struct policies {
  std::mutex mu;
  outbound_policy user = default_user_policy();
  outbound_policy operator_rules;
};

policies& current() {
  static policies p;
  return p;
}

std::vector<ip_range> ranges_of(const std::string& key, const std::string& text) {
  try {
    return parse_ip_ranges(text);
  } catch (const std::invalid_argument& e) {
    throw config::config_error(key + ": " + e.what());
  }
}

}  // namespace

std::string refusal(const outbound_policy& p, const ip_address& a) {
  for (const auto& r : p.deny)
    if (any_contains({r}, a)) return "address in outboundDeny (" + r.to_string() + ")";
  if (!p.refuse_internal) return {};
  const char* c = special_purpose_class(a);
  if (!c || any_contains(p.allow, a)) return {};
  return std::string("internal address (") + c + ")";
}

void configure_outbound(outbound_policy user, outbound_policy operator_rules) {
  auto& p = current();
  std::lock_guard lock(p.mu);
  p.user = std::move(user);
  p.operator_rules = std::move(operator_rules);
}

outbound_policy outbound_policy_for(url_source source) {
  auto& p = current();
  std::lock_guard lock(p.mu);
  return source == url_source::user ? p.user : p.operator_rules;
}

void configure_outbound(const config::config& cfg) {
  auto user = default_user_policy();
  user.allow = ranges_of("outboundAllow", cfg.outbound_allow);
  user.deny = ranges_of("outboundDeny", cfg.outbound_deny);
  outbound_policy op;
  op.deny = user.deny;
  configure_outbound(std::move(user), std::move(op));
}

outbound_counters& outbound_stats() {
  static outbound_counters c;
  return c;
}

}  // namespace hearth::http
