// Fuzzes the URLs of outgoing requests (http/url.hpp): url_problem(), which
// the uptime monitor's sites and webhook, calendar subscriptions and the
// OTLP endpoint are checked with, and parse_fetch_url(), the split of an
// accepted URL into what fetch() (http/client.cpp) connects to and sends.
// Boost.URL's parser is compiled into this harness (fuzz/boost_url.cpp), so
// it is instrumented and checked too.
//
// Invariants: url_problem() refuses exactly the URLs parse_fetch_url()
// refuses, with one of its messages; an accepted URL is at most 2048 bytes
// with scheme http or https (tls for https only), a non-empty host without
// control characters, spaces or NUL (it is resolved and sent as SNI as a C
// string), the same host as the Host header names, a port of canonical
// decimal digits 1-65535 (the default one when the URL gives none), a Host
// header and an origin-form target of visible ASCII only (nothing can end
// the request line or a header early), the target starting with '/' and
// holding no fragment. The request fetch() writes for it (Beast, as
// exchange_on() builds it) parses back with the same target and Host.

#include "http/url.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "check.hpp"

namespace {

using namespace hearth;
namespace bhttp = boost::beast::http;

bool visible_ascii(std::string_view s) {
  for (char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

bool starts_with_scheme(std::string_view url, std::string_view scheme) {
  if (url.size() <= scheme.size() || url[scheme.size()] != ':') return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(url[i])) != scheme[i]) return false;
  return true;
}

// Decimal digits without a leading zero naming 1..65535.
bool canonical_port(std::string_view p) {
  if (p.empty() || p.size() > 5 || p.front() == '0') return false;
  unsigned long n = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned long>(c - '0');
  }
  return n >= 1 && n <= 65535;
}

void check_refusal(const std::string& problem) {
  static const std::set<std::string> known = {
      "longer than 2048 bytes",
      "not an absolute URL",
      "scheme must be http or https",
      "has no host",
      "must not contain user information (user:password@)",
      "unsupported host",
      "bad port",
      "host must not be percent-encoded",
  };
  if (!known.count(problem)) std::fprintf(stderr, "problem: %s\n", problem.c_str());
  FUZZ_CHECK(known.count(problem) == 1);
}

void check_destination(std::string_view url, const http::url_destination& d) {
  FUZZ_CHECK(url.size() <= http::kMaxUrlBytes);
  FUZZ_CHECK(starts_with_scheme(url, d.tls ? "https" : "http"));

  FUZZ_CHECK(!d.host.empty());
  for (char c : d.host) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  FUZZ_CHECK(canonical_port(d.port));

  // The Host header names the host that is resolved and verified.
  FUZZ_CHECK(!d.host_header.empty() && visible_ascii(d.host_header));
  std::string_view authority = d.host_header;
  if (auto colon = authority.rfind(':'); colon != std::string_view::npos &&
                                         authority.back() != ']' &&
                                         authority.find(']', colon) == std::string_view::npos)
    authority = authority.substr(0, colon);
  if (!authority.empty() && authority.front() == '[') {
    FUZZ_CHECK(d.host_is_ip && authority.back() == ']');
    authority = authority.substr(1, authority.size() - 2);
  }
  FUZZ_CHECK(authority == d.host);
  if (d.host_is_ip)
    for (char c : d.host)
      FUZZ_CHECK(std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':');

  FUZZ_CHECK(!d.target.empty() && d.target.front() == '/');
  FUZZ_CHECK(visible_ascii(d.target));
  FUZZ_CHECK(d.target.find('#') == std::string::npos);

  // The request as fetch() writes it (http/client.cpp, exchange_on), read
  // back as a server would.
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, d.target, 11};
  req.set(bhttp::field::host, d.host_header);
  req.set(bhttp::field::user_agent, "hearth");
  req.set(bhttp::field::connection, "close");
  std::ostringstream wire;
  wire << req;
  const std::string text = wire.str();
  bhttp::request_parser<bhttp::string_body> parser;
  parser.eager(true);
  boost::beast::error_code ec;
  auto used = parser.put(boost::asio::buffer(text), ec);
  FUZZ_CHECK(!ec && parser.is_done() && used == text.size());
  FUZZ_CHECK(parser.get().target() == d.target);
  FUZZ_CHECK(parser.get()[bhttp::field::host] == d.host_header);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view url(reinterpret_cast<const char*>(data), size);
  auto parsed = http::parse_fetch_url(url);
  auto problem = http::url_problem(url);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    FUZZ_CHECK(problem && *problem == *why);
    check_refusal(*why);
    return 0;
  }
  FUZZ_CHECK(!problem);
  check_destination(url, std::get<http::url_destination>(parsed));
  return 0;
}
