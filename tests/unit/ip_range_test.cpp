// IP ranges, the special-purpose classes a user's fetch may not reach
// (http/ip_range.hpp), the outgoing-request policy (http/outbound.hpp) and
// the client named by X-Forwarded-For behind trusted proxies. No network:
// addresses are only classified here (tests/integration/outbound_test.cpp
// fetches for real, on loopback).

#include "http/ip_range.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "http/outbound.hpp"

namespace hearth::http {
namespace {

ip_address addr(const char* text) {
  auto a = parse_ip_address(text);
  if (!a) throw std::invalid_argument(text);
  return *a;
}

std::string class_of(const char* text) {
  const char* c = special_purpose_class(addr(text));
  return c ? c : "";
}

TEST(ip_range, parses_blocks_and_lone_addresses_and_refuses_the_rest) {
  auto r = parse_ip_range("10.0.0.0/8");
  EXPECT_EQ(r.to_string(), "10.0.0.0/8");
  EXPECT_TRUE(r.contains(addr("10.255.1.2")));
  EXPECT_FALSE(r.contains(addr("11.0.0.1")));
  EXPECT_TRUE(r.contains(addr("::ffff:10.1.2.3")));  // mapped: matched as IPv4
  EXPECT_FALSE(r.contains(addr("2001:db8::1")));
  EXPECT_EQ(parse_ip_range("192.0.2.7").to_string(), "192.0.2.7/32");
  EXPECT_EQ(parse_ip_range("fd00::/8").to_string(), "fd00::/8");
  EXPECT_TRUE(parse_ip_range("fd00::/8").contains(addr("fdab::1")));
  EXPECT_TRUE(parse_ip_range("0.0.0.0/0").contains(addr("8.8.8.8")));
  EXPECT_TRUE(parse_ip_range("::/0").contains(addr("2606:4700::1")));
  EXPECT_TRUE(parse_ip_range("172.16.0.0/12").contains(addr("172.31.255.255")));
  EXPECT_FALSE(parse_ip_range("172.16.0.0/12").contains(addr("172.32.0.0")));
  for (const char* bad :
       {"", "10.0.0.0/33", "10.1.0.0/8", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/08x",
        "example.com/8", "fe80::1%eth0", "2130706433", "0x7f.0.0.1", "127.1", "10.0.0.0/-1"})
    EXPECT_THROW(parse_ip_range(bad), std::invalid_argument) << bad;
  auto list = parse_ip_ranges(" 10.0.0.0/8 , 192.168.1.5,fc00::/7");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1].to_string(), "192.168.1.5/32");
  EXPECT_TRUE(parse_ip_ranges("").empty());
  EXPECT_THROW(parse_ip_ranges("10.0.0.0/8,"), std::invalid_argument);
  EXPECT_THROW(parse_ip_ranges("10.0.0.0/8,,fc00::/7"), std::invalid_argument);
}

TEST(ip_range, names_every_special_purpose_ipv4_block) {
  EXPECT_EQ(class_of("127.0.0.1"), "loopback");
  EXPECT_EQ(class_of("127.255.255.254"), "loopback");
  EXPECT_EQ(class_of("0.0.0.0"), "unspecified");
  EXPECT_EQ(class_of("0.1.2.3"), "unspecified");
  EXPECT_EQ(class_of("10.0.0.1"), "private");
  EXPECT_EQ(class_of("172.16.0.1"), "private");
  EXPECT_EQ(class_of("172.31.255.255"), "private");
  EXPECT_EQ(class_of("192.168.1.1"), "private");
  EXPECT_EQ(class_of("169.254.169.254"), "link-local");  // cloud metadata
  EXPECT_EQ(class_of("100.64.0.1"), "carrier-grade NAT");
  EXPECT_EQ(class_of("100.127.255.255"), "carrier-grade NAT");
  EXPECT_EQ(class_of("224.0.0.1"), "multicast");
  EXPECT_EQ(class_of("239.255.255.250"), "multicast");
  EXPECT_EQ(class_of("255.255.255.255"), "broadcast");
  EXPECT_EQ(class_of("240.0.0.1"), "reserved");
  EXPECT_EQ(class_of("192.0.0.8"), "reserved");
  EXPECT_EQ(class_of("192.0.2.1"), "documentation");
  EXPECT_EQ(class_of("198.18.0.1"), "benchmarking");
  // Ordinary addresses next to the blocks.
  for (const char* ok : {"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.0", "100.63.255.255",
                         "100.128.0.0", "169.253.255.255", "192.167.255.255", "11.0.0.0",
                         "126.255.255.255", "128.0.0.0", "223.255.255.255"})
    EXPECT_EQ(class_of(ok), "") << ok;
}

TEST(ip_range, names_ipv6_blocks_and_the_ipv4_an_ipv6_address_carries) {
  EXPECT_EQ(class_of("::1"), "loopback");
  EXPECT_EQ(class_of("::"), "unspecified");
  EXPECT_EQ(class_of("fc00::1"), "private");
  EXPECT_EQ(class_of("fd12:3456::1"), "private");
  EXPECT_EQ(class_of("fec0::1"), "private");
  EXPECT_EQ(class_of("fe80::1"), "link-local");
  EXPECT_EQ(class_of("febf::1"), "link-local");
  EXPECT_EQ(class_of("ff02::1"), "multicast");
  EXPECT_EQ(class_of("2001:db8::1"), "documentation");
  EXPECT_EQ(class_of("100::1"), "reserved");
  EXPECT_EQ(class_of("4000::1"), "reserved");  // outside 2000::/3
  // IPv4-mapped, -compatible, NAT64, 6to4 and Teredo forms of loopback,
  // private and link-local addresses.
  EXPECT_EQ(class_of("::ffff:127.0.0.1"), "loopback");
  EXPECT_EQ(class_of("::ffff:7f00:1"), "loopback");
  EXPECT_EQ(class_of("::ffff:169.254.169.254"), "link-local");
  EXPECT_EQ(class_of("::ffff:10.0.0.1"), "private");
  EXPECT_EQ(class_of("::127.0.0.1"), "reserved");
  EXPECT_EQ(class_of("::8.8.8.8"), "reserved");
  EXPECT_EQ(class_of("64:ff9b::127.0.0.1"), "loopback");
  EXPECT_EQ(class_of("64:ff9b::a9fe:a9fe"), "link-local");
  EXPECT_EQ(class_of("64:ff9b:1::1"), "private");
  EXPECT_EQ(class_of("2002:7f00:1::"), "loopback");
  EXPECT_EQ(class_of("2002:c0a8:0101::1"), "private");
  // Teredo: the client's IPv4 address, inverted (127.0.0.1 -> 80ff:fffe).
  EXPECT_EQ(class_of("2001:0:4136:e378:8000:63bf:80ff:fffe"), "loopback");
  // Ordinary: global unicast, and the forms that carry a public address.
  for (const char* ok : {"2606:4700:4700::1111", "2a00:1450::1", "::ffff:8.8.8.8",
                         "64:ff9b::8.8.8.8", "2002:0808:0808::1"})
    EXPECT_EQ(class_of(ok), "") << ok;
  ASSERT_TRUE(embedded_ipv4(addr("2002:c0a8:0101::1").to_v6()));
  EXPECT_EQ(embedded_ipv4(addr("2002:c0a8:0101::1").to_v6())->to_string(), "192.168.1.1");
  EXPECT_FALSE(embedded_ipv4(addr("2606:4700::1").to_v6()));
  EXPECT_FALSE(embedded_ipv4(addr("::1").to_v6()));
}

outbound_policy policy(bool refuse_internal, const char* allow, const char* deny) {
  outbound_policy p;
  p.refuse_internal = refuse_internal;
  p.allow = parse_ip_ranges(allow);
  p.deny = parse_ip_ranges(deny);
  return p;
}

TEST(outbound_policy, refuses_internal_addresses_for_users_with_allow_and_deny) {
  auto user = policy(true, "127.0.0.1/32", "");
  EXPECT_EQ(refusal(user, addr("8.8.8.8")), "");
  EXPECT_EQ(refusal(user, addr("127.0.0.1")), "");  // allowed
  EXPECT_EQ(refusal(user, addr("::ffff:127.0.0.1")), "");
  EXPECT_EQ(refusal(user, addr("127.0.0.2")), "internal address (loopback)");
  EXPECT_EQ(refusal(user, addr("::1")), "internal address (loopback)");
  EXPECT_EQ(refusal(user, addr("169.254.169.254")), "internal address (link-local)");
  EXPECT_EQ(refusal(user, addr("2002:0a00:0001::")), "internal address (private)");

  auto op = policy(false, "", "10.0.0.0/8, 169.254.0.0/16");
  EXPECT_EQ(refusal(op, addr("127.0.0.1")), "");  // operators may watch internal hosts
  EXPECT_EQ(refusal(op, addr("192.168.1.1")), "");
  EXPECT_EQ(refusal(op, addr("10.1.2.3")), "address in outboundDeny (10.0.0.0/8)");
  EXPECT_EQ(refusal(op, addr("::ffff:10.1.2.3")), "address in outboundDeny (10.0.0.0/8)");
  EXPECT_EQ(refusal(op, addr("64:ff9b::a9fe:a9fe")), "address in outboundDeny (169.254.0.0/16)");

  // Deny wins over allow.
  auto both = policy(true, "10.0.0.0/8", "10.9.0.0/16");
  EXPECT_EQ(refusal(both, addr("10.1.0.1")), "");
  EXPECT_EQ(refusal(both, addr("10.9.0.1")), "address in outboundDeny (10.9.0.0/16)");
}

TEST(outbound_policy, a_malformed_range_in_the_configuration_names_its_key) {
  config::config c;
  c.outbound_allow = "10.0.0.0/8,nonsense";
  try {
    configure_outbound(c);
    FAIL() << "no error";
  } catch (const config::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("outboundAllow: \"nonsense\""), std::string::npos)
        << e.what();
  }
  c.outbound_allow = "";
  c.outbound_deny = "10.0.0.0/40";
  EXPECT_THROW(configure_outbound(c), config::config_error);
  // The defaults: users refused internal addresses, operators not.
  configure_outbound(config::config{});
  EXPECT_EQ(refusal(outbound_policy_for(url_source::user), addr("127.0.0.1")),
            "internal address (loopback)");
  EXPECT_TRUE(outbound_policy_for(url_source::user).conceal_network_errors);
  EXPECT_EQ(refusal(outbound_policy_for(url_source::operator_config), addr("127.0.0.1")), "");
}

TEST(forwarded_client, believes_x_forwarded_for_only_from_trusted_proxies) {
  const auto trusted = parse_ip_ranges("127.0.0.1/32, 10.0.0.0/8");
  // No trusted peer: the header is ignored.
  EXPECT_EQ(forwarded_client(trusted, "198.51.100.7", "127.0.0.1"), "198.51.100.7");
  EXPECT_EQ(forwarded_client({}, "127.0.0.1", "203.0.113.9"), "127.0.0.1");
  // The proxy appended the real client; what the client sent before it is
  // not believed.
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "203.0.113.9"), "203.0.113.9");
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "127.0.0.1, 203.0.113.9"), "203.0.113.9");
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.5"),
            "203.0.113.9");
  // Every hop trusted: the leftmost.
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "10.0.0.7,10.0.0.5"), "10.0.0.7");
  // Ports and brackets; an IPv4-mapped entry is the IPv4 client.
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "203.0.113.9:5555"), "203.0.113.9");
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "::ffff:203.0.113.9"), "203.0.113.9");
  // A malformed entry ends the walk at the hop that sent it.
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "junk"), "127.0.0.1");
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "203.0.113.9, junk, 10.0.0.5"), "10.0.0.5");
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", "[::1"), "127.0.0.1");
  EXPECT_EQ(forwarded_client(trusted, "127.0.0.1", ""), "127.0.0.1");
  EXPECT_TRUE(in_ranges(trusted, "10.2.3.4"));
  EXPECT_FALSE(in_ranges(trusted, "not an address"));
}

}  // namespace
}  // namespace hearth::http
