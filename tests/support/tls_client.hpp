#pragma once
// HTTPS for the TLS tests: a self-signed certificate made at test time with
// the openssl CLI, one-shot requests and a raw stream reader over TLS that
// verify the server against that certificate (Beast ssl_stream). Every call
// has a deadline.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "tests/support/http_client.hpp"

namespace hearth::testing {

/// A fresh self-signed certificate for 127.0.0.1/localhost (EC P-256, 1 day)
/// as cert.pem and key.pem in `dir`. Throws std::runtime_error on failure.
void make_test_certificate(const std::filesystem::path& dir);

/// One request over HTTPS to 127.0.0.1:port, verifying the server with
/// `ca_file` and the name 127.0.0.1. Throws on TLS or I/O errors (10 s).
http_response https_request(std::uint16_t port, const std::string& ca_file,
                            const std::string& method, const std::string& target,
                            const std::string& body = "",
                            const std::map<std::string, std::string>& headers = {});

/// A GET over HTTPS whose decrypted bytes are read as they come (SSE).
class https_stream {
 public:
  https_stream(std::uint16_t port, const std::string& ca_file, const std::string& target,
               const std::map<std::string, std::string>& headers);
  ~https_stream();
  /// Reads until the received bytes contain `needle` (true) or the stream
  /// ends or `timeout` passes (false).
  bool read_until(const std::string& needle, std::chrono::milliseconds timeout);
  const std::string& received() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::testing
