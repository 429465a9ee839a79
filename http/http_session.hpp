#pragma once
// One HTTP/1.1 connection (modelled on Beast's advanced_server session): owns
// its socket, runs on its I/O thread, reads one request at a time (the next
// only after the response is written: pipelining-safe), with explicit
// deadlines (header within idleTimeoutMs, body within requestTimeoutMs) and
// size limits (413/431). A response with `sse` set turns the connection
// into an SSE stream (http/sse_stream.hpp) on the same thread. Internal to
// the engine (included by http/server.cpp only).

#include <fmt/format.h>

#include <array>
#include <boost/asio/write.hpp>
#include <cctype>
#include <optional>
#include <random>
#include <string>

#include "http/beast_request.hpp"
#include "http/dispatch.hpp"
#include "http/engine_state.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "http/quota.hpp"
#include "http/sse_stream.hpp"
#include "trace/trace.hpp"

namespace hearth::http::detail {

inline constexpr int kSseSendBufferBytes = 32 * 1024;

// ---------------------------------------------------------------------------
// One HTTP connection.
template <class Stream>
class http_session : public drainable, public std::enable_shared_from_this<http_session<Stream>> {
  using std::enable_shared_from_this<http_session<Stream>>::shared_from_this;

 public:
  http_session(Stream&& stream, engine_state& state, const router& routes, fanout_shard& shard)
      : stream_(std::move(stream)),
        executor_(stream_.get_executor()),
        options_(state.options),
        routes_(routes),
        state_(state),
        shard_(shard) {
    ++state_.open_connections;
  }
  ~http_session() {
    --state_.open_connections;
    if (in_flight_) --state_.in_flight;
  }

  // Draining: a kept-alive connection waiting for its next request is
  // closed (its client reconnects, to the successor after a restart); one
  // that has not sent its first request yet is still served, once.
  // `force` (late in the drain): also connections that never sent anything.
  void drain(bool force) override {
    // executor_, not stream_: the stream may have moved into an SSE stream.
    net::post(executor_, [self = shared_from_this(), force] {
      if (self->streaming_ || !self->reading_header_ || self->buffer_.size() != 0) return;
      if (self->served_ == 0 && !force) return;
      auto& socket = tcp_of(self->stream_).socket();
      beast::error_code ec;
      if (socket.available(ec) > 0) return;  // a request is arriving: serve it
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
    });
  }

  /// Before run(): the connection's place in the per-address quota (null:
  /// not counted), held while the connection and its SSE stream live, and
  /// the peer's address as the listener read it ("" = read it later).
  void hold(keyed_quota::slot slot, const std::string& address) {
    slot_ = std::move(slot);
    if (!address.empty()) {
      remote_addr_ = address;
      remote_known_ = true;
    }
  }

  void run() {
    state_.remember(std::static_pointer_cast<drainable>(shared_from_this()));
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (is_tls<Stream>) {
        // The TLS handshake counts against the header deadline.
        tcp_of(self->stream_).expires_after(self->options_.idle_timeout);
        self->stream_.async_handshake(
            boost::asio::ssl::stream_base::server, [self](beast::error_code ec) {
              if (ec) {
                log::debug("http: TLS handshake failed: {}", ec.message());
                return;
              }
              self->read_header();
            });
      } else {
        self->read_header();
      }
    });
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->body_limit(options_.body_limit_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.header_limit_bytes));
    // The whole header must arrive within the idle timeout (slowloris
    // defence); the body then gets the request timeout. On a timeout the
    // stream closes the socket (as nginx does for client_header_timeout):
    // there is no one left to read a 408.
    if (state_.draining && served_ > 0 && buffer_.size() == 0) return close();
    tcp_of(stream_).expires_after(options_.idle_timeout);
    reading_header_ = true;
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    reading_header_ = false;
    if (ec) return on_read_error(ec);
    tcp_of(stream_).expires_after(options_.request_timeout);
    auto& req = parser_->get();
    if (bhttp::fields::const_iterator it = req.find(bhttp::field::expect);
        it != req.end() && beast::iequals(it->value(), "100-continue") && !parser_->is_done()) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue),
                       [self = shared_from_this()](beast::error_code ec2, std::size_t) {
                         if (ec2) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->on_read_error(ec);
                        self->handle();
                      });
  }

  void on_read_error(beast::error_code ec) {
    if (expected_close(ec)) return close();
    if (auto refusal = read_refusal_of(ec, options_.body_limit_bytes))
      return reply_and_close(refusal->status, refusal->message);
    if (ec != bhttp::error::partial_message) log::debug("http: read failed: {}", ec.message());
    close();
  }

  void reply_and_close(unsigned status, const std::string& message) {
    span_ = trace::span();
    keep_alive_ = false;
    linger_ = true;  // the rest of the request may still be arriving
    head_ = false;
    request_id_ = new_request_id();
    begin_record();
    if (parser_ && parser_->is_header_done()) {
      rec_.method = std::string(parser_->get().method_string());
      rec_.target = std::string(parser_->get().target());
    }
    write(error(status, request_id_, message));
  }

  void begin_record() {
    rec_ = exchange_record{};
    rec_.started = std::chrono::system_clock::now();
    started_ = std::chrono::steady_clock::now();
    rec_.request_id = request_id_;
    if (!remote_known_) {  // once per connection: a getpeername system call
      beast::error_code ignored;
      auto ep = tcp_of(stream_).socket().remote_endpoint(ignored);
      if (!ignored) remote_addr_ = ep.address().to_string();
      remote_known_ = true;
    }
    rec_.remote_addr = remote_addr_;
    if (!in_flight_) {
      in_flight_ = true;
      ++state_.in_flight;
    }
  }

  void end_record(unsigned status, std::size_t bytes, bool stream) {
    rec_.status = status;
    rec_.response_bytes = bytes;
    rec_.stream = stream;
    rec_.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
    if (in_flight_) {
      in_flight_ = false;
      --state_.in_flight;
    }
    if (span_.recording()) {
      span_.set_name(rec_.route.empty() ? rec_.method : rec_.method + " " + rec_.route);
      if (!rec_.route.empty()) span_.set("http.route", rec_.route);
      span_.set("http.status_code", static_cast<std::int64_t>(status));
      if (stream) span_.set("hearth.sse", true);
      if (status >= 500) span_.set_error(fmt::format("HTTP {}", status));
      span_.end();
    }
    state_.observe(rec_);
  }

  void handle() {
    span_ = trace::span();
    auto& breq = parser_->get();
    keep_alive_ = breq.keep_alive();
    head_ = breq.method() == bhttp::verb::head;
    request req = request_of(breq);
    auto client_id = req.header("x-request-id");
    req.request_id = valid_client_request_id(client_id) ? std::string(client_id) : new_request_id();
    request_id_ = req.request_id;
    if (trace::enabled()) {
      // The server span of this request: a child of the caller's span when
      // a valid traceparent came (its sampled flag decides), else a new trace.
      auto parent = trace::parse_traceparent(req.header("traceparent"));
      span_ = trace::span(req.method, trace::kind::server, parent.value_or(trace::context{}));
      span_.set("http.method", req.method);
      span_.set("hearth.request_id", req.request_id);
      req.trace = span_.ctx();
      req.trace_id = trace::trace_id_hex(req.trace);
    } else {
      req.trace_id = trace_id_of(req.header("traceparent"));
      if (req.trace_id.empty()) req.trace_id = new_request_id();  // 32 hex: a new trace
    }
    begin_record();
    req.peer_addr = remote_addr_;
    const auto& trusted = state_.options.trusted_proxies;
    const bool names_client = !req.header("x-forwarded-for").empty() ||
                              !req.header("forwarded").empty() || !req.header("x-real-ip").empty();
    // Only X-Forwarded-For is read, and only from a trusted proxy; a
    // request naming a client any other way is marked (operator routes).
    if (!req.header("x-forwarded-for").empty() && !trusted.empty() &&
        in_ranges(trusted, remote_addr_)) {
      std::string xff;  // every X-Forwarded-For field, in order (RFC 9110 §5.3)
      for (const auto& [k, v] : req.headers)
        if (k == "x-forwarded-for") xff += (xff.empty() ? "" : ",") + v;
      rec_.remote_addr = forwarded_client(trusted, remote_addr_, xff);
    } else {
      req.forwarded_untrusted = names_client;
    }
    req.remote_addr = rec_.remote_addr;
    req.tls = is_tls<Stream>;
    rec_.method = req.method;
    rec_.target = req.target;
    rec_.trace_id = req.trace_id;
    rec_.user_agent = std::string(req.header("user-agent"));
    rec_.referer = std::string(req.header("referer"));
    if (state_.draining) keep_alive_ = false;

    auto routed = route_request(routes_, req);
    if (routed.matched) rec_.route = routed.matched->pattern;
    if (routed.refusal) return write(std::move(*routed.refusal));
    auto* matched = routed.matched;
    req.body = std::move(breq.body());

    auto done = std::make_shared<std::atomic<bool>>(false);
    // Called on this I/O thread (an answer from memory), the response is
    // written at once; from another thread (a pool job), it is posted here.
    responder respond = [self = shared_from_this(), done](response r) {
      if (done->exchange(true)) return;
      net::dispatch(self->executor_,
                    [self, r = std::move(r)]() mutable { self->write(std::move(r)); });
    };
    trace::scope in_span(req.trace);  // what the handler starts inline is a child
    run_handler(*matched, req, respond);
  }

  // Serialises the response head into head_buf_ (RFC 9112 §4, §6): status
  // line, Server, X-Request-ID, the handler's headers, the content headers
  // and, when the connection ends, Connection: close.
  void serialize_head(const response& r, bool with_content) {
    auto& h = head_buf_;
    h.clear();
    h += "HTTP/1.1 ";
    h += std::to_string(r.status);
    h += ' ';
    auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    h.append(reason.data(), reason.size());
    h += "\r\nServer: hearth\r\nX-Request-ID: ";
    h += request_id_;
    h += "\r\n";
    if (span_.ctx().valid()) {  // W3C trace-context: the server span, for the caller's logs
      h += "traceparent: ";
      h += trace::traceparent(span_.ctx());
      h += "\r\n";
    }
    for (const auto& [k, v] : r.headers) {
      h += k;
      h += ": ";
      h += v;
      h += "\r\n";
    }
    if (with_content) {
      if (!r.content_type.empty()) {
        h += "Content-Type: ";
        h += r.content_type;
        h += "\r\n";
      }
      h += "Content-Length: ";
      h += std::to_string(r.body.size());
      h += "\r\n";
    }
    if (!keep_alive_) h += "Connection: close\r\n";
    h += "\r\n";
  }

  // One gathered write of the head and the body (both kept in members until
  // it completes: a session writes one response at a time).
  void write(response r) {
    if (r.sse) return start_stream(std::move(r));
    if (state_.draining) keep_alive_ = false;
    // Neither a 304 nor a 204 has a body or content headers (RFC 9110 §15.3.5, §15.4.5).
    const bool with_content = r.status != 304 && r.status != 204;
    serialize_head(r, with_content);
    body_buf_.clear();
    if (with_content && !head_) body_buf_ = std::move(r.body);
    const unsigned status = r.status;
    tcp_of(stream_).expires_after(options_.request_timeout);
    std::array<net::const_buffer, 2> buffers{net::buffer(head_buf_), net::buffer(body_buf_)};
    net::async_write(stream_, buffers,
                     [self = shared_from_this(), status](beast::error_code ec, std::size_t) {
                       self->end_record(status, self->body_buf_.size(), false);
                       ++self->served_;
                       if (ec) return self->close();
                       if (!self->keep_alive_)
                         return self->linger_ ? self->linger_close() : self->close();
                       self->read_header();
                     });
  }

  void start_stream(response r) {
    auto header = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::ok, 11);
    header->set(bhttp::field::server, "hearth");
    header->set(bhttp::field::content_type, "text/event-stream");
    header->set(bhttp::field::cache_control, "no-cache");
    header->set("X-Accel-Buffering", "no");
    header->set("X-Request-ID", request_id_);
    if (span_.ctx().valid()) header->set("traceparent", trace::traceparent(span_.ctx()));
    for (const auto& [k, v] : r.headers) header->insert(k, v);
    header->keep_alive(true);
    header->chunked(true);
    tcp_of(stream_).expires_never();
    // A fixed send buffer (no autotuning, which grows to megabytes on a
    // stalled reader) bounds an idle stream's kernel memory and makes a
    // client that stops reading show up as queued frames quickly.
    beast::error_code ignored;
    tcp_of(stream_).socket().set_option(net::socket_base::send_buffer_size(kSseSendBufferBytes),
                                        ignored);
    auto& sse = *r.sse;
    auto stream = make_sse_stream(sse.start);
    streaming_ = true;
    end_record(200, 0, true);
    stream->start(std::move(header), std::move(sse.prelude));
    // Its owner learns the stream and says what to run when it ends, before
    // this handler returns: nothing can end the stream before that.
    // The connection's per-address slot now lives as long as the stream.
    std::function<void()> closer;
    if (sse.on_open) closer = sse.on_open(stream->ref());
    if (closer || slot_)
      stream->on_close([closer = std::move(closer), slot = std::move(slot_)] {
        if (closer) closer();
      });
  }

  // Plain TCP: the SSE stream takes the bare socket (Beast's timers are not
  // needed, and an idle stream is smaller without them); TLS: the stream.
  auto make_sse_stream(const std::vector<sse::stream_start>& start) {
    if constexpr (is_tls<Stream>)
      return std::make_shared<sse_stream<Stream>>(std::move(stream_), shard_, start, state_);
    else
      return std::make_shared<sse_stream<tcp::socket>>(stream_.release_socket(), shard_, start,
                                                       state_);
  }

  void close() {
    if constexpr (is_tls<Stream>) {
      // close_notify, then the socket (bounded by the timer).
      tcp_of(stream_).expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
        beast::error_code ec;
        tcp_of(self->stream_).socket().close(ec);
      });
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  // After an early error answer (413, 431, 400) the client may still be
  // sending its request. Closing a socket with unread data makes the kernel
  // send a reset, which can destroy the answer before the client reads it
  // (a client that writes its whole body before reading, as Python's
  // http.client does, then sees a broken pipe). So, as nginx's default
  // lingering_close: stop sending, then read and discard what arrives until
  // the client closes, for at most kLingerTime and kLingerBytes, then close.
  // TLS connections close as before (close_notify, bounded).
  static constexpr std::chrono::milliseconds kLingerTime{5'000};
  static constexpr std::size_t kLingerBytes = 16 << 20;

  void linger_close() {
    if constexpr (is_tls<Stream>) {
      close();
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return;
      stream_.expires_after(kLingerTime);  // on expiry the stream closes the socket
      linger_buf_ = std::make_unique<std::array<char, 16 * 1024>>();
      linger_read();
    }
  }

  void linger_read() {
    stream_.async_read_some(net::buffer(*linger_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->lingered_ += n;
                              if (!ec && self->lingered_ < kLingerBytes) return self->linger_read();
                              beast::error_code ignored;
                              tcp_of(self->stream_).socket().close(ignored);
                            });
  }

  Stream stream_;
  typename Stream::executor_type executor_;  // the connection's I/O thread
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const server_options& options_;
  const router& routes_;
  engine_state& state_;
  fanout_shard& shard_;
  std::string request_id_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool in_flight_ = false;
  bool reading_header_ = false;
  bool streaming_ = false;   // stream_ moved into an sse_stream
  std::size_t served_ = 0;   // responses written on this connection
  std::string remote_addr_;  // the client's address, read once
  std::string head_buf_;     // the response head being written
  std::string body_buf_;     // the response body being written
  bool remote_known_ = false;
  keyed_quota::slot slot_;  // this connection's place in maxConnectionsPerAddress
  bool linger_ = false;     // close lingeringly after the answer (linger_close())
  std::size_t lingered_ = 0;
  std::unique_ptr<std::array<char, 16 * 1024>> linger_buf_;
  exchange_record rec_;
  trace::span span_;  // the server span of the current request (inert when tracing is off)
  std::chrono::steady_clock::time_point started_;
};

}  // namespace hearth::http::detail
