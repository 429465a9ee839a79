// Blocking HTTP/1.1 and SSE clients for the integration tests.
//
// http_client: Boost.Beast over beast::tcp_stream; every operation is async
// with an expires_after deadline, driven to completion by io_context::run().
//
// sse_client: a plain socket (so a read deadline never closes the stream, as a
// tcp_stream timeout would), poll() for the deadline, and hand-written
// chunked-transfer and text/event-stream decoding.

#include "tests/support/http_client.hpp"

#include <poll.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <deque>
#include <stdexcept>

namespace hearth::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Runs one async operation on `ioc` to completion and returns its error.
template <class Start>
beast::error_code run_op(net::io_context& ioc, Start&& start) {
  beast::error_code result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

http_response to_response(http::response<http::string_body>&& res) {
  http_response out;
  out.status = res.result_int();
  for (const auto& field : res) {
    auto name = lower(std::string(field.name_string()));
    auto [it, inserted] = out.headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  out.body = std::move(res.body());
  return out;
}

bool is_connection_loss(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::eof ||
         ec == net::error::connection_aborted;
}

}  // namespace

// ---------------------------------------------------------------- http_response

boost::json::value http_response::json() const {
  try {
    return boost::json::parse(body);
  } catch (const std::exception& e) {
    throw std::runtime_error("response body is not JSON (" + std::string(e.what()) + "), status " +
                             std::to_string(status) + ": " + body.substr(0, 500));
  }
}

std::string http_response::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

// ---------------------------------------------------------------- http_client

struct http_client::impl {
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::uint16_t port;
  std::string host = "127.0.0.1";

  void connect() {
    stream.emplace(ioc);
    buffer.clear();
    stream->expires_after(10s);
    tcp::endpoint ep(net::ip::make_address(host), port);
    auto ec = run_op(ioc, [&](auto h) { stream->async_connect(ep, std::move(h)); });
    if (ec) {
      stream.reset();
      throw std::runtime_error("connect to " + host + ":" + std::to_string(port) + ": " +
                               ec.message());
    }
  }

  void close() {
    if (!stream) return;
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
    stream.reset();
  }
};

http_client::http_client(std::uint16_t port, std::string host) : impl_(std::make_unique<impl>()) {
  impl_->port = port;
  impl_->host = std::move(host);
}

http_client::~http_client() { impl_->close(); }

http_response http_client::request(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req;
  auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    req.method_string(method);
  } else {
    req.method(verb);
  }
  req.target(target);
  req.version(11);
  req.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    req.insert(name, value);
    if (lower(name) == "content-type") has_content_type = true;
  }
  if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    const bool reused = impl_->stream.has_value();
    if (!reused) impl_->connect();
    auto& stream = *impl_->stream;

    stream.expires_after(10s);
    auto write_ec =
        run_op(impl_->ioc, [&](auto h) { http::async_write(stream, req, std::move(h)); });
    if (write_ec && reused && attempt == 0 && is_connection_loss(write_ec)) {
      impl_->close();  // the server closed the idle keep-alive connection
      continue;
    }
    // Even when the write failed (e.g. a 413 answered before the whole body
    // was sent), the server's response may be waiting: try to read it.
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    parser.header_limit(64 * 1024);
    stream.expires_after(10s);
    auto read_ec = run_op(
        impl_->ioc, [&](auto h) { http::async_read(stream, impl_->buffer, parser, std::move(h)); });
    if (read_ec) {
      impl_->close();
      if (reused && attempt == 0 && !parser.got_some() && is_connection_loss(read_ec)) continue;
      throw std::runtime_error(method + " " + target + ": " +
                               (write_ec ? "write: " + write_ec.message() + ", " : "") +
                               "read: " + read_ec.message());
    }
    auto response = parser.release();
    const bool keep_alive = response.keep_alive() && !write_ec;
    auto out = to_response(std::move(response));
    if (!keep_alive) impl_->close();
    return out;
  }
}

http_response http_client::request_as(const std::string& key, const std::string& method,
                                      const std::string& target, const std::string& body) {
  return request(method, target, body, {{"Authorization", "Bearer " + key}});
}

std::vector<http_response> raw_exchange(std::uint16_t port, const std::string& bytes,
                                        std::size_t count) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(10s);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  auto ec = run_op(ioc, [&](auto h) { stream.async_connect(ep, std::move(h)); });
  if (ec) throw std::runtime_error("raw_exchange connect: " + ec.message());
  ec = run_op(ioc, [&](auto h) { net::async_write(stream, net::buffer(bytes), std::move(h)); });
  if (ec) throw std::runtime_error("raw_exchange write: " + ec.message());
  beast::flat_buffer buffer;
  std::vector<http_response> out;
  while (out.size() < count) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    ec = run_op(ioc, [&](auto h) { http::async_read(stream, buffer, parser, std::move(h)); });
    if (ec) {
      throw std::runtime_error("raw_exchange: got " + std::to_string(out.size()) + " of " +
                               std::to_string(count) + " responses, then: " + ec.message());
    }
    out.push_back(to_response(parser.release()));
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

// ---------------------------------------------------------------- sse_client

struct sse_client::impl {
  net::io_context ioc;
  tcp::socket socket{ioc};
  unsigned status = 0;
  std::map<std::string, std::string> headers;

  // Transport: undecoded bytes and the chunked-encoding state.
  std::string raw;
  bool chunked = false;
  enum class chunk_state {
    size_line,
    data,
    data_end,
    trailers,
    done
  } cstate = chunk_state::size_line;
  std::size_t chunk_left = 0;

  // text/event-stream parsing (HTML Living Standard, "Interpreting an event stream").
  std::string body;  // decoded body bytes not yet split into lines
  bool bom_checked = false;
  std::string data_buffer;
  std::string event_type;
  std::string last_event_id;
  std::optional<unsigned> block_retry;
  std::optional<unsigned> retry;
  std::deque<sse_event> events;
  int comments = 0;
  bool closed = false;

  using clock = std::chrono::steady_clock;

  // Reads whatever arrives before `deadline`. False on timeout or when closed.
  bool read_more(clock::time_point deadline) {
    if (closed) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() < 0) left = 0ms;
    pollfd pfd{socket.native_handle(), POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0) {
      if (errno == EINTR) return true;
      throw std::runtime_error("sse poll failed");
    }
    if (rc == 0) return false;
    char buf[16 * 1024];
    beast::error_code ec;
    std::size_t n = socket.read_some(net::buffer(buf), ec);
    if (ec) {
      closed = true;
      flush_at_close();
      return false;
    }
    raw.append(buf, n);
    return true;
  }

  void read_header() {
    const auto deadline = clock::now() + 10s;
    std::size_t end;
    while ((end = raw.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more(deadline)) {
        throw std::runtime_error(closed ? "sse: connection closed before the response header"
                                        : "sse: no response header within 10 s");
      }
    }
    std::string head = raw.substr(0, end);
    raw.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    // "HTTP/1.1 200 OK"
    auto sp = status_line.find(' ');
    if (sp == std::string::npos) throw std::runtime_error("sse: bad status line: " + status_line);
    status = static_cast<unsigned>(std::stoul(status_line.substr(sp + 1, 3)));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      pos = next + 2;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = lower(line.substr(0, colon));
      std::string value = line.substr(colon + 1);
      auto b = value.find_first_not_of(" \t");
      auto e = value.find_last_not_of(" \t");
      value = b == std::string::npos ? "" : value.substr(b, e - b + 1);
      auto [it, inserted] = headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    auto te = headers.find("transfer-encoding");
    chunked = te != headers.end() && lower(te->second).find("chunked") != std::string::npos;
  }

  // Moves decoded body bytes from `raw` to `body`.
  void decode_transport() {
    if (!chunked) {
      body += raw;
      raw.clear();
      return;
    }
    for (;;) {
      switch (cstate) {
        case chunk_state::size_line: {
          auto eol = raw.find("\r\n");
          if (eol == std::string::npos) return;
          std::string line = raw.substr(0, eol);
          raw.erase(0, eol + 2);
          auto semi = line.find(';');
          if (semi != std::string::npos) line.resize(semi);
          std::size_t size = 0;
          try {
            size = std::stoul(line, nullptr, 16);
          } catch (const std::exception&) {
            throw std::runtime_error("sse: bad chunk size line: " + line);
          }
          if (size == 0) {
            cstate = chunk_state::trailers;
          } else {
            chunk_left = size;
            cstate = chunk_state::data;
          }
          break;
        }
        case chunk_state::data: {
          if (raw.empty()) return;
          std::size_t take = std::min(chunk_left, raw.size());
          body.append(raw, 0, take);
          raw.erase(0, take);
          chunk_left -= take;
          if (chunk_left == 0) cstate = chunk_state::data_end;
          break;
        }
        case chunk_state::data_end:
          if (raw.size() < 2) return;
          if (raw.compare(0, 2, "\r\n") != 0) throw std::runtime_error("sse: bad chunk framing");
          raw.erase(0, 2);
          cstate = chunk_state::size_line;
          break;
        case chunk_state::trailers: {
          auto eol = raw.find("\r\n");
          if (eol == std::string::npos) return;
          bool last = eol == 0;
          raw.erase(0, eol + 2);
          if (last) {
            cstate = chunk_state::done;
            closed = true;  // the server ended the stream
          }
          break;
        }
        case chunk_state::done:
          raw.clear();
          return;
      }
    }
  }

  void process_line(const std::string& line) {
    if (line.empty()) {
      dispatch();
      return;
    }
    if (line[0] == ':') {
      ++comments;
      return;
    }
    std::string field, value;
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      field = line;
    } else {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    }
    if (field == "event") {
      event_type = value;
    } else if (field == "data") {
      data_buffer += value;
      data_buffer += '\n';
    } else if (field == "id") {
      if (value.find('\0') == std::string::npos) last_event_id = value;
    } else if (field == "retry") {
      if (!value.empty() && std::all_of(value.begin(), value.end(),
                                        [](unsigned char c) { return std::isdigit(c); })) {
        block_retry = static_cast<unsigned>(std::stoul(value));
        retry = block_retry;
      }
    }
    // other fields are ignored
  }

  void dispatch() {
    if (data_buffer.empty()) {
      event_type.clear();
      block_retry.reset();
      return;
    }
    data_buffer.pop_back();  // the last '\n'
    sse_event ev;
    ev.id = last_event_id;
    ev.event = event_type.empty() ? "message" : event_type;
    ev.data = std::move(data_buffer);
    ev.retry = block_retry;
    events.push_back(std::move(ev));
    data_buffer.clear();
    event_type.clear();
    block_retry.reset();
  }

  void parse_lines() {
    if (!bom_checked && body.size() >= 3) {
      if (body.compare(0, 3, "\xEF\xBB\xBF") == 0) body.erase(0, 3);
      bom_checked = true;
    }
    std::size_t start = 0;
    for (;;) {
      auto pos = body.find_first_of("\r\n", start);
      if (pos == std::string::npos) break;
      std::size_t term = 1;
      if (body[pos] == '\r') {
        if (pos + 1 == body.size() && !closed) break;  // a '\n' may follow
        if (pos + 1 < body.size() && body[pos + 1] == '\n') term = 2;
      }
      process_line(body.substr(start, pos - start));
      start = pos + term;
    }
    body.erase(0, start);
  }

  void pump() {
    decode_transport();
    parse_lines();
  }

  // At end of stream an incomplete event is discarded (per the standard).
  void flush_at_close() { pump(); }
};

sse_client::sse_client(std::uint16_t port, const std::map<std::string, std::string>& headers,
                       const std::string& target, int receive_buffer_bytes)
    : impl_(std::make_unique<impl>()) {
  auto& s = impl_->socket;
  s.open(tcp::v4());
  if (receive_buffer_bytes > 0) {
    s.set_option(net::socket_base::receive_buffer_size(receive_buffer_bytes));
  }
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nAccept: text/event-stream\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  req += "\r\n";
  net::write(s, net::buffer(req));
  impl_->read_header();
  const auto content_type = header("content-type");
  if (impl_->status != 200 || content_type.rfind("text/event-stream", 0) != 0) {
    // Include what we have of the body (usually the JSON error envelope).
    std::string body_start = impl_->raw.substr(0, 400);
    throw std::runtime_error("sse: status " + std::to_string(impl_->status) + ", content-type '" +
                             content_type + "': " + body_start);
  }
  impl_->pump();
}

sse_client::~sse_client() {
  beast::error_code ignored;
  impl_->socket.close(ignored);
}

std::optional<sse_event> sse_client::next(std::chrono::milliseconds timeout) {
  const auto deadline = impl::clock::now() + timeout;
  for (;;) {
    if (!impl_->events.empty()) {
      auto ev = std::move(impl_->events.front());
      impl_->events.pop_front();
      return ev;
    }
    if (impl_->closed) return std::nullopt;
    if (!impl_->read_more(deadline)) {
      if (!impl_->events.empty()) continue;
      return std::nullopt;
    }
    impl_->pump();
  }
}

std::optional<unsigned> sse_client::retry_hint(std::chrono::milliseconds timeout) {
  const auto deadline = impl::clock::now() + timeout;
  while (!impl_->retry && !impl_->closed) {
    if (!impl_->read_more(deadline)) break;
    impl_->pump();
  }
  return impl_->retry;
}

int sse_client::comments() const { return impl_->comments; }
bool sse_client::closed() const { return impl_->closed; }
unsigned sse_client::status() const { return impl_->status; }

std::string sse_client::header(const std::string& lower_name) const {
  auto it = impl_->headers.find(lower_name);
  return it == impl_->headers.end() ? std::string() : it->second;
}

}  // namespace hearth::testing
