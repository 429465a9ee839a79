#include "http/url.hpp"

#include <boost/url/parse.hpp>
#include <string>
#include <string_view>

namespace hearth::http {

std::variant<url_destination, std::string> parse_fetch_url(std::string_view url) {
  if (url.size() > kMaxUrlBytes) return "longer than 2048 bytes";
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return "not an absolute URL";
  auto u = *parsed;
  url_destination d;
  if (u.scheme_id() == boost::urls::scheme::https)
    d.tls = true;
  else if (u.scheme_id() != boost::urls::scheme::http)
    return "scheme must be http or https";
  if (!u.has_authority() || u.encoded_host().empty()) return "has no host";
  if (u.has_userinfo()) return "must not contain user information (user:password@)";
  if (u.host_type() == boost::urls::host_type::ipvfuture) return "unsupported host";
  // A registered name is resolved, sent as SNI and verified as a C string
  // after percent-decoding, but the Host header carries it as written:
  // "a%00.example" would resolve "a", "ex%61mple.com" would name two hosts.
  if (std::string_view(u.encoded_host()).find('%') != std::string_view::npos)
    return "host must not be percent-encoded";
  if (u.has_port() && u.port_number() == 0) return "bad port";
  d.host = u.host_address();
  d.host_is_ip = u.host_type() == boost::urls::host_type::ipv4 ||
                 u.host_type() == boost::urls::host_type::ipv6;
  // The number, not the text: "00080" is resolved as 80 either way.
  d.port = u.has_port() ? std::to_string(u.port_number()) : (d.tls ? "443" : "80");
  d.host_header = std::string(u.encoded_host_and_port());
  d.target = std::string(u.encoded_target());
  if (d.target.empty() || d.target.front() != '/') d.target.insert(0, "/");
  return d;
}

std::optional<std::string> url_problem(std::string_view url) {
  auto parsed = parse_fetch_url(url);
  if (auto* problem = std::get_if<std::string>(&parsed)) return *problem;
  return std::nullopt;
}

}  // namespace hearth::http
