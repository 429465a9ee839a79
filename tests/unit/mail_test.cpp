// E-mail messages of the notifications module (apps/notify/mail.hpp):
// RFC 5322 headers, RFC 2047 subjects, the MIME base64 body, addresses, and
// the relay settings read from the configuration.

#include "apps/notify/mail.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <sstream>

namespace hearth::apps::notify {
namespace {

std::string from_base64(const std::string& text) {
  std::string out(text.size(), '\0');
  std::size_t n = 0;
  EXPECT_EQ(sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                              text.size(), "\r\n", &n, nullptr, sodium_base64_VARIANT_ORIGINAL),
            0)
      << text;
  out.resize(n);
  return out;
}

std::vector<std::string> lines_of(const std::string& message) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = message.find("\r\n", start);
    if (end == std::string::npos) {
      if (start < message.size()) out.push_back(message.substr(start));
      return out;
    }
    out.push_back(message.substr(start, end - start));
    start = end + 2;
  }
}

// The Subject header's value, unfolded, with its encoded words decoded.
std::string decoded_subject(const std::string& message) {
  auto head = message.substr(0, message.find("\r\n\r\n"));
  auto at = head.find("Subject:");
  std::string value;
  for (auto& line : lines_of(head.substr(at + 8))) {
    if (!value.empty() && line.front() != ' ') break;
    value += line;
  }
  std::string out;
  std::istringstream words(value);
  for (std::string w; words >> w;) {
    if (w.rfind("=?UTF-8?B?", 0) == 0 && w.size() > 12)
      out += from_base64(w.substr(10, w.size() - 12));
    else
      out += (out.empty() ? "" : " ") + w;
  }
  return out;
}

mail sample() {
  mail m;
  m.from = "hearth <hearth@example.com>";
  m.to = "ann@example.org";
  m.subject = "Due: Pay rent";
  m.body = "Hello Ann,\n\nthe task is due.\n";
  m.message_id = "<notification-1@example.com>";
  m.date = 1'796'179'570;  // 2026-12-02T02:46:10Z
  return m;
}

TEST(mail, headers_and_body_follow_rfc_5322_and_mime) {
  auto text = format_mail(sample());
  auto split = text.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos);
  auto head = lines_of(text.substr(0, split));
  std::vector<std::string> expected{"Date: Wed, 02 Dec 2026 02:46:10 +0000",
                                    "From: hearth <hearth@example.com>",
                                    "To: ann@example.org",
                                    "Subject: Due: Pay rent",
                                    "Message-ID: <notification-1@example.com>",
                                    "MIME-Version: 1.0",
                                    "Content-Type: text/plain; charset=UTF-8",
                                    "Content-Transfer-Encoding: base64"};
  EXPECT_EQ(head, expected);
  // Every line ends CRLF; no bare LF anywhere.
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') {
      EXPECT_TRUE(i > 0 && text[i - 1] == '\r') << "bare LF at " << i;
    }
  EXPECT_EQ(text.substr(text.size() - 2), "\r\n");
  auto body = text.substr(split + 4);
  EXPECT_EQ(from_base64(body), "Hello Ann,\r\n\r\nthe task is due.\r\n");
}

TEST(mail, long_bodies_wrap_base64_at_76_characters) {
  auto m = sample();
  m.body = std::string(1000, 'x') + "\n" + "ünïcödé ✓\n";
  auto text = format_mail(m);
  auto body = text.substr(text.find("\r\n\r\n") + 4);
  auto lines = lines_of(body);
  ASSERT_GT(lines.size(), 10u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 76u);
    if (i + 1 < lines.size()) {
      EXPECT_EQ(lines[i].size(), 76u);
    }
  }
  EXPECT_EQ(from_base64(body), std::string(1000, 'x') + "\r\nünïcödé ✓\r\n");
}

TEST(mail, subjects_are_encoded_folded_and_cannot_inject_headers) {
  // Non-ASCII: RFC 2047 encoded words, folded, each line short.
  auto m = sample();
  m.subject = "Über-Meeting ✓ — a title that is long enough to need several encoded words";
  auto text = format_mail(m);
  EXPECT_EQ(decoded_subject(text), m.subject);
  for (const auto& line : lines_of(text.substr(0, text.find("\r\n\r\n"))))
    EXPECT_LE(line.size(), 76u) << line;

  // CR/LF (a header injection) and other controls become single spaces.
  m.subject = "Pay rent\r\nBcc: everyone@example.com\t\x01now";
  text = format_mail(m);
  EXPECT_EQ(text.find("\r\nBcc:"), std::string::npos) << text;
  EXPECT_NE(text.find("Subject: Pay rent Bcc: everyone@example.com now\r\n"), std::string::npos)
      << text;

  // Long ASCII is encoded too (and cut to 200 bytes, never inside a character).
  m.subject = std::string(190, 'a') + "éééééééééé";
  text = format_mail(m);
  auto s = decoded_subject(text);
  EXPECT_LE(s.size(), 200u);
  EXPECT_EQ(s.substr(s.size() - 3), "...");
  EXPECT_EQ(s.substr(0, 190), std::string(190, 'a'));
  EXPECT_EQ((s.size() - 190 - 3) % 2, 0u) << "a character was split";

  // What looks like an encoded word is encoded, not passed through.
  m.subject = "=?UTF-8?B?SGk=?=";
  EXPECT_EQ(decoded_subject(format_mail(m)), "=?UTF-8?B?SGk=?=");
}

TEST(mail, dates_are_rfc_5322_in_utc) {
  EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(951'782'400), "Tue, 29 Feb 2000 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(1'796'179'570), "Wed, 02 Dec 2026 02:46:10 +0000");
}

TEST(mail, addresses) {
  EXPECT_EQ(address_of("hearth <hearth@example.com>"), "hearth@example.com");
  EXPECT_EQ(address_of("hearth@example.com"), "hearth@example.com");
  EXPECT_EQ(address_of("\"Home, sweet\" <a.b+c@d.example>"), "a.b+c@d.example");
  for (const char* bad : {"", "hearth", "<>", "a <b>", "a@", "@b", "a@b@c", "a <a@b", "x y@z",
                          "a <a@b> trailing", "jürgen@example.com"})
    EXPECT_FALSE(address_of(bad).has_value()) << bad;
  EXPECT_TRUE(sendable_address("ann@example.org"));
  EXPECT_FALSE(sendable_address("ann@example.org\r\nRCPT TO:<x@y>"));
  EXPECT_FALSE(sendable_address("änn@example.org"));
  EXPECT_EQ(domain_of("hearth <hearth@mail.example.com>"), "mail.example.com");
  EXPECT_EQ(domain_of("nonsense"), "localhost");
}

TEST(mail, relay_settings_come_from_the_configuration) {
  config::config cfg;
  EXPECT_FALSE(smtp_settings::from_config(cfg).has_value()) << "no smtpURL: no e-mail";

  cfg.smtp_url = "smtp://relay.example:587";
  cfg.smtp_from = "hearth <hearth@example.com>";
  auto s = smtp_settings::from_config(cfg);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->url, "smtp://relay.example:587");
  EXPECT_EQ(s->user, "");
  EXPECT_EQ(s->envelope_from, "hearth@example.com");
  EXPECT_EQ(s->security, smtp_settings::tls::required);
  EXPECT_EQ(s->timeout.count(), 30'000);

  cfg.smtp_url = "smtps://mailer%40home@[::1]:465/hearth.example";
  cfg.secrets["SMTP_PASSWORD"] = "pw";
  s = smtp_settings::from_config(cfg);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->url, "smtps://[::1]:465/hearth.example");
  EXPECT_EQ(s->user, "mailer@home");
  EXPECT_EQ(s->password, "pw");
  EXPECT_EQ(s->security, smtp_settings::tls::implicit);

  cfg.smtp_url = "smtp://relay.example";
  cfg.secrets.clear();
  cfg.smtp_starttls = "off";
  EXPECT_EQ(smtp_settings::from_config(cfg)->security, smtp_settings::tls::off);
  cfg.smtp_starttls = "optional";
  EXPECT_EQ(smtp_settings::from_config(cfg)->security, smtp_settings::tls::optional);

  struct bad {
    std::string url, from, starttls, secret, message;
  };
  for (const auto& b : std::vector<bad>{
           {"smtp://u:hunter2@relay.example", "a@b.c", "required", "",
            "must not contain a password"},
           {"smtp://u@relay.example", "a@b.c", "required", "", "SMTP_PASSWORD secret"},
           {"smtp://relay.example", "a@b.c", "required", "pw", "names no user"},
           {"smtp://", "a@b.c", "required", "", "has no host"},
           {"relay.example", "a@b.c", "required", "", "smtpURL"},
           {"https://relay.example", "a@b.c", "required", "", "scheme must be smtp or smtps"},
           {"smtp://relay.example?x=1", "a@b.c", "required", "", "query"},
           {"smtp://relay.example", "", "required", "", "smtpFrom: required"},
           {"smtp://relay.example", "Jürgen <j@b.c>", "required", "", "printable ASCII"},
           {"smtp://relay.example", "a@b.c\r\nBcc: x@y", "required", "", "printable ASCII"},
           {"smtp://relay.example", "nobody", "required", "", "one address"},
           {"smtp://relay.example", "a@b.c", "always", "", "smtpStartTLS"},
       }) {
    config::config c;
    c.smtp_url = b.url;
    c.smtp_from = b.from;
    c.smtp_starttls = b.starttls;
    if (!b.secret.empty()) c.secrets["SMTP_PASSWORD"] = b.secret;
    try {
      smtp_settings::from_config(c);
      ADD_FAILURE() << b.url << " / " << b.from << " accepted";
    } catch (const config::config_error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(b.message), std::string::npos) << what;
      EXPECT_EQ(what.find("hunter2"), std::string::npos) << "the password leaked: " << what;
    }
  }
}

}  // namespace
}  // namespace hearth::apps::notify
