#include "tests/support/fake_http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hearth::testing {
namespace {

constexpr auto kReadDeadline = std::chrono::seconds(10);
constexpr std::size_t kMaxRequestBytes = 1 << 20;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(0, 1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

const char* reason(unsigned status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

bool write_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

struct fake_http_server::connection {
  int fd = -1;
  std::atomic<bool> done{false};
  std::thread thread;
};

std::string fake_http_server::recorded_request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

fake_http_server::fake_http_server(unsigned status) : status_(status) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fake_http_server: socket failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error(std::string("fake_http_server: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("fake_http_server: pipe failed");
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

fake_http_server::~fake_http_server() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    // Unblocks connection threads in a read.
    for (auto& c : connections_) ::shutdown(c->fd, SHUT_RDWR);
  }
  cv_.notify_all();
  char x = 'x';
  (void)!::write(wake_[1], &x, 1);
  acceptor_.join();
  // No new connections now: join them all.
  for (auto& c : connections_) c->thread.join();
  for (auto& c : connections_) ::close(c->fd);
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

std::string fake_http_server::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void fake_http_server::set_status(unsigned status) {
  std::lock_guard lock(mutex_);
  status_ = status;
}

void fake_http_server::set_body(std::string body, std::string content_type) {
  std::lock_guard lock(mutex_);
  body_ = std::move(body);
  content_type_ = body_.empty() ? "text/plain" : std::move(content_type);
}

void fake_http_server::set_hang(bool hang) {
  {
    std::lock_guard lock(mutex_);
    hang_ = hang;
  }
  cv_.notify_all();
}

std::vector<fake_http_server::recorded_request> fake_http_server::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t fake_http_server::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

bool fake_http_server::wait_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void fake_http_server::reap() {
  std::vector<std::unique_ptr<connection>> finished;
  {
    std::lock_guard lock(mutex_);
    auto split = std::stable_partition(connections_.begin(), connections_.end(),
                                       [](const auto& c) { return !c->done; });
    std::move(split, connections_.end(), std::back_inserter(finished));
    connections_.erase(split, connections_.end());
  }
  for (auto& c : finished) {
    c->thread.join();
    ::close(c->fd);
  }
}

void fake_http_server::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    reap();
    auto c = std::make_unique<connection>();
    c->fd = fd;
    auto* raw = c.get();
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    connections_.push_back(std::move(c));
    raw->thread = std::thread([this, raw] {
      serve(*raw);
      raw->done = true;
    });
  }
}

void fake_http_server::serve(connection& c) {
  // Reads one request: the head up to the blank line, then Content-Length bytes.
  const auto deadline = clock::now() + kReadDeadline;
  std::string data;
  std::size_t head_end = std::string::npos;
  std::size_t need = 0;
  char buf[4096];
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        need = head_end + 4;
        auto head = lower(data.substr(0, head_end));
        auto at = head.find("\r\ncontent-length:");
        if (at != std::string::npos)
          need += std::stoul(data.substr(at + 17, head.find("\r\n", at + 2) - at - 17));
      }
    }
    if (head_end != std::string::npos && data.size() >= need) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0 || data.size() > kMaxRequestBytes) return;
    pollfd p{c.fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    auto n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.append(buf, static_cast<std::size_t>(n));
  }

  recorded_request req;
  req.at = clock::now();
  auto line_end = data.find("\r\n");
  auto request_line = data.substr(0, line_end);
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.find(' ', sp1 + 1);
  req.method = request_line.substr(0, sp1);
  req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (auto at = line_end + 2; at < head_end;) {
    auto end = data.find("\r\n", at);
    if (end == std::string::npos || end > head_end) end = head_end;
    auto line = data.substr(at, end - at);
    auto colon = line.find(':');
    if (colon != std::string::npos)
      req.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    at = end + 2;
  }
  req.body = data.substr(head_end + 4, need - head_end - 4);

  unsigned status;
  std::string body, content_type;
  {
    std::unique_lock lock(mutex_);
    requests_.push_back(std::move(req));
    cv_.notify_all();
    // Hanging: no answer until un-hung or stopped; then just close.
    if (hang_) {
      cv_.wait(lock, [&] { return !hang_ || stopping_; });
      ::shutdown(c.fd, SHUT_RDWR);
      return;
    }
    status = status_;
    body = body_;
    content_type = content_type_;
  }
  if (body.empty()) body = "status " + std::to_string(status);
  write_all(c.fd, "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                      "\r\nContent-Type: " + content_type + "\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  ::shutdown(c.fd, SHUT_WR);
}

}  // namespace hearth::testing
