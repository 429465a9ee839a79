#include "tests/support/tls_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <stdexcept>

namespace hearth::testing {
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace {

struct tls_connection {
  net::io_context ioc;
  net::ssl::context ctx{net::ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> stream{ioc, ctx};

  tls_connection(std::uint16_t port, const std::string& ca_file) {
    ctx.load_verify_file(ca_file);
    stream.set_verify_mode(net::ssl::verify_peer);
    stream.set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_after(std::chrono::seconds(10));
    tcp_layer.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    stream.handshake(net::ssl::stream_base::client);
  }

  void send(const std::string& method, const std::string& target, const std::string& body,
            const std::map<std::string, std::string>& headers) {
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) {
      if (req.find(bhttp::field::content_type) == req.end())
        req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    bhttp::write(stream, req);
  }
};

}  // namespace

void make_test_certificate(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  auto cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '" +
      (dir / "key.pem").string() + "' -out '" + (dir / "cert.pem").string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("openssl could not make a certificate");
}

http_response https_request(std::uint16_t port, const std::string& ca_file,
                            const std::string& method, const std::string& target,
                            const std::string& body,
                            const std::map<std::string, std::string>& headers) {
  tls_connection c(port, ca_file);
  c.send(method, target, body, headers);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(c.stream, buffer, res);
  http_response out;
  out.status = res.result_int();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.headers[name] = std::string(f.value());
  }
  out.body = res.body();
  beast::error_code ignored;
  c.stream.shutdown(ignored);
  return out;
}

struct https_stream::impl {
  tls_connection conn;
  std::string received;
  bool ended = false;
  impl(std::uint16_t port, const std::string& ca) : conn(port, ca) {}
};

https_stream::https_stream(std::uint16_t port, const std::string& ca_file,
                           const std::string& target,
                           const std::map<std::string, std::string>& headers)
    : impl_(std::make_unique<impl>(port, ca_file)) {
  impl_->conn.send("GET", target, "", headers);
}

https_stream::~https_stream() = default;

bool https_stream::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
  auto& i = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (i.received.find(needle) == std::string::npos && !i.ended) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    char buf[4096];
    std::size_t n = 0;
    beast::error_code ec;
    beast::get_lowest_layer(i.conn.stream).expires_after(left);
    i.conn.stream.async_read_some(net::buffer(buf), [&](beast::error_code e, std::size_t k) {
      ec = e;
      n = k;
    });
    i.conn.ioc.restart();
    i.conn.ioc.run();
    i.received.append(buf, n);
    if (ec) i.ended = true;
  }
  return i.received.find(needle) != std::string::npos;
}

const std::string& https_stream::received() const { return impl_->received; }

}  // namespace hearth::testing
