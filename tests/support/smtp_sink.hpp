#pragma once
// A local SMTP server for the notification tests: tests/support/smtp_sink.py
// (Debian's python3-aiosmtpd) run as a child process on 127.0.0.1, writing
// each accepted message to a file in its own temporary directory. Waits poll
// with deadlines.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hearth::testing {

class smtp_sink {
 public:
  /// One accepted message.
  struct message {
    std::string mail_from;  // the envelope's MAIL FROM, "<a@b>"
    std::string rcpt_to;    // the envelope's RCPT TO, "<a@b>" (comma-separated when several)
    std::string raw;        // the message as received (CRLF line ends)
    std::map<std::string, std::string> headers;  // lower-case names, unfolded values
    std::string body;  // the body, base64-decoded when Content-Transfer-Encoding says so
    /// A header's value ("" when absent).
    std::string header(const std::string& lower_name) const;
    /// The Subject with RFC 2047 B-encoded UTF-8 words decoded.
    std::string subject() const;
  };

  /// Starts the sink on `port` (0: any free port); with `auth` {user,
  /// password} it requires AUTH. Waits (≤ 15 s) until it listens; throws
  /// std::runtime_error with its output when it does not.
  explicit smtp_sink(std::uint16_t port = 0,
                     std::optional<std::pair<std::string, std::string>> auth = std::nullopt);
  ~smtp_sink();  // SIGKILL
  smtp_sink(const smtp_sink&) = delete;
  smtp_sink& operator=(const smtp_sink&) = delete;

  std::uint16_t port() const { return port_; }
  /// "smtp://127.0.0.1:<port>".
  std::string url() const;

  /// The messages accepted so far, in order of arrival.
  std::vector<message> messages() const;
  std::size_t count() const;
  /// Polls until at least `n` messages arrived; false on timeout.
  bool wait_count(std::size_t n, std::chrono::milliseconds timeout) const;
  /// The sink's own output (for failure messages).
  std::string log() const;

  /// A loopback port that was free a moment ago (bound, then closed): for a
  /// sink started later than the servers that send to it.
  static std::uint16_t free_port();

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace hearth::testing
