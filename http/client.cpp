#include "http/client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>
#include <variant>

#include "trace/trace.hpp"

namespace hearth::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

constexpr std::uint32_t kHeaderLimit = 64 * 1024;

// One shared client TLS context: the system's CA store, peer verification.
// SSL_CTX is safe to share between threads once configured.
ssl::context& tls_context() {
  static ssl::context ctx = [] {
    ssl::context c(ssl::context::tls_client);
    c.set_default_verify_paths();
    c.set_verify_mode(ssl::verify_peer);
    c.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    return c;
  }();
  return ctx;
}

std::string describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout || ec == net::error::timed_out) return "timeout";
  if (ec == net::error::connection_refused) return "connection refused";
  if (ec == net::error::host_not_found || ec == net::error::host_not_found_try_again ||
      ec == net::error::no_data)
    return "host not found";
  if (ec == net::error::connection_reset) return "connection reset";
  if (ec == net::error::network_unreachable || ec == net::error::host_unreachable)
    return "unreachable";
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
      ec == bhttp::error::partial_message)
    return "connection closed before a complete response";
  if (ec.category() == net::error::get_ssl_category() ||
      ec.category() == net::ssl::error::get_stream_category())
    return "tls: " + ec.message();
  return ec.message();
}

class exchange {
 public:
  exchange(net::io_context& ioc, const fetch_request& r, url_destination d,
           const outbound_policy& policy)
      : ioc_(ioc), r_(r), d_(std::move(d)), policy_(policy), resolver_(ioc), timer_(ioc) {}

  // Runs the whole exchange; never throws for network errors.
  net::awaitable<fetch_result> run() {
    fetch_result out;
    const auto connect_deadline = steady::now() + r_.connect_timeout;

    // Resolution has no timeout of its own: a timer cancels it.
    bool resolve_timed_out = false;
    timer_.expires_at(connect_deadline);
    timer_.async_wait([&](beast::error_code ec) {
      if (ec) return;
      resolve_timed_out = true;
      resolver_.cancel();
    });
    beast::error_code ec;
    auto endpoints = co_await resolver_.async_resolve(d_.host, d_.port,
                                                      net::redirect_error(net::use_awaitable, ec));
    timer_.cancel();
    if (resolve_timed_out) ec = beast::error::timeout;
    if (ec) {
      out.error = describe(ec);
      co_return out;
    }
    // Only the addresses the policy allows are connected to: the check is
    // on what resolution returned, not on the URL's text.
    std::vector<tcp::endpoint> allowed;
    std::string refused;
    for (const auto& e : endpoints) {
      auto why = refusal(policy_, e.endpoint().address());
      if (why.empty())
        allowed.push_back(e.endpoint());
      else if (refused.empty())
        refused = "refused address: " + e.endpoint().address().to_string() + " (" + why + ")";
    }
    if (allowed.empty()) {
      out.error = refused.empty() ? "host not found" : refused;
      out.refused_address = !refused.empty();
      co_return out;
    }

    if (d_.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(ioc_, tls_context());
      if (!d_.host_is_ip && !SSL_set_tlsext_host_name(stream.native_handle(), d_.host.c_str())) {
        out.error = "tls: cannot set the server name";
        co_return out;
      }
      stream.set_verify_callback(ssl::host_name_verification(d_.host));
      auto& tcp_layer = beast::get_lowest_layer(stream);
      tcp_layer.expires_at(connect_deadline);
      co_await tcp_layer.async_connect(allowed, net::redirect_error(net::use_awaitable, ec));
      if (!ec)
        co_await stream.async_handshake(ssl::stream_base::client,
                                        net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        out.error = describe(ec);
        co_return out;
      }
      co_return co_await exchange_on(stream);
    }
    beast::tcp_stream stream(ioc_);
    stream.expires_at(connect_deadline);
    co_await stream.async_connect(allowed, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      out.error = describe(ec);
      co_return out;
    }
    co_return co_await exchange_on(stream);
  }

 private:
  template <class Stream>
  net::awaitable<fetch_result> exchange_on(Stream& stream) {
    fetch_result out;
    beast::get_lowest_layer(stream).expires_after(r_.read_timeout);

    bhttp::request<bhttp::string_body> req{bhttp::verb::get, d_.target, 11};
    req.method_string(r_.method);
    req.set(bhttp::field::host, d_.host_header);
    req.set(bhttp::field::user_agent, "hearth");
    req.set(bhttp::field::connection, "close");
    for (const auto& [name, value] : r_.headers) req.set(name, value);
    req.body() = r_.body;
    if (!r_.body.empty() || r_.method == "POST" || r_.method == "PUT") req.prepare_payload();

    beast::error_code ec;
    co_await bhttp::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      out.error = describe(ec);
      co_return out;
    }

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(r_.body_limit);
    parser.header_limit(kHeaderLimit);  // Beast's 8 KiB is too little for some sites
    co_await bhttp::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == bhttp::error::body_limit && parser.is_header_done()) {
      out.truncated = true;  // the status is known: the response counts
      ec = {};
    }
    if (ec) {
      out.error = describe(ec);
      co_return out;
    }
    out.ok = true;
    out.status = parser.get().result_int();
    out.body = std::move(parser.get().body());
    if (out.body.size() > r_.body_limit) {
      out.body.resize(r_.body_limit);
      out.truncated = true;
    }
    // One request per connection: closing is enough (no TLS close_notify
    // wait, which a slow peer could stretch past the deadline).
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return out;
  }

  net::io_context& ioc_;
  const fetch_request& r_;
  url_destination d_;
  const outbound_policy& policy_;
  tcp::resolver resolver_;
  net::steady_timer timer_;
};

fetch_result fetch_plain(const fetch_request& r) {
  const auto start = steady::now();
  fetch_result out;
  auto parsed = parse_fetch_url(r.url);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    out.error = "invalid url: " + *problem;
  } else if (r.method.empty() || r.method.find_first_of(" \r\n") != std::string::npos) {
    out.error = "invalid method";
  } else {
    const auto policy = outbound_policy_for(r.source);
    net::io_context ioc(1);
    exchange x(ioc, r, std::get<url_destination>(std::move(parsed)), policy);
    std::exception_ptr failure;
    net::co_spawn(ioc, x.run(), [&](std::exception_ptr e, fetch_result result) {
      failure = e;
      out = std::move(result);
    });
    ioc.run();
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {  // e.g. a header value Beast rejects
        out = {};
        out.error = e.what();
      }
    }
    if (out.refused_address)
      ++(r.source == url_source::user ? outbound_stats().user_refused
                                      : outbound_stats().operator_refused);
    if (!out.ok && policy.conceal_network_errors) {
      out.detail = std::move(out.error);
      out.error = kConcealedNetworkError;
    }
  }
  out.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count();
  return out;
}

}  // namespace

fetch_result fetch(const fetch_request& r) {
  if (!r.traced || !trace::enabled()) return fetch_plain(r);
  trace::span span("HTTP " + r.method, trace::kind::client, trace::current());
  if (!span.ctx().valid()) return fetch_plain(r);
  // The URL without its query (which may hold a webhook's token).
  span.set("http.method", r.method);
  span.set("http.url", r.url.substr(0, r.url.find_first_of("?#")));
  fetch_request traced = r;
  traced.headers.emplace_back("traceparent", trace::traceparent(span.ctx()));
  auto out = fetch_plain(traced);
  if (out.ok) {
    span.set("http.status_code", static_cast<std::int64_t>(out.status));
    if (out.status >= 500) span.set_error("HTTP " + std::to_string(out.status));
  } else {
    span.set_error(out.error);
  }
  return out;
}

}  // namespace hearth::http
