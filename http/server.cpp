#include "http/server.hpp"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
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

bool expected_close(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
         ec == beast::error::timeout || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe;
}

// ---------------------------------------------------------------------------
// One SSE stream: owns the socket after the response header. Frames go out as
// HTTP chunks, one at a time, in order; at most `limit` may wait. A read is
// kept pending on the raw socket only to notice the client leaving.
class sse_stream : public event_sink, public std::enable_shared_from_this<sse_stream> {
 public:
  sse_stream(beast::tcp_stream stream, std::size_t limit, std::chrono::milliseconds write_timeout)
      : stream_(std::move(stream)), limit_(limit), write_timeout_(write_timeout) {}

  void start(std::shared_ptr<bhttp::response<bhttp::empty_body>> header) {
    header_ = std::move(header);
    serializer_.emplace(*header_);
    writing_ = true;
    stream_.expires_after(write_timeout_);
    bhttp::async_write_header(stream_, *serializer_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                self->writing_ = false;
                                if (ec) return self->finish(ec);
                                self->write_next();
                              });
    stream_.socket().async_read_some(
        net::buffer(read_buf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          // Clients send nothing on an SSE stream: data or EOF both end it.
          self->finish(ec ? ec : beast::error_code(net::error::eof));
        });
  }

  bool send(std::string frame) override {
    if (closed_.load()) return false;
    if (pending_.fetch_add(1) + 1 > limit_) {
      overflowed_ = true;
      close_now();
      return false;
    }
    net::post(stream_.get_executor(), [self = shared_from_this(), f = std::move(frame)]() mutable {
      if (self->finished_) return;
      self->queue_.push_back(std::move(f));
      if (!self->writing_) self->write_next();
    });
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

  void write_next() {
    if (finished_) return;
    if (queue_.empty()) {
      if (closing_) {
        writing_ = true;
        stream_.expires_after(write_timeout_);
        net::async_write(stream_, bhttp::make_chunk_last(),
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                           self->finish(ec ? ec : beast::error_code(net::error::eof));
                         });
      }
      return;
    }
    writing_ = true;
    stream_.expires_after(write_timeout_);
    net::async_write(stream_, bhttp::make_chunk(net::buffer(queue_.front())),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       self->queue_.pop_front();
                       self->pending_.fetch_sub(1);
                       if (ec) return self->finish(ec);
                       self->write_next();
                     });
  }

  void finish(beast::error_code ec) {
    if (finished_) return;
    finished_ = true;
    closed_ = true;
    if (overflowed_)
      log::info("sse: stream dropped, more than {} frames queued (slow client)", limit_);
    else if (!expected_close(ec))
      log::debug("sse: stream ended: {}", ec.message());
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    std::function<void()> cb;
    {
      std::lock_guard lock(callback_mutex_);
      cb = std::move(on_close_);
    }
    if (cb) cb();
  }

  beast::tcp_stream stream_;
  std::size_t limit_;
  std::chrono::milliseconds write_timeout_;
  std::shared_ptr<bhttp::response<bhttp::empty_body>> header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer_;
  std::deque<std::string> queue_;
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> overflowed_{false};
  bool writing_ = false, closing_ = false, finished_ = false;
  std::array<char, 512> read_buf_{};
  std::mutex callback_mutex_;
  std::function<void()> on_close_;
};

// ---------------------------------------------------------------------------
// One HTTP connection.
class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket&& socket, const server_options& options, const router& routes)
      : stream_(std::move(socket)), options_(options), routes_(routes) {}

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
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
    stream_.expires_after(options_.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    stream_.expires_after(options_.request_timeout);
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
    write(error(status, request_id_, message));
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
    beast::error_code ignored;
    auto ep = stream_.socket().remote_endpoint(ignored);
    if (!ignored) req.remote_addr = ep.address().to_string();

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
    if (auto status = negotiate(*m.matched, req)) return write(error(*status, request_id_, ""));
    req.params = std::move(m.params);
    req.body = std::move(breq.body());

    auto done = std::make_shared<std::atomic<bool>>(false);
    responder respond = [self = shared_from_this(), done](response r) {
      if (done->exchange(true)) return;
      net::post(self->stream_.get_executor(),
                [self, r = std::move(r)]() mutable { self->write(std::move(r)); });
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
    res->keep_alive(keep_alive_);
    if (r.status != 304) {  // a 304 has neither body nor content headers (RFC 9110 §15.4.5)
      res->set(bhttp::field::content_type, r.content_type);
      res->content_length(r.body.size());
      if (!head_) res->body() = std::move(r.body);
    }
    stream_.expires_after(options_.request_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
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
    stream_.expires_never();
    // A fixed send buffer (no autotuning, which grows to megabytes on a
    // stalled reader) bounds an idle stream's kernel memory and makes a
    // client that stops reading show up as queued frames quickly.
    beast::error_code ignored;
    stream_.socket().set_option(net::socket_base::send_buffer_size(kSseSendBufferBytes), ignored);
    auto sink = std::make_shared<sse_stream>(std::move(stream_), options_.sse_queue_limit,
                                             options_.request_timeout);
    r.on_stream(sink);  // the owner sets on_close before frames flow
    sink->start(std::move(header));
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const server_options& options_;
  const router& routes_;
  std::string request_id_;
  bool keep_alive_ = true;
  bool head_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------
struct server::impl {
  impl(server_options o, const router& r)
      : options(std::move(o)), routes(r), ioc(options.threads) {}

  void accept() {
    acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        log::warn("http: accept failed: {}", ec.message());
      } else {
        std::make_shared<http_session>(std::move(socket), options, routes)->run();
      }
      accept();
    });
  }

  server_options options;
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
