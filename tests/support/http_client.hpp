#pragma once
// Blocking HTTP/1.1 and SSE clients over loopback for the integration tests,
// built on Boost.Beast. Every call has a deadline; nothing waits forever.

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hearth::testing {

struct http_response {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  /// The body parsed as JSON (throws when it is not JSON).
  boost::json::value json() const;
  std::string header(const std::string& lower_name) const;
};

/// One keep-alive connection to host:port (an IPv4 or IPv6 address).
class http_client {
 public:
  explicit http_client(std::uint16_t port, std::string host = "127.0.0.1");
  ~http_client();
  /// Sends one request; reconnects if the server closed the connection.
  /// `headers` are added as given; Content-Type defaults to application/json
  /// when a body is given. Deadline 10 s.
  http_response request(const std::string& method, const std::string& target,
                        const std::string& body = "",
                        const std::map<std::string, std::string>& headers = {});
  /// Same, with `Authorization: Bearer <key>` added.
  http_response request_as(const std::string& key, const std::string& method,
                           const std::string& target, const std::string& body = "");

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Writes `bytes` (e.g. several pipelined requests) to a fresh connection in
/// one write and reads `count` responses (deadline 10 s); throws when fewer
/// arrive.
std::vector<http_response> raw_exchange(std::uint16_t port, const std::string& bytes,
                                        std::size_t count);

/// One parsed server-sent event.
struct sse_event {
  std::string id;
  std::string event;  // "message" when absent
  std::string data;
  std::optional<unsigned> retry;
};

/// A GET /api/v1/sse stream. Throws in the constructor when the response is
/// not 200 text/event-stream (the status is in the message).
class sse_client {
 public:
  sse_client(std::uint16_t port, const std::map<std::string, std::string>& headers,
             const std::string& target = "/api/v1/sse", int receive_buffer_bytes = 0);
  ~sse_client();
  /// The next event (comments are skipped, but counted), or std::nullopt
  /// when none arrives within `timeout` or the stream ended.
  std::optional<sse_event> next(std::chrono::milliseconds timeout);
  /// Number of ':' comment lines (heartbeats) seen so far.
  int comments() const;
  /// True once the server closed the stream.
  bool closed() const;
  /// The response's status and headers (lower-case names).
  unsigned status() const;
  std::string header(const std::string& lower_name) const;
  /// The last `retry:` value seen, reading the stream (events are queued for
  /// next()) until one arrives or `timeout` passes.
  std::optional<unsigned> retry_hint(std::chrono::milliseconds timeout);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::testing
