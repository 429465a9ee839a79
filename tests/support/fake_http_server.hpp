#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 (ephemeral port) for tests that need a
// real peer: a monitored site or a webhook receiver. It answers every request
// with the status set at run time (thread-safe), one request per connection
// (Connection: close), or "hangs": reads the request and never answers (for
// timeouts). Every request is recorded with its arrival time. Each
// connection is served by its own thread; the destructor closes everything
// and joins them.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hearth::testing {

class fake_http_server {
 public:
  using clock = std::chrono::steady_clock;

  /// One request as received.
  struct recorded_request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    clock::time_point at;  // when the whole request had arrived

    /// The header's value ("" when absent).
    std::string header(const std::string& lower_name) const;
  };

  /// Listens on 127.0.0.1:0 and starts serving. Throws std::runtime_error
  /// when the socket cannot be set up.
  explicit fake_http_server(unsigned status = 200);
  ~fake_http_server();
  fake_http_server(const fake_http_server&) = delete;
  fake_http_server& operator=(const fake_http_server&) = delete;

  std::uint16_t port() const { return port_; }
  /// "http://127.0.0.1:<port><path>".
  std::string url(const std::string& path = "/") const;

  /// The status of later answers (the body is "status <n>" unless set_body
  /// gave one).
  void set_status(unsigned status);
  /// The body and Content-Type of later answers (e.g. an iCalendar file);
  /// an empty `body` restores "status <n>" as text/plain.
  void set_body(std::string body, std::string content_type = "text/plain");
  /// When true, later requests are read and recorded but never answered;
  /// setting it back to false closes the connections left hanging.
  void set_hang(bool hang);

  /// Every request received so far, in arrival order.
  std::vector<recorded_request> requests() const;
  std::size_t request_count() const;
  /// Waits until at least `n` requests arrived; false when `timeout` passes first.
  bool wait_requests(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  struct connection;
  void accept_loop();
  void serve(connection& c);
  void reap();  // joins the threads of finished connections

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe that ends the accept loop
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  unsigned status_;
  std::string body_;
  std::string content_type_ = "text/plain";
  bool hang_ = false;
  bool stopping_ = false;
  std::vector<recorded_request> requests_;
  std::vector<std::unique_ptr<connection>> connections_;
  std::thread acceptor_;
};

}  // namespace hearth::testing
