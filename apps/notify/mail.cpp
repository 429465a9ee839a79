// E-mail messages (RFC 5322 + MIME) and the SMTP relay through libcurl
// (apps/notify/mail.hpp).

#include "apps/notify/mail.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <time.h>

#include <boost/url/parse.hpp>
#include <memory>
#include <mutex>

namespace hearth::apps::notify {
namespace {

constexpr std::size_t kSubjectLimit = 200;  // bytes of the subject text kept
// UTF-8 bytes per encoded word: 52 base64 characters + 12, so that even the
// first line, after "Subject: ", stays within 76 (RFC 2047 §2).
constexpr std::size_t kWordBytes = 39;
constexpr std::size_t kBase64Line = 76;  // RFC 2045 §6.8

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The longest prefix of `s` of at most `n` bytes that does not split a code point.
std::size_t utf8_cut(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s.size();
  while (n > 0 && is_continuation(static_cast<unsigned char>(s[n]))) --n;
  return n;
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

// Controls (CR and LF above all: header injection) become spaces; runs of
// spaces shrink to one; the ends are trimmed; the text is cut to the limit.
std::string clean_subject(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw) {
    bool space = c < 0x20 || c == 0x7F || c == ' ';
    if (space) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += static_cast<char>(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > kSubjectLimit) {
    out.resize(utf8_cut(out, kSubjectLimit - 3));
    out += "...";
  }
  return out;
}

// The Subject: field, folded (RFC 5322 §2.2.3) into RFC 2047 encoded words
// when it is not short printable ASCII (or could be mistaken for one).
std::string subject_field(std::string_view raw) {
  auto text = clean_subject(raw);
  if (printable_ascii(text) && text.size() <= 68 && text.find("=?") == std::string::npos)
    return "Subject: " + text + "\r\n";
  std::string out = "Subject:";
  std::string_view rest = text;
  while (!rest.empty()) {
    auto n = utf8_cut(rest, kWordBytes);
    if (n == 0) n = std::min(rest.size(), kWordBytes);  // malformed UTF-8: cut anyway
    if (out.size() > 8) out += "\r\n";
    out += " =?UTF-8?B?" + base64(rest.substr(0, n)) + "?=";
    rest.remove_prefix(n);
  }
  return out + "\r\n";
}

// The body with CRLF line ends, base64 in lines of 76.
std::string body_part(std::string_view body) {
  std::string crlf;
  for (char c : body) {
    if (c == '\r') continue;
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto encoded = base64(crlf);
  std::string out;
  for (std::size_t i = 0; i < encoded.size(); i += kBase64Line)
    out += encoded.substr(i, kBase64Line) + "\r\n";
  return out;
}

struct curl_deleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// libcurl pulls the message through this.
struct upload {
  std::string_view data;
  static std::size_t read(char* buffer, std::size_t size, std::size_t count, void* self) {
    auto* u = static_cast<upload*>(self);
    auto n = std::min(size * count, u->data.size());
    std::copy_n(u->data.data(), n, buffer);
    u->data.remove_prefix(n);
    return n;
  }
};

}  // namespace

std::string rfc5322_date(std::int64_t seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm t{};
  auto s = static_cast<time_t>(seconds);
  gmtime_r(&s, &t);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays[t.tm_wday], t.tm_mday,
                     kMonths[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
}

bool sendable_address(std::string_view a) {
  if (a.empty() || a.size() > 254 || !printable_ascii(a)) return false;
  if (a.find_first_of(" <>") != std::string_view::npos) return false;
  auto at = a.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < a.size() &&
         a.find('@', at + 1) == std::string_view::npos;
}

std::optional<std::string> address_of(std::string_view mailbox) {
  auto open = mailbox.rfind('<');
  std::string_view a = mailbox;
  if (open != std::string_view::npos) {
    auto close = mailbox.find('>', open);
    if (close == std::string_view::npos || close + 1 != mailbox.size()) return std::nullopt;
    a = mailbox.substr(open + 1, close - open - 1);
  }
  if (!sendable_address(a)) return std::nullopt;
  return std::string(a);
}

std::string domain_of(std::string_view from) {
  auto a = address_of(from);
  if (!a) return "localhost";
  return a->substr(a->find('@') + 1);
}

std::string format_mail(const mail& m) {
  std::string out;
  out += "Date: " + rfc5322_date(m.date) + "\r\n";
  out += "From: " + m.from + "\r\n";
  out += "To: " + m.to + "\r\n";
  out += subject_field(m.subject);
  out += "Message-ID: " + m.message_id + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: base64\r\n";
  out += "\r\n";
  out += body_part(m.body);
  return out;
}

std::optional<smtp_settings> smtp_settings::from_config(const config::config& cfg) {
  if (cfg.smtp_url.empty()) return std::nullopt;
  using config::config_error;
  // The URL may name a user: messages describe the problem, never the URL.
  auto parsed = boost::urls::parse_uri(cfg.smtp_url);
  if (!parsed) throw config_error("smtpURL: not an absolute URL");
  auto u = *parsed;
  smtp_settings s;
  if (u.scheme() == "smtps")
    s.security = tls::implicit;
  else if (u.scheme() != "smtp")
    throw config_error("smtpURL: scheme must be smtp or smtps");
  if (!u.has_authority() || u.encoded_host().empty()) throw config_error("smtpURL: has no host");
  if (u.host_type() == boost::urls::host_type::ipvfuture)
    throw config_error("smtpURL: unsupported host");
  if (u.has_port() && u.port_number() == 0) throw config_error("smtpURL: bad port");
  if (u.has_password())
    throw config_error("smtpURL: must not contain a password: put it in the SMTP_PASSWORD secret");
  if (u.has_query() || u.has_fragment())
    throw config_error("smtpURL: must not have a query or a fragment");
  if (u.has_userinfo()) s.user = u.user();
  s.url = fmt::format("{}://{}{}", std::string(u.scheme()), std::string(u.encoded_host_and_port()),
                      std::string(u.encoded_path()));
  auto password = config::secret(cfg, "SMTP_PASSWORD");
  if (!s.user.empty() && !password)
    throw config_error("smtpURL names a user: set its password in the SMTP_PASSWORD secret");
  if (s.user.empty() && password)
    throw config_error("secret SMTP_PASSWORD: smtpURL names no user (smtp://user@host)");
  if (password) s.password = *password;

  if (cfg.smtp_from.empty()) throw config_error("smtpFrom: required when smtpURL is set");
  if (!printable_ascii(cfg.smtp_from) || cfg.smtp_from.size() > 300)
    throw config_error("smtpFrom: must be printable ASCII, at most 300 bytes");
  auto envelope = address_of(cfg.smtp_from);
  if (!envelope)
    throw config_error("smtpFrom: must be one address, e.g. 'hearth <hearth@example.com>'");
  s.from = cfg.smtp_from;
  s.envelope_from = *envelope;

  if (s.security != tls::implicit) {
    if (cfg.smtp_starttls == "required")
      s.security = tls::required;
    else if (cfg.smtp_starttls == "optional")
      s.security = tls::optional;
    else if (cfg.smtp_starttls == "off")
      s.security = tls::off;
    else
      throw config_error("smtpStartTLS: must be required, optional or off");
  }
  s.timeout = std::chrono::milliseconds(cfg.smtp_timeout_ms);
  return s;
}

void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("libcurl: curl_global_init failed");
  });
}

namespace {

// A relay's session with libcurl: URL, TLS as smtpStartTLS asks, AUTH,
// timeouts.
void set_relay(CURL* c, const smtp_settings& relay, char* error,
               std::chrono::milliseconds timeout) {
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_URL, relay.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // handler threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  long use_ssl = CURLUSESSL_ALL;
  if (relay.security == smtp_settings::tls::optional) use_ssl = CURLUSESSL_TRY;
  if (relay.security == smtp_settings::tls::off) use_ssl = CURLUSESSL_NONE;
  curl_easy_setopt(c, CURLOPT_USE_SSL, use_ssl);
  if (!relay.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, relay.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, relay.password.c_str());
  }
}

// Why a session failed: libcurl's reason and the relay's last reply, with
// a hint for the usual mistake (a local relay without TLS while STARTTLS is
// required, the secure default).
std::string failure(CURL* c, CURLcode rc, const char* error, const smtp_settings& relay) {
  long reply = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
  std::string why = error[0] ? error : curl_easy_strerror(rc);
  while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
  auto out =
      reply ? fmt::format("smtp: {} (last reply {})", why, reply) : fmt::format("smtp: {}", why);
  if (rc == CURLE_USE_SSL_FAILED && relay.security == smtp_settings::tls::required)
    out +=
        "; the relay offers no STARTTLS and smtpStartTLS is required: for a relay without TLS "
        "(a local sink), set smtpStartTLS to off (HEARTH_SMTP_STARTTLS=off)";
  return out;
}

}  // namespace

std::string probe_relay(const smtp_settings& relay, std::chrono::milliseconds timeout) {
  init_curl();
  std::unique_ptr<CURL, curl_deleter> h(curl_easy_init());
  if (!h) return "libcurl: curl_easy_init failed";
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = h.get();
  set_relay(c, relay, error, timeout);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "NOOP");
  auto rc = curl_easy_perform(c);
  return rc == CURLE_OK ? std::string() : failure(c, rc, error, relay);
}

void send_mail(const smtp_settings& relay, const mail& m) {
  if (!sendable_address(m.to)) throw smtp_error("recipient: not a sendable address");
  init_curl();
  std::unique_ptr<CURL, curl_deleter> h(curl_easy_init());
  if (!h) throw smtp_error("libcurl: curl_easy_init failed");
  auto message = format_mail(m);
  upload source{message};
  std::unique_ptr<curl_slist, slist_deleter> rcpt(
      curl_slist_append(nullptr, ("<" + m.to + ">").c_str()));
  const auto from = "<" + relay.envelope_from + ">";
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = h.get();
  set_relay(c, relay, error, relay.timeout);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &upload::read);
  curl_easy_setopt(c, CURLOPT_READDATA, &source);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  auto rc = curl_easy_perform(c);
  if (rc != CURLE_OK) throw smtp_error(failure(c, rc, error, relay));
}

}  // namespace hearth::apps::notify
