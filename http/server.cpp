// The HTTP engine's listener: binds (or adopts an inherited socket),
// accepts and deals connections round-robin to its I/O threads (one
// io_context each), refuses connections over maxConnections, drains and
// stops. Sessions: http/http_session.hpp; SSE streams: http/sse_stream.hpp
// and the fan-out hub, http/fanout.hpp.

#include "http/server.hpp"

#include <sys/socket.h>

#include <chrono>
#include <random>
#include <thread>
#include <tuple>

#include "http/http_session.hpp"
#include "http/io_thread.hpp"
#include "http/quota.hpp"

namespace hearth::http {
using namespace detail;

namespace {
thread_local int io_thread_index = -1;
}  // namespace

int current_io_thread() { return io_thread_index; }
void set_io_thread(int index) { io_thread_index = index; }

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

struct server::impl {
  impl(server_options o, const router& r) : options(std::move(o)), state(options), routes(r) {
    // One io_context per I/O thread: a connection, and the SSE stream it may
    // become, live on one thread, so the fan-out reaches each thread once.
    const auto n = static_cast<std::size_t>(std::max(options.threads, 1));
    std::vector<net::io_context*> raw;
    for (std::size_t t = 0; t < n; ++t) {
      threads_io.push_back(std::make_unique<net::io_context>(1));
      raw.push_back(threads_io.back().get());
    }
    hub.emplace(std::move(raw), options.fanout);
    accept_pause.emplace(*threads_io[0]);
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
    const auto t = static_cast<std::uint32_t>(next_thread++ % threads_io.size());
    auto& ioc = *threads_io[t];
    acceptor->async_accept(ioc, [this, t](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors (EMFILE/ENFILE) or memory: the pending
        // connection stays in the backlog and the next accept would fail at
        // once, spinning a thread. Pause accepting a moment instead (as
        // nginx does); connections already open go on.
        if (++accept_failures == 1 || accept_failures % 100 == 0)
          log::warn("http: accept failed ({} time(s)): {}; pausing accepts for 100 ms",
                    accept_failures, ec.message());
        accept_pause->expires_after(std::chrono::milliseconds(100));
        accept_pause->async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec && !state.draining) accept();
        });
        return;
      }
      if (state.open_connections + state.open_streams >= options.max_connections) {
        refuse(std::move(socket), 503, "too many connections, retry shortly");
      } else {
        // One client address may hold maxConnectionsPerAddress at most; a
        // trusted proxy carries many clients and is not limited here.
        keyed_quota::slot slot;
        beast::error_code peer_ec;
        auto peer = socket.remote_endpoint(peer_ec);
        const auto address = peer_ec ? std::string() : peer.address().to_string();
        if (!address.empty() && !in_ranges(options.trusted_proxies, address)) {
          slot = per_address.acquire(address);
          if (!slot) {
            log::notice("security: connection refused: {} holds {} connections", address,
                        options.max_connections_per_address);
            refuse(std::move(socket), 429, "too many connections from this address, retry later");
            if (!state.draining) accept();
            return;
          }
        }
        serve(std::move(socket), t, std::move(slot), address);
      }
      if (!state.draining) accept();
    });
  }

  // `slot`: the connection's place in per_address (null: not counted),
  // held for as long as the connection, and its SSE stream, lives.
  void serve(tcp::socket socket, std::uint32_t thread, keyed_quota::slot slot,
             const std::string& address) {
    // hearth writes whole responses and corked SSE chunks itself: Nagle's
    // algorithm would only hold small writes back behind delayed ACKs.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (tls) {
      auto s = std::make_shared<http_session<tls_stream>>(tls_stream(std::move(socket), *tls),
                                                          state, routes, hub->shard(thread));
      s->hold(std::move(slot), address);
      s->run();
    } else {
      auto s = std::make_shared<http_session<beast::tcp_stream>>(
          beast::tcp_stream(std::move(socket)), state, routes, hub->shard(thread));
      s->hold(std::move(slot), address);
      s->run();
    }
  }

  // Over maxConnections (503) or maxConnectionsPerAddress (429): an error
  // envelope, then close (the request is not read; a TLS client just sees
  // the connection closed).
  void refuse(tcp::socket socket, unsigned status, const char* message) {
    if (tls) {
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    auto rid = new_request_id();
    auto body = error(status, rid, message).body;
    auto text = std::make_shared<std::string>(
        fmt::format("HTTP/1.1 {} {}\r\nServer: hearth\r\nX-Request-ID: {}\r\n"
                    "Retry-After: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                    "Connection: close\r\n\r\n{}",
                    status, status == 429 ? "Too Many Requests" : "Service Unavailable", rid,
                    status == 429 ? 5 : 1, body.size(), body));
    auto sock = std::make_shared<tcp::socket>(std::move(socket));
    if (status == 503)
      log::warn("http: {} connections open, refusing one", options.max_connections);
    net::async_write(*sock, net::buffer(*text), [sock, text](beast::error_code, std::size_t) {
      beast::error_code ignored;
      sock->shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  server_options options;
  engine_state state;
  keyed_quota per_address{options.max_connections_per_address};  // by TCP peer address
  std::optional<net::ssl::context> tls;  // HTTPS when a certificate is configured
  const router& routes;
  std::vector<std::unique_ptr<net::io_context>> threads_io;  // one per I/O thread
  std::optional<fanout_hub> hub;
  std::size_t next_thread = 0;  // round-robin assignment of accepted connections
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_pause;  // after a failed accept (on thread 0)
  std::size_t accept_failures = 0;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  bool stopped = false;
};

server_options server_options::from_config(const config::config& cfg) {
  server_options o;
  std::tie(o.host, o.port) = config::split_host_port(cfg.http_addr);
  o.threads = cfg.http_threads;
  o.body_limit_bytes = static_cast<std::size_t>(cfg.body_limit_bytes);
  o.header_limit_bytes = static_cast<std::size_t>(cfg.header_limit_bytes);
  o.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  o.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  o.fanout = fanout_options::from_config(cfg);
  o.max_connections = static_cast<std::size_t>(cfg.max_connections);
  o.max_connections_per_address = static_cast<std::size_t>(cfg.max_connections_per_address);
  o.sse_retry_ms = static_cast<unsigned>(cfg.sse_retry_ms);
  o.tls_cert_file = cfg.tls_cert;
  o.tls_key_file = cfg.tls_key;
  try {
    o.trusted_proxies = parse_ip_ranges(cfg.trusted_proxies);
  } catch (const std::invalid_argument& e) {
    throw config::config_error(std::string("trustedProxies: ") + e.what());
  }
  return o;
}

server::server(server_options options, const router& routes)
    : impl_(std::make_unique<impl>(std::move(options), routes)) {}

server::~server() { stop(); }

std::uint16_t server::bind() {
  auto& i = *impl_;
  if (!i.acceptor && i.options.listen_fd >= 0) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(i.options.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    i.acceptor.emplace(*i.threads_io[0]);
    i.acceptor->assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), i.options.listen_fd);
  }
  if (!i.acceptor) {
    tcp::endpoint ep{net::ip::make_address(i.options.host), i.options.port};
    i.acceptor.emplace(*i.threads_io[0]);
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
  for (std::size_t t = 0; t < i.threads_io.size(); ++t) {
    // Runs until stop(), with or without work.
    auto& ioc = *i.threads_io[t];
    i.guards.push_back(net::make_work_guard(ioc));
    i.threads.emplace_back([&ioc, t] {
      set_io_thread(static_cast<int>(t));
      ioc.run();
    });
  }
  return port;
}

bool server::ready() const {
  return !impl_->state.draining.load() && !impl_->state.drain_announced.load();
}

void server::announce_drain() { impl_->state.drain_announced = true; }

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
  const auto streams = i.state.open_streams.load();
  i.hub->close_all(sse::retry_frame(i.options.sse_retry_ms));
  // Give the final frames a moment to leave (bounded).
  auto flush_until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (i.state.open_streams > 0 && std::chrono::steady_clock::now() < flush_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  log::info("http: drained ({} stream(s) told to reconnect)", streams);
}

fanout_hub& server::fanout() { return *impl_->hub; }

std::vector<net::io_context*> server::io_threads() const {
  std::vector<net::io_context*> out;
  for (const auto& ioc : impl_->threads_io) out.push_back(ioc.get());
  return out;
}
const fanout_hub& server::fanout() const { return *impl_->hub; }

int server::listen_fd() const { return impl_->acceptor ? impl_->acceptor->native_handle() : -1; }

server_stats server::stats() const {
  const auto& st = impl_->state;
  return {st.open_connections.load(), st.in_flight.load(), st.open_streams.load(),
          impl_->hub->stats(), impl_->per_address.refused()};
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
  for (auto& g : i.guards) g.reset();
  for (auto& ioc : i.threads_io) ioc->stop();
  for (auto& t : i.threads)
    if (t.joinable()) t.join();
  // Handlers still queued hold streams whose callbacks hold actor handles:
  // drop them now, before the actor system (stopped after the server) goes.
  for (std::uint32_t k = 0; k < i.hub->shards(); ++k) i.hub->shard(k).forget_callbacks();
}

}  // namespace hearth::http
