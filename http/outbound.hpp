#pragma once
// Which addresses an outgoing request (http/client.hpp's fetch()) may
// connect to. Every fetch names whose URL it follows:
//
//   - url_source::user: a URL an ordinary signed-in user supplied (calendar
//     subscriptions; any later route that fetches a URL for a user). By
//     default it must not reach an internal address
//     (special_purpose_class(), http/ip_range.hpp: loopback, private,
//     link-local with cloud metadata, CGNAT, multicast, unspecified, reserved
//     and the IPv6 forms that carry any of them), so that a user cannot make
//     the server read internal services (OWASP API Security Top 10 2023,
//     API7 "Server Side Request Forgery"). `outboundAllow` exempts ranges.
//     Its network errors are reported as one message, so that the server
//     cannot be used to tell a closed port from a filtered or refused one.
//   - url_source::operator_config: a URL only an operator can set (uptime
//     sites and their webhook, the OTLP endpoint). Any address by default,
//     since watching a home or office network is a main use of an uptime
//     monitor; `outboundDeny` refuses ranges.
//
// The check runs on the addresses DNS resolution returned, and fetch()
// connects only to addresses that passed it, so a name that resolves to an
// internal address (or to one on the next lookup: DNS rebinding) is refused
// too. Redirects are never followed.

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "http/ip_range.hpp"

namespace hearth::http {

/// Whose say-so a fetch's URL comes from (see the file comment).
enum class url_source { user, operator_config };

/// The rules for one url_source.
struct outbound_policy {
  /// Refuse special-purpose (internal) addresses, except those in `allow`.
  bool refuse_internal = false;
  std::vector<ip_range> allow;
  /// Always refused, whatever `allow` says.
  std::vector<ip_range> deny;
  /// Report every failure before a response arrived as
  /// kConcealedNetworkError (user fetches).
  bool conceal_network_errors = false;
};

/// The one error text of a user fetch that got no response, whatever the
/// cause (refused address, host not found, connection refused, timeout,
/// TLS failure).
inline constexpr const char* kConcealedNetworkError =
    "no response: the host was not found, could not be reached or did not answer in time, "
    "or its address is not allowed (internal addresses are refused)";

/// Why connecting to `a` is refused under `p` ("internal address
/// (loopback)", "address in outboundDeny (10.0.0.0/8)"), or "" when allowed.
std::string refusal(const outbound_policy& p, const ip_address& a);

/// The policies fetch() applies: `user` to url_source::user, `operator_rules`
/// to url_source::operator_config. Until configure_outbound() is called:
/// users' fetches refuse internal addresses and conceal network errors,
/// operators' fetches reach anything.
void configure_outbound(outbound_policy user, outbound_policy operator_rules);

/// The policy in force for `source` (a copy: configure_outbound() may run
/// concurrently).
outbound_policy outbound_policy_for(url_source source);

/// The policies of `cfg`: outboundAllow (CIDRs a user's fetch may reach
/// though internal) and outboundDeny (CIDRs no fetch may reach). Throws
/// config::config_error naming the key for a malformed range.
void configure_outbound(const config::config& cfg);

/// Fetches refused by the policy since start, by source (for /metrics).
struct outbound_counters {
  std::atomic<std::uint64_t> user_refused{0};
  std::atomic<std::uint64_t> operator_refused{0};
};
outbound_counters& outbound_stats();

}  // namespace hearth::http
