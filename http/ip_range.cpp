#include "http/ip_range.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <stdexcept>

namespace hearth::http {
namespace {

using v4 = boost::asio::ip::address_v4;
using v6 = boost::asio::ip::address_v6;

// The address matched against IPv4 blocks: an IPv4-mapped IPv6 address as
// the IPv4 address it maps.
ip_address unmapped(const ip_address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

// Whether the first `prefix` bits of two byte strings of one length agree.
template <std::size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b,
                 unsigned prefix) {
  for (std::size_t i = 0; i < N && prefix > 0; ++i) {
    unsigned bits = prefix >= 8 ? 8 : prefix;
    auto mask = static_cast<unsigned char>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
    prefix -= bits;
  }
  return true;
}

bool in_v4(const v4& a, std::uint32_t net, unsigned prefix) {
  std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (a.to_uint() & mask) == net;
}

// Whether `a` lies in the IPv6 block whose first bytes are `net` (the rest
// zero) with `prefix` bits.
bool in_v6(const v6& a, std::initializer_list<unsigned char> net, unsigned prefix) {
  v6::bytes_type n{};
  std::size_t i = 0;
  for (auto b : net) n[i++] = b;
  return same_prefix(a.to_bytes(), n, prefix);
}

const char* v4_class(const v4& a) {
  struct block {
    std::uint32_t net;
    unsigned prefix;
    const char* name;
  };
  // IANA IPv4 Special-Purpose Address Registry, most specific first.
  static constexpr block blocks[] = {
      {0xffffffffu, 32, "broadcast"},          // 255.255.255.255/32
      {0x00000000u, 8, "unspecified"},         // 0.0.0.0/8 "this network"
      {0x0a000000u, 8, "private"},             // 10.0.0.0/8
      {0x64400000u, 10, "carrier-grade NAT"},  // 100.64.0.0/10
      {0x7f000000u, 8, "loopback"},            // 127.0.0.0/8
      {0xa9fe0000u, 16, "link-local"},         // 169.254.0.0/16
      {0xac100000u, 12, "private"},            // 172.16.0.0/12
      {0xc0000000u, 24, "reserved"},           // 192.0.0.0/24 IETF protocol assignments
      {0xc0000200u, 24, "documentation"},      // 192.0.2.0/24 TEST-NET-1
      {0xc0586300u, 24, "reserved"},           // 192.88.99.0/24 6to4 relay anycast
      {0xc0a80000u, 16, "private"},            // 192.168.0.0/16
      {0xc6120000u, 15, "benchmarking"},       // 198.18.0.0/15
      {0xc6336400u, 24, "documentation"},      // 198.51.100.0/24 TEST-NET-2
      {0xcb007100u, 24, "documentation"},      // 203.0.113.0/24 TEST-NET-3
      {0xe0000000u, 4, "multicast"},           // 224.0.0.0/4
      {0xf0000000u, 4, "reserved"},            // 240.0.0.0/4
  };
  for (const auto& b : blocks)
    if (in_v4(a, b.net, b.prefix)) return b.name;
  return nullptr;
}

const char* v6_class(const v6& a) {
  if (a.is_unspecified()) return "unspecified";
  if (a.is_loopback()) return "loopback";
  if (a.is_v4_mapped()) return v4_class(*embedded_ipv4(a));
  if (in_v6(a, {}, 96)) return "reserved";  // IPv4-compatible, deprecated
  if (in_v6(a, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return "private";  // local-use NAT64
  if (in_v6(a, {0x00, 0x64, 0xff, 0x9b}, 96)) {
    auto c = v4_class(*embedded_ipv4(a));
    return c;  // NAT64 of a public IPv4 address is an ordinary destination
  }
  if (in_v6(a, {0xfc}, 7)) return "private";         // unique local
  if (in_v6(a, {0xfe, 0xc0}, 10)) return "private";  // site-local, deprecated
  if (in_v6(a, {0xfe, 0x80}, 10)) return "link-local";
  if (in_v6(a, {0xff}, 8)) return "multicast";
  if (in_v6(a, {0x20, 0x01, 0x0d, 0xb8}, 32)) return "documentation";
  if (in_v6(a, {0x3f, 0xff, 0xf0, 0x00}, 20)) return "documentation";  // RFC 9637
  if (in_v6(a, {0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48)) return "benchmarking";
  if (in_v6(a, {0x20, 0x02}, 16) || in_v6(a, {0x20, 0x01, 0x00, 0x00}, 32)) {
    // 6to4 and Teredo reach the IPv4 address they carry.
    if (auto c = v4_class(*embedded_ipv4(a))) return c;
    return nullptr;
  }
  if (in_v6(a, {0x20, 0x01}, 23)) return "reserved";  // other IETF protocol assignments
  if (!in_v6(a, {0x20}, 3)) return "reserved";        // not global unicast
  return nullptr;
}

// `a` with every bit past the first `prefix` zero.
ip_address masked(const ip_address& a, unsigned prefix) {
  auto clear = [](auto bytes, unsigned left) {
    for (auto& byte : bytes) {
      unsigned keep = left >= 8 ? 8 : left;
      byte &= static_cast<unsigned char>(0xff << (8 - keep));
      left -= keep;
    }
    return bytes;
  };
  if (a.is_v4()) return v4(clear(a.to_v4().to_bytes(), prefix));
  return v6(clear(a.to_v6().to_bytes(), prefix));
}

}  // namespace

bool ip_range::contains(const ip_address& a) const {
  // One space: an IPv4 address and an IPv4 block are compared as their
  // IPv4-mapped IPv6 forms.
  auto as_v6 = [](const ip_address& x) {
    return x.is_v4() ? boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, x.to_v4())
                     : x.to_v6();
  };
  return same_prefix(as_v6(a).to_bytes(), as_v6(network).to_bytes(),
                     network.is_v4() ? prefix + 96 : prefix);
}

std::string ip_range::to_string() const {
  return network.to_string() + "/" + std::to_string(prefix);
}

std::optional<ip_address> parse_ip_address(std::string_view text) {
  // Asio accepts an IPv6 zone ("fe80::1%eth0"), which names an interface,
  // not an address.
  if (text.empty() || text.size() > 64 || text.find('%') != std::string_view::npos)
    return std::nullopt;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

ip_range parse_ip_range(std::string_view text) {
  auto slash = text.find('/');
  auto addr_text = text.substr(0, slash);
  auto a = parse_ip_address(addr_text);
  if (!a) throw std::invalid_argument("\"" + std::string(text) + "\": not an IP address");
  const unsigned bits = a->is_v4() ? 32 : 128;
  unsigned prefix = bits;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || p.size() > 3 || ec != std::errc() || end != p.data() + p.size() ||
        prefix > bits)
      throw std::invalid_argument("\"" + std::string(text) + "\": prefix length must be 0-" +
                                  std::to_string(bits));
  }
  // The host bits must be zero: "10.1.0.0/8" is more likely a typo than a
  // wish for 10.0.0.0/8.
  if (masked(*a, prefix) != *a)
    throw std::invalid_argument("\"" + std::string(text) +
                                "\": has bits set past the prefix length");
  return {*a, prefix};
}

std::vector<ip_range> parse_ip_ranges(std::string_view text) {
  std::vector<ip_range> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) throw std::invalid_argument("an empty item in the list");
    out.push_back(parse_ip_range(item));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) throw std::invalid_argument("an empty item in the list");
  }
  return out;
}

std::optional<v4> embedded_ipv4(const v6& a) {
  auto b = a.to_bytes();
  auto at = [&](std::size_t i) { return v4(v4::bytes_type{b[i], b[i + 1], b[i + 2], b[i + 3]}); };
  if (a.is_v4_mapped() || (in_v6(a, {}, 96) && !a.is_unspecified() && !a.is_loopback()))
    return at(12);
  if (in_v6(a, {0x00, 0x64, 0xff, 0x9b}, 96)) return at(12);
  if (in_v6(a, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return at(12);
  if (in_v6(a, {0x20, 0x02}, 16)) return at(2);
  if (in_v6(a, {0x20, 0x01, 0x00, 0x00}, 32))
    return v4(~at(12).to_uint());  // Teredo: the client's address, inverted
  return std::nullopt;
}

bool any_contains(const std::vector<ip_range>& ranges, const ip_address& a) {
  std::optional<ip_address> inner;
  if (a.is_v6())
    if (auto e = embedded_ipv4(a.to_v6())) inner = ip_address(*e);
  for (const auto& r : ranges)
    if (r.contains(a) || (inner && r.contains(*inner))) return true;
  return false;
}

const char* special_purpose_class(const ip_address& a) {
  return a.is_v4() ? v4_class(a.to_v4()) : v6_class(a.to_v6());
}

namespace {

// An X-Forwarded-For entry: an address, optionally with brackets (IPv6)
// and a port.
std::optional<ip_address> forwarded_entry(std::string_view e) {
  while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
  while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
  if (auto a = parse_ip_address(e)) return a;
  if (!e.empty() && e.front() == '[') {  // [v6] or [v6]:port
    auto close = e.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto a = parse_ip_address(e.substr(1, close - 1));
    if (!a || !a->is_v6()) return std::nullopt;
    return a;
  }
  auto colon = e.find(':');  // v4:port
  if (colon == std::string_view::npos || e.find(':', colon + 1) != std::string_view::npos)
    return std::nullopt;
  auto a = parse_ip_address(e.substr(0, colon));
  if (!a || !a->is_v4()) return std::nullopt;
  return a;
}

}  // namespace

bool in_ranges(const std::vector<ip_range>& ranges, std::string_view text) {
  auto a = parse_ip_address(text);
  if (!a) return false;
  for (const auto& r : ranges)
    if (r.contains(*a)) return true;
  return false;
}

std::string forwarded_client(const std::vector<ip_range>& trusted, std::string_view peer,
                             std::string_view xff) {
  // Trust is by the address itself: an IPv6 form carrying a trusted IPv4
  // address is not that proxy.
  auto believed = [&](const ip_address& a) {
    for (const auto& r : trusted)
      if (r.contains(a)) return true;
    return false;
  };
  auto hop = parse_ip_address(peer);
  if (xff.empty() || !hop || !believed(*hop)) return std::string(peer);
  while (true) {
    auto comma = xff.rfind(',');
    auto entry = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
    auto a = forwarded_entry(entry);
    if (!a) break;  // the hop that sent it is the client we know of
    hop = unmapped(*a);
    if (!believed(*hop) || comma == std::string_view::npos) break;
    xff = xff.substr(0, comma);
  }
  return hop->to_string();
}

bool is_loopback(const ip_address& a) { return unmapped(a).is_loopback(); }

}  // namespace hearth::http
