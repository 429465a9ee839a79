#pragma once
// A raw TCP connection to 127.0.0.1:port, for what a well-behaved client
// cannot do: incomplete requests, and reading exactly what the server sends
// until it closes (deadline-bounded).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace hearth::testing {

class raw_connection {
 public:
  /// `source`: a loopback address to connect from (e.g. "127.0.0.2"), so
  /// the server sees another client address; null for the default.
  explicit raw_connection(std::uint16_t port, const char* source = nullptr)
      : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (source) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &from.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
        ::close(fd_);
        throw std::runtime_error(std::string("bind to ") + source + " failed");
      }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
  }
  ~raw_connection() { ::close(fd_); }
  void send(const std::string& bytes) {
    if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size()))
      throw std::runtime_error("send failed");
  }
  // Reads into `data` until it contains `needle` (true), or the server closes
  // the connection or `timeout` passes (false).
  bool read_until(const std::string& needle, std::string& data, std::chrono::milliseconds timeout) {
    return read_while([&] { return data.find(needle) == std::string::npos; }, data, timeout);
  }
  // Reads into `data` until it holds at least `n` bytes (true), or the
  // server closes the connection or `timeout` passes (false).
  bool read_at_least(std::size_t n, std::string& data, std::chrono::milliseconds timeout) {
    return read_while([&] { return data.size() < n; }, data, timeout);
  }
  // Reads until the server closes the connection or `timeout` passes.
  // Returns what arrived and whether the connection was closed.
  std::pair<std::string, bool> read_until_closed(std::chrono::milliseconds timeout) {
    std::string data;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {data, false};
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return {data, true};
      data.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  // Appends what arrives to `data` while `wanting()` holds; true once it
  // does not, false when the server closes first or `timeout` passes.
  template <class Wanting>
  bool read_while(Wanting wanting, std::string& data, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (wanting()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return !wanting();
      data.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  int fd_;
};

}  // namespace hearth::testing
