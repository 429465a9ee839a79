#pragma once
// E-mail for the notifications module (apps/notify): an Internet Message
// Format message (RFC 5322) with a MIME text/plain UTF-8 body (RFC 2045,
// RFC 2046), built from plain values, and the SMTP relay that sends it
// (libcurl's smtp:// and smtps://: RFC 5321, AUTH, STARTTLS).

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace hearth::apps::notify {

/// One e-mail, as values. Texts are UTF-8.
struct mail {
  std::string from;        // the From: header as configured (smtpFrom), printable ASCII
  std::string to;          // the recipient's address (addr-spec), printable ASCII
  std::string subject;     // any text: controls become spaces, cut to 200 bytes
  std::string body;        // lines end with "\n"
  std::string message_id;  // "<left@right>": the same on every retry of one notification
  std::int64_t date = 0;   // seconds since the epoch (UTC), the Date: header
};

/// The message as sent in SMTP DATA: CRLF line ends; headers Date (RFC 5322
/// §3.3, "+0000"), From, To, Subject (RFC 2047 B-encoded words, folded, when
/// it is not short printable ASCII), Message-ID, MIME-Version: 1.0,
/// Content-Type: text/plain; charset=UTF-8, Content-Transfer-Encoding: base64
/// (RFC 2045 §6.8: lines of 76 characters), then the body.
std::string format_mail(const mail& m);

/// "Wed, 02 Dec 2026 02:46:10 +0000" for `seconds` since the epoch (RFC 5322
/// §3.3 date-time, English names whatever the locale).
std::string rfc5322_date(std::int64_t seconds);

/// The addr-spec of a mailbox: "a@b" for "Name <a@b>" or "a@b"; nullopt when
/// it is not one address (no '@', nothing in the brackets, spaces, controls
/// or non-ASCII in the address).
std::optional<std::string> address_of(std::string_view mailbox);

/// True for an address hearth can send to: printable ASCII with no spaces,
/// '<', '>' or controls, and one '@' not at either end (a non-ASCII address
/// would need SMTPUTF8, RFC 6531, which hearth does not speak).
bool sendable_address(std::string_view address);

/// The right-hand side of the address in `from` (for Message-IDs);
/// "localhost" when there is none.
std::string domain_of(std::string_view from);

/// A failed SMTP exchange (connection, TLS, authentication, refusal, timeout).
struct smtp_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The relay, from smtpURL, smtpFrom, smtpStartTLS, smtpTimeoutMs and the
/// secret SMTP_PASSWORD.
struct smtp_settings {
  enum class tls { implicit, required, optional, off };
  std::string url;               // smtp[s]://host:port[/ehlo-name] without the user
  std::string user;              // "" = no AUTH
  std::string password;          // the secret; never logged
  std::string from;              // the From: header
  std::string envelope_from;     // its address, for MAIL FROM
  tls security = tls::required;  // implicit for smtps://
  std::chrono::milliseconds timeout{30'000};

  /// nullopt when smtpURL is empty (the e-mail channel is off). Throws
  /// config::config_error when the URL is not smtp:// or smtps:// with a
  /// host, carries a password, query or fragment, when a user has no
  /// SMTP_PASSWORD secret (or the secret has no user), when smtpFrom is not
  /// one printable-ASCII mailbox, or smtpStartTLS is not required, optional
  /// or off. Messages never include the URL or the password.
  static std::optional<smtp_settings> from_config(const config::config& cfg);
};

/// Sends `m` to `m.to` through the relay with libcurl (blocking: the engine's
/// handler threads only). Throws smtp_error with libcurl's reason and the
/// relay's last reply code. Certificates and host names are verified (the
/// system's CA store) whenever TLS is used.
void send_mail(const smtp_settings& relay, const mail& m);

/// Checks that the relay would take mail from this node: connects, says
/// EHLO, takes STARTTLS as smtpStartTLS asks, authenticates when a user is
/// set, and sends NOOP (blocking, at most `timeout`). Returns "" when all
/// of it worked, else the reason, as send_mail's smtp_error would give it
/// (with a hint when the relay offers no STARTTLS but smtpStartTLS is
/// required: a local relay without TLS needs smtpStartTLS off).
std::string probe_relay(const smtp_settings& relay, std::chrono::milliseconds timeout);

/// curl_global_init, once per process (call before the first send_mail).
void init_curl();

}  // namespace hearth::apps::notify
