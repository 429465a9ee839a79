// The URLs of outgoing requests (http/url.hpp): which are accepted and how
// an accepted one is split for fetch(). The fuzz harness fuzz/url.cpp
// checks the same properties on generated URLs.
#include "http/url.hpp"

#include <gtest/gtest.h>

namespace hearth::http {
namespace {

url_destination accepted(std::string_view url) {
  auto parsed = parse_fetch_url(url);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << url << ": " << *problem;
    return {};
  }
  EXPECT_EQ(url_problem(url), std::nullopt) << url;
  return std::get<url_destination>(parsed);
}

TEST(FetchUrl, SplitsAnAcceptedUrl) {
  auto d = accepted("https://Example.COM/a/b?c=d#frag");
  EXPECT_TRUE(d.tls);
  EXPECT_EQ(d.host, "Example.COM");
  EXPECT_FALSE(d.host_is_ip);
  EXPECT_EQ(d.port, "443");
  EXPECT_EQ(d.host_header, "Example.COM");
  EXPECT_EQ(d.target, "/a/b?c=d");

  d = accepted("http://[::1]:8080?y");
  EXPECT_FALSE(d.tls);
  EXPECT_EQ(d.host, "::1");
  EXPECT_TRUE(d.host_is_ip);
  EXPECT_EQ(d.port, "8080");
  EXPECT_EQ(d.host_header, "[::1]:8080");
  EXPECT_EQ(d.target, "/?y");

  d = accepted("HTTP://127.0.0.1");
  EXPECT_EQ(d.port, "80");
  EXPECT_TRUE(d.host_is_ip);
  EXPECT_EQ(d.target, "/");
}

// Found by fuzz/url.cpp: the port is the number the URL gives, in canonical
// form, whatever its leading zeros.
TEST(FetchUrl, ThePortIsCanonicalDecimal) {
  EXPECT_EQ(accepted("http://example.com:00080/").port, "80");
  EXPECT_EQ(accepted("http://example.com:65535/").port, "65535");
  for (const char* bad : {"http://example.com:0/", "http://example.com:65536/",
                          "http://example.com:/", "http://example.com:99999999999999999999/"})
    EXPECT_EQ(url_problem(bad), "bad port") << bad;
}

// Found by fuzz/url.cpp: a percent-encoded host was decoded for the
// resolver, SNI and certificate check (a C string: "%00" cut it short) but
// sent as written in the Host header, so the URL checked was not the host
// connected to ("http://a%00.example.com/" resolved "a").
TEST(FetchUrl, APercentEncodedHostIsRefused) {
  for (const char* bad :
       {"http://a%00.example.com/", "http://ex%61mple.com/", "https://caf%C3%A9.example/"})
    EXPECT_EQ(url_problem(bad), "host must not be percent-encoded") << bad;
  // Percent-encoding elsewhere is sent as written.
  EXPECT_EQ(accepted("http://example.com/p%2Fq?x=%20").target, "/p%2Fq?x=%20");
}

TEST(FetchUrl, RefusesWhatFetchCannotUse) {
  EXPECT_EQ(url_problem("ftp://example.com/"), "scheme must be http or https");
  EXPECT_EQ(url_problem("example.com"), "not an absolute URL");
  EXPECT_EQ(url_problem("http:///path"), "has no host");
  EXPECT_EQ(url_problem("http://user:secret@example.com/"),
            "must not contain user information (user:password@)");
  EXPECT_EQ(url_problem("http://[v1.x]/"), "unsupported host");
  EXPECT_EQ(url_problem("http://example.com/" + std::string(2030, 'a')), "longer than 2048 bytes");
}

}  // namespace
}  // namespace hearth::http
