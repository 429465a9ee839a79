// Fuzzes the outgoing-request address check (http/outbound.hpp over
// http/ip_range.hpp): the special-purpose class of every address, in every
// IPv6 form that carries an IPv4 one, the policy's refusal, CIDR lists and
// the client named by X-Forwarded-For behind trusted proxies.
//
// The first byte picks what the rest is:
//   0: 4 bytes, an IPv4 address. Its class is the same as that of its
//      IPv4-mapped, NAT64 (64:ff9b::/96), 6to4 and Teredo forms; its
//      IPv4-compatible form (::a.b.c.d) is "reserved" or, for 0.0.0.0 and
//      0.0.0.1, "unspecified" and "loopback"; a user's fetch is refused
//      exactly when it has a class, in each form; a /32 of it allows it in
//      each form; its text parses back to it.
//   1: 16 bytes, an IPv6 address: a class or none, refused for users
//      exactly then; when it carries an IPv4 address that has a class (other
//      than through the deprecated compatible form), it is refused too.
//   2: text, a CIDR list: parse_ip_ranges() either throws
//      std::invalid_argument or returns blocks whose text parses back to the
//      same block and that contain their own network address.
//   3: text, "peer|xff" with the trusted proxies 127.0.0.1/32, 10.0.0.0/8,
//      fc00::/7: forwarded_client() returns the peer, or an address that is
//      not trusted, or (every hop trusted) a trusted one named in xff.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "check.hpp"
#include "http/ip_range.hpp"
#include "http/outbound.hpp"

namespace {

using namespace hearth::http;
using v4 = boost::asio::ip::address_v4;
using v6 = boost::asio::ip::address_v6;

std::string name(const char* c) { return c ? c : "(none)"; }

v6 with_prefix(std::initializer_list<unsigned char> head, const v4& a, std::size_t at,
               bool invert = false) {
  v6::bytes_type b{};
  std::size_t i = 0;
  for (auto x : head) b[i++] = x;
  auto q = a.to_bytes();
  for (std::size_t k = 0; k < 4; ++k) b[at + k] = invert ? static_cast<unsigned char>(~q[k]) : q[k];
  return v6(b);
}

const outbound_policy& user_policy() {
  static const outbound_policy p = [] {
    outbound_policy x;
    x.refuse_internal = true;
    x.conceal_network_errors = true;
    return x;
  }();
  return p;
}

void check_v4(const v4& a) {
  const std::string c = name(special_purpose_class(ip_address(a)));
  const v6 forms[] = {
      boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a),
      with_prefix({0x00, 0x64, 0xff, 0x9b}, a, 12),                                // NAT64
      with_prefix({0x20, 0x02}, a, 2),                                             // 6to4
      with_prefix({0x20, 0x01, 0x00, 0x00, 0x41, 0x36, 0xe3, 0x78}, a, 12, true),  // Teredo
  };
  const bool refused = !refusal(user_policy(), ip_address(a)).empty();
  FUZZ_CHECK(refused == (c != "(none)"));
  outbound_policy allowed = user_policy();
  allowed.allow.push_back(parse_ip_range(a.to_string()));
  FUZZ_CHECK(refusal(allowed, ip_address(a)).empty());
  for (const auto& f : forms) {
    FUZZ_CHECK(name(special_purpose_class(ip_address(f))) == c);
    FUZZ_CHECK(!refusal(user_policy(), ip_address(f)).empty() == refused);
    FUZZ_CHECK(refusal(allowed, ip_address(f)).empty());
    auto inner = embedded_ipv4(f);
    FUZZ_CHECK(inner && *inner == a);
  }
  // ::a.b.c.d
  const auto compat = with_prefix({}, a, 12);
  const std::string cc = name(special_purpose_class(ip_address(compat)));
  if (a.to_uint() == 0)
    FUZZ_CHECK(cc == "unspecified");
  else if (a.to_uint() == 1)
    FUZZ_CHECK(cc == "loopback");
  else
    FUZZ_CHECK(cc == "reserved");
  auto back = parse_ip_address(a.to_string());
  FUZZ_CHECK(back && *back == ip_address(a));
}

void check_v6(const v6& a) {
  const char* c = special_purpose_class(ip_address(a));
  FUZZ_CHECK(refusal(user_policy(), ip_address(a)).empty() == (c == nullptr));
  if (auto inner = embedded_ipv4(a)) {
    const bool compat = !a.is_v4_mapped() && a.to_bytes()[0] == 0 && a.to_bytes()[1] == 0;
    if (!compat && special_purpose_class(ip_address(*inner))) FUZZ_CHECK(c != nullptr);
  }
  auto back = parse_ip_address(a.to_string());
  FUZZ_CHECK(back && *back == ip_address(a));
}

void check_ranges(std::string_view text) {
  try {
    for (const auto& r : parse_ip_ranges(text)) {
      auto again = parse_ip_range(r.to_string());
      FUZZ_CHECK(again.network == r.network && again.prefix == r.prefix);
      FUZZ_CHECK(r.contains(r.network));
      FUZZ_CHECK(r.prefix <= (r.network.is_v4() ? 32u : 128u));
    }
  } catch (const std::invalid_argument&) {
  }
}

void check_forwarded(std::string_view text) {
  static const auto trusted = parse_ip_ranges("127.0.0.1/32, 10.0.0.0/8, fc00::/7");
  auto bar = text.find('|');
  if (bar == std::string_view::npos) return;
  auto peer = text.substr(0, bar);
  auto xff = text.substr(bar + 1);
  auto client = forwarded_client(trusted, peer, xff);
  if (client == peer) return;
  // The peer was trusted, and the client is an address.
  FUZZ_CHECK(in_ranges(trusted, peer));
  auto a = parse_ip_address(client);
  FUZZ_CHECK(a.has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto mode = data[0] % 4;
  ++data;
  --size;
  if (mode == 0 && size >= 4) {
    v4::bytes_type b;
    std::memcpy(b.data(), data, 4);
    check_v4(v4(b));
  } else if (mode == 1 && size >= 16) {
    v6::bytes_type b;
    std::memcpy(b.data(), data, 16);
    check_v6(v6(b));
  } else if (mode == 2) {
    check_ranges(std::string_view(reinterpret_cast<const char*>(data), size));
  } else if (mode == 3) {
    check_forwarded(std::string_view(reinterpret_cast<const char*>(data), size));
  }
  return 0;
}
