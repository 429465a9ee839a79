#pragma once
// IP address ranges (CIDR blocks, RFC 4632; IPv6 prefixes, RFC 4291 §2.3)
// and the special-purpose addresses that an outgoing request made on a
// user's say-so must not reach (IANA's IPv4 and IPv6 Special-Purpose Address
// Registries, RFC 6890). Used by the outgoing-request policy
// (http/outbound.hpp), the operator routes' loopback check and the trusted
// proxies of X-Forwarded-For (http/middleware.hpp, http/server.hpp). Pure
// code on Asio's address types: no network, no Beast, so that the fuzz
// harness fuzz/outbound_address.cpp runs exactly this code.

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::http {

using ip_address = boost::asio::ip::address;

/// One block of addresses: `network` with every bit past `prefix` zero,
/// `prefix` 0-32 (IPv4) or 0-128 (IPv6).
struct ip_range {
  ip_address network;
  unsigned prefix = 0;

  /// Whether `a` lies in the block. IPv4 addresses and blocks are matched
  /// as their IPv4-mapped IPv6 forms (::ffff:a.b.c.d, RFC 4291 §2.5.5.2):
  /// "127.0.0.0/8" contains ::ffff:127.0.0.1, "::ffff:0:0/96" and "::/0"
  /// contain every IPv4 address.
  bool contains(const ip_address& a) const;
  /// "10.0.0.0/8", "fc00::/7".
  std::string to_string() const;
};

/// Parses "10.0.0.0/8", "fd00::/8" or a lone address (a /32 or /128 block).
/// The address must be in its standard form (dotted quad; RFC 4291 §2.2
/// text) and the host bits past the prefix zero. Throws
/// std::invalid_argument with the reason.
ip_range parse_ip_range(std::string_view text);

/// A comma-separated list of parse_ip_range() blocks; spaces around an item
/// are ignored, "" is the empty list. Throws std::invalid_argument naming
/// the bad item.
std::vector<ip_range> parse_ip_ranges(std::string_view text);

/// Whether any block of `ranges` contains `a`, or contains the IPv4 address
/// embedded_ipv4() finds in `a`.
bool any_contains(const std::vector<ip_range>& ranges, const ip_address& a);

/// Whether a block of `ranges` contains the address `text` names (exact
/// blocks only, with IPv4-mapped addresses as IPv4; no embedded forms).
/// false when `text` is no address.
bool in_ranges(const std::vector<ip_range>& ranges, std::string_view text);

/// The IPv4 address an IPv6 address carries, for the forms that reach an
/// IPv4 host: IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96, RFC 4291
/// §2.5.5.1, deprecated), NAT64 (64:ff9b::/96, RFC 6052; 64:ff9b:1::/48,
/// RFC 8215), 6to4 (2002::/16, RFC 3056 §2) and Teredo's client address
/// (2001::/32, RFC 4380 §4, stored inverted). nullopt for other addresses.
std::optional<boost::asio::ip::address_v4> embedded_ipv4(const boost::asio::ip::address_v6& a);

/// The special-purpose class of `a` that a user's fetch must not reach, or
/// nullptr for an ordinary (global unicast) address: "unspecified",
/// "loopback", "private" (RFC 1918, fc00::/7, fec0::/10, 64:ff9b:1::/48),
/// "link-local" (169.254.0.0/16 with cloud metadata at 169.254.169.254,
/// fe80::/10), "carrier-grade NAT" (100.64.0.0/10, RFC 6598), "multicast",
/// "broadcast", "documentation", "benchmarking" or "reserved" (any other
/// special-purpose block, and IPv6 outside 2000::/3). An IPv6 address that
/// carries an IPv4 address (embedded_ipv4()) has that address's class,
/// except that the IPv4-compatible form is always "reserved".
const char* special_purpose_class(const ip_address& a);

/// Whether `a` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104).
bool is_loopback(const ip_address& a);

/// The address `text` names (IPv4 dotted quad or IPv6 text without a
/// zone), or nullopt.
std::optional<ip_address> parse_ip_address(std::string_view text);

/// The client of a request whose TCP peer is `peer` and whose
/// X-Forwarded-For field values, joined with commas, are `xff` (the de-facto
/// form of RFC 7239 §5.2's "for"; each proxy appends the address it got the
/// request from). Only proxies in `trusted` are believed: when `peer` is one,
/// the entries are read right to left and the first that is not in `trusted`
/// is the client; when every entry is trusted, the leftmost one is; an entry
/// that is not an address (a port or brackets are allowed: "[::1]:80",
/// "192.0.2.1:80") ends the walk at the hop that sent it. Otherwise, and when
/// `xff` is empty, the client is `peer`. Returns the address as text.
std::string forwarded_client(const std::vector<ip_range>& trusted, std::string_view peer,
                             std::string_view xff);

}  // namespace hearth::http
