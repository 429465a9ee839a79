// The local SMTP sink of the notification tests (tests/support/smtp_sink.hpp).

#include "tests/support/smtp_sink.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "storage/process.hpp"

#ifndef HEARTH_SMTP_SINK
#error "HEARTH_SMTP_SINK must name tests/support/smtp_sink.py"
#endif

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string from_base64(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t n = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), " \r\n\t", &n, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    throw std::runtime_error("smtp_sink: bad base64: " + std::string(text.substr(0, 200)));
  out.resize(n);
  return out;
}

smtp_sink::message parse(const std::string& file) {
  smtp_sink::message m;
  std::string_view text = file;
  // The sink's two envelope lines, then the message.
  for (const char* prefix : {"X-Sink-Mail-From: ", "X-Sink-Rcpt-To: "}) {
    auto end = text.find("\r\n");
    if (text.substr(0, std::char_traits<char>::length(prefix)) != prefix ||
        end == std::string_view::npos)
      throw std::runtime_error("smtp_sink: malformed file");
    auto value = std::string(text.substr(std::char_traits<char>::length(prefix),
                                         end - std::char_traits<char>::length(prefix)));
    (m.mail_from.empty() ? m.mail_from : m.rcpt_to) = value;
    text.remove_prefix(end + 2);
  }
  m.raw = std::string(text);
  auto split = m.raw.find("\r\n\r\n");
  std::string head = m.raw.substr(0, split);
  std::string body = split == std::string::npos ? "" : m.raw.substr(split + 4);
  std::string name, value;
  auto flush = [&] {
    if (!name.empty()) m.headers[lower(name)] = trim(value);
    name.clear();
    value.clear();
  };
  std::istringstream lines(head);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      value += line;  // folded: the CRLF goes, the whitespace stays
      continue;
    }
    flush();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
  }
  flush();
  m.body = lower(m.header("content-transfer-encoding")) == "base64" ? from_base64(body) : body;
  return m;
}

}  // namespace

std::string smtp_sink::message::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string smtp_sink::message::subject() const {
  // RFC 2047 §6.2: encoded words separated only by whitespace join without it.
  std::string in = header("subject"), out;
  const std::string open = "=?UTF-8?B?";
  std::size_t i = 0;
  bool last_was_word = false;
  while (i < in.size()) {
    if (in.compare(i, open.size(), open) == 0) {
      auto end = in.find("?=", i + open.size());
      if (end == std::string::npos) break;
      out += from_base64(std::string_view(in).substr(i + open.size(), end - i - open.size()));
      i = end + 2;
      last_was_word = true;
      continue;
    }
    if (last_was_word && (in[i] == ' ' || in[i] == '\t')) {
      auto next = in.find_first_not_of(" \t", i);
      if (next != std::string::npos && in.compare(next, open.size(), open) == 0) {
        i = next;
        continue;
      }
    }
    out += in[i++];
    last_was_word = false;
  }
  return out;
}

smtp_sink::smtp_sink(std::uint16_t port, std::optional<std::pair<std::string, std::string>> auth) {
  char templ[] = "/tmp/hsmtpXXXXXX";
  if (::mkdtemp(templ) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp for the SMTP sink");
  dir_ = templ;
  std::filesystem::create_directory(dir_ / "mail");
  // Debian's interpreter: python3-aiosmtpd is installed for it (a python3
  // earlier in PATH, e.g. pyenv's, would not have the module).
  std::vector<std::string> argv{"/usr/bin/python3", HEARTH_SMTP_SINK, (dir_ / "mail").string(),
                                std::to_string(port)};
  if (auth) {
    argv.push_back(auth->first);
    argv.push_back(auth->second);
  }
  storage::spawn_options options;
  options.log_file = (dir_ / "sink.log").string();
  pid_ = storage::spawn_process(argv, options);
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  const auto port_file = dir_ / "mail" / "port";
  for (;;) {
    std::error_code ec;
    if (std::filesystem::exists(port_file, ec)) {
      port_ = static_cast<std::uint16_t>(std::stoi(read_file(port_file)));
      std::filesystem::remove(port_file, ec);
      return;
    }
    // A short wait on the child doubles as the poll interval.
    if (auto code = storage::wait_process(pid_, 20ms)) {
      pid_ = -1;
      throw std::runtime_error("the SMTP sink exited with code " + std::to_string(*code) +
                               " (is python3-aiosmtpd installed?): " + log());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      storage::wait_process(pid_, 10s);
      pid_ = -1;
      throw std::runtime_error("the SMTP sink did not listen within 15 s: " + log());
    }
  }
}

smtp_sink::~smtp_sink() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    storage::wait_process(pid_, 10s);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string smtp_sink::url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

std::vector<smtp_sink::message> smtp_sink::messages() const {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "mail", ec))
    if (e.path().extension() == ".eml") files.push_back(e.path());
  std::sort(files.begin(), files.end());  // 00001.eml, 00002.eml, ...: arrival order
  std::vector<message> out;
  for (const auto& f : files) out.push_back(parse(read_file(f)));
  return out;
}

std::size_t smtp_sink::count() const {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "mail", ec))
    n += e.path().extension() == ".eml";
  return n;
}

bool smtp_sink::wait_count(std::size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (count() >= n) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::string smtp_sink::log() const { return read_file(dir_ / "sink.log"); }

std::uint16_t smtp_sink::free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "bind a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace hearth::testing
