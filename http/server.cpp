#include "http/server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "http/negotiation.hpp"

namespace hearth::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

namespace {

constexpr int kSseSendBufferBytes = 32 * 1024;

bool valid_client_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == ':'))
      return false;
  return true;
}

// A W3C trace-context traceparent (https://www.w3.org/TR/trace-context/):
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"; all-zero ids are
// invalid. Returns the trace id, or "" when the header is absent or invalid.
std::string trace_id_of(std::string_view tp) {
  auto hex = [](std::string_view v) {
    return std::all_of(v.begin(), v.end(),
                       [](char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); });
  };
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return "";
  auto version = tp.substr(0, 2), trace = tp.substr(3, 32), parent = tp.substr(36, 16),
       flags = tp.substr(53, 2);
  if (!hex(version) || version == "ff" || !hex(trace) || !hex(parent) || !hex(flags)) return "";
  if (trace == std::string(32, '0') || parent == std::string(16, '0')) return "";
  if (version == "00" && tp.size() != 55) return "";
  return std::string(trace);
}

// What every session and stream of one server shares: live counts, the open
// SSE streams (for the drain's final retry hint) and the exchange observer.
// A connection the drain must reach: idle keep-alive connections are closed,
// connections that have not sent their first request yet are still served.
struct drainable {
  virtual ~drainable() = default;
  virtual void drain(bool force) = 0;  // thread-safe
};

struct engine_state {
  explicit engine_state(const server_options& o) : options(o) {}
  const server_options& options;
  std::atomic<std::size_t> open_connections{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> open_streams{0};
  std::atomic<std::size_t> sse_backlog{0};  // frames queued in all SSE streams
  std::atomic<bool> draining{false};
  std::mutex streams_mutex;
  std::vector<std::weak_ptr<event_sink>> streams;
  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<drainable>> sessions;

  template <class T>
  static void remember(std::mutex& m, std::vector<std::weak_ptr<T>>& all, std::weak_ptr<T> one) {
    std::lock_guard lock(m);
    if (all.size() >= 64 && all.size() == all.capacity())  // forget ended ones, amortised O(1)
      all.erase(std::remove_if(all.begin(), all.end(), [](auto& w) { return w.expired(); }),
                all.end());
    all.push_back(std::move(one));
  }

  void observe(const exchange_record& r) const {
    if (!options.on_exchange) return;
    try {
      options.on_exchange(r);
    } catch (const std::exception& e) {
      log::warn("http: exchange observer failed: {}", e.what());
    }
  }
};

bool expected_close(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
         ec == beast::error::timeout || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe;
}

// ---------------------------------------------------------------------------
// One SSE stream: owns the socket after the response header. Frames go out as
// HTTP chunks, in order; at most `limit` may wait. Under load they coalesce:
// send() posts to the strand only when no drain is pending (frames arriving
// meanwhile join the same batch), and each write takes every queued frame
// (up to kMaxBatchFrames) as one chunk, so a busy stream costs one post,
// one timer arm and one writev per batch instead of per frame. A read is
// kept pending on the raw socket only to notice the client leaving.
// The lowest layer (TCP, with its timer) of a plain or TLS stream.
template <class Stream>
beast::tcp_stream& tcp_of(Stream& s) {
  return beast::get_lowest_layer(s);
}

template <class Stream>
constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

template <class Stream>
class sse_stream : public event_sink, public std::enable_shared_from_this<sse_stream<Stream>> {
  using std::enable_shared_from_this<sse_stream<Stream>>::shared_from_this;

 public:
  sse_stream(Stream stream, std::size_t limit, std::chrono::milliseconds write_timeout,
             engine_state& state)
      : stream_(std::move(stream)), limit_(limit), write_timeout_(write_timeout), state_(state) {
    ++state_.open_streams;
  }

  void start(std::shared_ptr<bhttp::response<bhttp::empty_body>> header) {
    header_ = std::move(header);
    serializer_.emplace(*header_);
    // The read first, while the stream's timers are off: expires_after()
    // with no operation pending arms the read timer too, which would end
    // every stream after the write timeout however busy it is. With the read
    // pending, expires_after() arms only the write timer.
    stream_.async_read_some(net::buffer(read_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              // Clients send nothing on an SSE stream: data or EOF both end it.
                              self->finish(ec ? ec : beast::error_code(net::error::eof));
                            });
    writing_ = true;
    tcp_of(stream_).expires_after(write_timeout_);
    bhttp::async_write_header(stream_, *serializer_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                self->writing_ = false;
                                if (ec) return self->finish(ec);
                                self->write_next();
                              });
  }

  bool send(std::string frame) override {
    if (closed_.load()) return false;
    if (pending_.fetch_add(1) + 1 > limit_) {
      overflowed_ = true;
      close_now();
      return false;
    }
    ++state_.sse_backlog;
    {
      std::lock_guard lock(incoming_mutex_);
      incoming_.push_back(std::move(frame));
      if (drain_posted_) return true;  // the pending drain takes this frame too
      drain_posted_ = true;
    }
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->drain(); });
    return true;
  }

  void close() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->writing_) self->write_next();
    });
  }

  void on_close(std::function<void()> callback) override {
    std::lock_guard lock(callback_mutex_);
    on_close_ = std::move(callback);
  }

 private:
  void close_now() {
    net::post(stream_.get_executor(),
              [self = shared_from_this()] { self->finish(net::error::operation_aborted); });
  }

  // On the strand: moves the frames sent since the last drain to the queue.
  void drain() {
    std::vector<std::string> batch;
    {
      std::lock_guard lock(incoming_mutex_);
      batch.swap(incoming_);
      drain_posted_ = false;
    }
    if (finished_) return release(batch.size());  // sent after the stream ended
    for (auto& f : batch) queue_.push_back(std::move(f));
    if (!writing_) write_next();
  }

  static constexpr std::size_t kMaxBatchFrames = 64;

  void write_next() {
    if (finished_) return;
    if (queue_.empty()) {
      if (closing_) {
        writing_ = true;
        tcp_of(stream_).expires_after(write_timeout_);
        net::async_write(stream_, bhttp::make_chunk_last(),
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                           self->finish(ec ? ec : beast::error_code(net::error::eof));
                         });
      }
      return;
    }
    writing_ = true;
    // Every queued frame (deque elements never move while we append) in one
    // chunk: SSE framing does not depend on chunk boundaries.
    const auto n = std::min(queue_.size(), kMaxBatchFrames);
    in_flight_frames_ = n;
    batch_.clear();
    for (std::size_t i = 0; i < n; ++i) batch_.push_back(net::buffer(queue_[i]));
    tcp_of(stream_).expires_after(write_timeout_);
    net::async_write(stream_, bhttp::make_chunk(batch_),
                     [self = shared_from_this(), n](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       self->in_flight_frames_ = 0;
                       for (std::size_t i = 0; i < n; ++i) self->queue_.pop_front();
                       self->release(n);
                       if (ec) return self->finish(ec);
                       self->write_next();
                     });
  }

  // `n` accepted frames are written or discarded.
  void release(std::size_t n) {
    pending_.fetch_sub(n);
    state_.sse_backlog.fetch_sub(n);
  }

  void finish(beast::error_code ec) {
    if (finished_) return;
    finished_ = true;
    closed_ = true;
    --state_.open_streams;
    // Frames that will never be written leave the backlog now: the queued
    // ones outside the write under way (its completion releases its own)
    // and those not yet drained (later ones are released by drain()).
    release(queue_.size() - in_flight_frames_);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(in_flight_frames_), queue_.end());
    {
      std::lock_guard lock(incoming_mutex_);
      release(incoming_.size());
      incoming_.clear();
    }
    if (overflowed_)
      log::info("sse: stream dropped, more than {} frames queued (slow client)", limit_);
    else if (!expected_close(ec))
      log::debug("sse: stream ended: {}", ec.message());
    beast::error_code ignored;
    tcp_of(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_of(stream_).socket().close(ignored);
    std::function<void()> cb;
    {
      std::lock_guard lock(callback_mutex_);
      cb = std::move(on_close_);
    }
    if (cb) cb();
  }

  Stream stream_;
  std::size_t limit_;
  std::chrono::milliseconds write_timeout_;
  std::shared_ptr<bhttp::response<bhttp::empty_body>> header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer_;
  std::deque<std::string> queue_;
  std::vector<net::const_buffer> batch_;  // the frames of the write under way
  std::size_t in_flight_frames_ = 0;      // how many
  std::mutex incoming_mutex_;
  std::vector<std::string> incoming_;  // sent, not yet drained to the strand
  bool drain_posted_ = false;
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> overflowed_{false};
  bool writing_ = false, closing_ = false, finished_ = false;
  std::array<char, 512> read_buf_{};
  std::mutex callback_mutex_;
  std::function<void()> on_close_;
  engine_state& state_;
};

// ---------------------------------------------------------------------------
// One HTTP connection.
template <class Stream>
class http_session : public drainable, public std::enable_shared_from_this<http_session<Stream>> {
  using std::enable_shared_from_this<http_session<Stream>>::shared_from_this;

 public:
  http_session(Stream&& stream, engine_state& state, const router& routes)
      : stream_(std::move(stream)),
        executor_(stream_.get_executor()),
        options_(state.options),
        routes_(routes),
        state_(state) {
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

  void run() {
    engine_state::remember<drainable>(state_.sessions_mutex, state_.sessions,
                                      std::static_pointer_cast<drainable>(shared_from_this()));
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
    if (ec == bhttp::error::body_limit)
      return reply_and_close(
          413, fmt::format("request body larger than {} bytes", options_.body_limit_bytes));
    if (ec == bhttp::error::header_limit) return reply_and_close(431, "");
    if (expected_close(ec) || ec == bhttp::error::partial_message) return close();
    if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category())
      return reply_and_close(400, fmt::format("malformed HTTP request: {}", ec.message()));
    log::debug("http: read failed: {}", ec.message());
    close();
  }

  void reply_and_close(unsigned status, const std::string& message) {
    keep_alive_ = false;
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
    beast::error_code ignored;
    auto ep = tcp_of(stream_).socket().remote_endpoint(ignored);
    if (!ignored) rec_.remote_addr = ep.address().to_string();
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
    state_.observe(rec_);
  }

  void handle() {
    auto& breq = parser_->get();
    keep_alive_ = breq.keep_alive();
    head_ = breq.method() == bhttp::verb::head;
    request req;
    req.method = std::string(breq.method_string());
    req.target = std::string(breq.target());
    for (const auto& f : breq) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    auto client_id = req.header("x-request-id");
    req.request_id = valid_client_request_id(client_id) ? std::string(client_id) : new_request_id();
    request_id_ = req.request_id;
    req.trace_id = trace_id_of(req.header("traceparent"));
    if (req.trace_id.empty()) req.trace_id = new_request_id();  // 32 hex: a new trace
    begin_record();
    req.remote_addr = rec_.remote_addr;
    rec_.method = req.method;
    rec_.target = req.target;
    rec_.trace_id = req.trace_id;
    rec_.user_agent = std::string(req.header("user-agent"));
    rec_.referer = std::string(req.header("referer"));
    if (state_.draining) keep_alive_ = false;

    auto url = boost::urls::parse_origin_form(req.target);
    if (!url) return write(error(400, request_id_, "malformed request target"));
    req.path = url->path();
    for (auto p : url->params()) req.query[p.key] = p.value;

    auto m = routes_.find(req.method, req.path);
    if (m.result == router::outcome::not_found)
      return write(error(404, request_id_, fmt::format("no route for {}", req.path)));
    if (m.result == router::outcome::method_not_allowed) {
      auto r = error(405, request_id_, fmt::format("{} is not allowed here", req.method));
      r.headers.emplace_back("Allow", m.allow);
      return write(std::move(r));
    }
    rec_.route = m.matched->pattern;
    if (auto status = negotiate(*m.matched, req)) return write(error(*status, request_id_, ""));
    req.params = std::move(m.params);
    req.body = std::move(breq.body());

    auto done = std::make_shared<std::atomic<bool>>(false);
    responder respond = [self = shared_from_this(), done](response r) {
      if (done->exchange(true)) return;
      net::post(self->executor_, [self, r = std::move(r)]() mutable { self->write(std::move(r)); });
    };
    try {
      m.matched->run(req, respond);
    } catch (const input_error& e) {
      respond(error(400, request_id_, e.what()));
    } catch (const std::exception& e) {
      log::error("request {}: handler failed: {}", request_id_, e.what());
      respond(error(500, request_id_, ""));
    }
  }

  void write(response r) {
    if (r.on_stream) return start_stream(std::move(r));
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "hearth");
    res->set("X-Request-ID", request_id_);
    for (const auto& [k, v] : r.headers) res->insert(k, v);
    if (state_.draining) keep_alive_ = false;
    res->keep_alive(keep_alive_);
    // Neither a 304 nor a 204 has a body or content headers (RFC 9110 §15.3.5, §15.4.5).
    if (r.status != 304 && r.status != 204) {
      if (!r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
      res->content_length(r.body.size());
      if (!head_) res->body() = std::move(r.body);
    }
    tcp_of(stream_).expires_after(options_.request_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                         self->end_record(res->result_int(), res->body().size(), false);
                         ++self->served_;
                         if (ec) return self->close();
                         if (!self->keep_alive_) return self->close();
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
    auto sink = std::make_shared<sse_stream<Stream>>(std::move(stream_), options_.sse_queue_limit,
                                                     options_.request_timeout, state_);
    engine_state::remember<event_sink>(state_.streams_mutex, state_.streams, sink);
    streaming_ = true;
    end_record(200, 0, true);
    r.on_stream(sink);  // the owner sets on_close before frames flow
    sink->start(std::move(header));
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

  Stream stream_;
  typename Stream::executor_type executor_;  // the connection's strand
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const server_options& options_;
  const router& routes_;
  engine_state& state_;
  std::string request_id_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool in_flight_ = false;
  bool reading_header_ = false;
  bool streaming_ = false;  // stream_ moved into an sse_stream
  std::size_t served_ = 0;  // responses written on this connection
  exchange_record rec_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

// ---------------------------------------------------------------------------
struct server::impl {
  impl(server_options o, const router& r)
      : options(std::move(o)), state(options), routes(r), ioc(options.threads) {
    if (!options.tls_cert_file.empty()) {
      // Mozilla's "intermediate" profile: TLS 1.2 and 1.3 only.
      tls.emplace(net::ssl::context::tls_server);
      tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
      tls->use_certificate_chain_file(options.tls_cert_file);
      tls->use_private_key_file(options.tls_key_file, net::ssl::context::pem);
    }
  }

  void accept() {
    acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        log::warn("http: accept failed: {}", ec.message());
      } else if (state.open_connections + state.open_streams >= options.max_connections) {
        refuse(std::move(socket));
      } else if (tls) {
        std::make_shared<http_session<tls_stream>>(tls_stream(std::move(socket), *tls), state,
                                                   routes)
            ->run();
      } else {
        std::make_shared<http_session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)),
                                                          state, routes)
            ->run();
      }
      if (!state.draining) accept();
    });
  }

  // Over maxConnections: a 503 envelope, then close (the request is not read;
  // a TLS client just sees the connection closed).
  void refuse(tcp::socket socket) {
    if (tls) {
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    auto rid = new_request_id();
    auto body = error(503, rid, "too many connections, retry shortly").body;
    auto text = std::make_shared<std::string>(
        fmt::format("HTTP/1.1 503 Service Unavailable\r\nServer: hearth\r\nX-Request-ID: {}\r\n"
                    "Retry-After: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                    "Connection: close\r\n\r\n{}",
                    rid, body.size(), body));
    auto sock = std::make_shared<tcp::socket>(std::move(socket));
    log::warn("http: {} connections open, refusing one", options.max_connections);
    net::async_write(*sock, net::buffer(*text), [sock, text](beast::error_code, std::size_t) {
      beast::error_code ignored;
      sock->shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  server_options options;
  engine_state state;
  std::optional<net::ssl::context> tls;  // HTTPS when a certificate is configured
  const router& routes;
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  bool stopped = false;
};

server::server(server_options options, const router& routes)
    : impl_(std::make_unique<impl>(std::move(options), routes)) {}

server::~server() { stop(); }

std::uint16_t server::bind() {
  auto& i = *impl_;
  if (!i.acceptor && i.options.listen_fd >= 0) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(i.options.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    i.acceptor.emplace(net::make_strand(i.ioc));
    i.acceptor->assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), i.options.listen_fd);
  }
  if (!i.acceptor) {
    tcp::endpoint ep{net::ip::make_address(i.options.host), i.options.port};
    i.acceptor.emplace(net::make_strand(i.ioc));
    i.acceptor->open(ep.protocol());
    i.acceptor->set_option(net::socket_base::reuse_address(true));
    i.acceptor->bind(ep);
    i.acceptor->listen(net::socket_base::max_listen_connections);
  }
  return i.acceptor->local_endpoint().port();
}

std::uint16_t server::start() {
  auto& i = *impl_;
  auto port = bind();
  i.accept();
  for (int t = 0; t < i.options.threads; ++t) i.threads.emplace_back([&i] { i.ioc.run(); });
  return port;
}

void server::drain(std::chrono::milliseconds deadline) {
  auto& i = *impl_;
  if (i.stopped || i.state.draining.exchange(true)) return;
  if (i.acceptor) {
    net::post(i.acceptor->get_executor(), [&i] {
      beast::error_code ec;
      i.acceptor->close(ec);
    });
  }
  auto drain_sessions = [&i](bool force) {
    std::vector<std::shared_ptr<drainable>> sessions;
    {
      std::lock_guard lock(i.state.sessions_mutex);
      for (auto& w : i.state.sessions)
        if (auto s = w.lock()) sessions.push_back(std::move(s));
    }
    for (auto& s : sessions) s->drain(force);
  };
  drain_sessions(false);
  // Every connection answers what it has been sent (or accepted just before
  // the acceptor closed: its first request) and closes. Connections that
  // have sent nothing after a grace second (preconnects) are closed too.
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + deadline;
  bool forced = false;
  while ((i.state.in_flight > 0 || i.state.open_connections > 0) &&
         std::chrono::steady_clock::now() < until) {
    if (!forced && std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) {
      forced = true;
      drain_sessions(true);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (i.state.in_flight > 0 || i.state.open_connections > 0)
    log::warn("http: {} request(s) in flight, {} connection(s) open after {} ms, cut off",
              i.state.in_flight.load(), i.state.open_connections.load(), deadline.count());
  std::vector<std::shared_ptr<event_sink>> streams;
  {
    std::lock_guard lock(i.state.streams_mutex);
    for (auto& w : i.state.streams)
      if (auto s = w.lock()) streams.push_back(std::move(s));
    i.state.streams.clear();
  }
  auto hint = fmt::format("retry: {}\n\n", i.options.sse_retry_ms);
  for (auto& s : streams) {
    s->send(hint);
    s->close();
  }
  // Give the final frames a moment to leave (bounded).
  auto flush_until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (i.state.open_streams > 0 && std::chrono::steady_clock::now() < flush_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  log::info("http: drained ({} stream(s) told to reconnect)", streams.size());
}

int server::listen_fd() const { return impl_->acceptor ? impl_->acceptor->native_handle() : -1; }

server_stats server::stats() const {
  const auto& st = impl_->state;
  return {st.open_connections.load(), st.in_flight.load(), st.open_streams.load(),
          st.sse_backlog.load()};
}

void server::stop() {
  auto& i = *impl_;
  if (i.stopped) return;
  i.stopped = true;
  if (i.acceptor) {
    net::post(i.acceptor->get_executor(), [&i] {
      beast::error_code ec;
      i.acceptor->close(ec);
    });
  }
  i.ioc.stop();
  for (auto& t : i.threads)
    if (t.joinable()) t.join();
}

}  // namespace hearth::http
