#pragma once
// The URLs of outgoing requests (http/client.hpp's fetch(): uptime probes
// and webhooks, calendar subscriptions, the OTLP exporter): which are
// accepted, and how one is split into what the request needs. Parsed with
// Boost.URL (RFC 3986); no network, no Beast, so that the URL fuzz harness
// (fuzz/url.cpp) runs exactly this code.

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hearth::http {

/// The longest URL accepted, in bytes.
inline constexpr std::size_t kMaxUrlBytes = 2048;

/// Where a request to an accepted URL goes.
struct url_destination {
  bool tls = false;  // https
  /// What to resolve, to send as SNI and to verify the certificate against:
  /// a registered name, an IPv4 address, or an IPv6 address without its
  /// brackets; the same host as `host_header` names.
  std::string host;
  bool host_is_ip = false;  // an address literal: no SNI (RFC 6066 §3)
  /// The port, decimal digits naming 1-65535: the URL's, else 443 (https)
  /// or 80 (http).
  std::string port;
  /// host[:port] as written in the URL, for the Host header (RFC 9110 §7.2).
  std::string host_header;
  /// The origin-form request target (RFC 9112 §3.2.1): path and query as
  /// written, always starting with '/'; the fragment is not sent.
  std::string target;
};

/// The destination of `url`, or why it is not one fetch() accepts (the
/// text url_problem() returns): an absolute URL (RFC 3986 §4.3) with scheme
/// http or https (any case), a non-empty host that is neither an IPvFuture
/// literal nor percent-encoded, no userinfo (user:password@), a port (when
/// given) of 1-65535, and at most kMaxUrlBytes bytes.
std::variant<url_destination, std::string> parse_fetch_url(std::string_view url);

/// Why `url` is not one fetch() accepts, or nullopt when it is (see
/// parse_fetch_url()).
std::optional<std::string> url_problem(std::string_view url);

}  // namespace hearth::http
