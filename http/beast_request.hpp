#pragma once
// Between Beast and the engine: the engine's request from a request Beast
// has parsed, and the answer to one Beast could not read. The HTTP session
// (http/http_session.hpp) and the HTTP fuzz harness (fuzz/http_request.cpp)
// both use these, so the fuzzer drives the server's own request path.

#include <fmt/format.h>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <cctype>
#include <optional>
#include <string>

#include "http/types.hpp"

namespace hearth::http {

/// The method, target and header fields (names lower-cased, in order, values
/// as sent) of a request Beast has parsed. Ids, addresses and the body are
/// the caller's.
template <class Fields>
request request_of(const boost::beast::http::header<true, Fields>& parsed) {
  request req;
  req.method = std::string(parsed.method_string());
  req.target = std::string(parsed.target());
  for (const auto& f : parsed) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  return req;
}

/// How a request Beast could not read is answered before the connection
/// closes: `status` with `message` in the error envelope.
struct read_refusal {
  unsigned status = 400;
  std::string message;
};

/// The answer to read error `ec` (the body limit was `body_limit` bytes):
/// 413 for a body over the limit, 431 for a header over its limit, 400
/// for any other malformed message; nullopt when there is no one to
/// answer (a partial message: the peer went away, or an error that is not
/// the HTTP parser's). (RFC 9110 §15.5.14, RFC 6585 §5.)
inline std::optional<read_refusal> read_refusal_of(const boost::beast::error_code& ec,
                                                   std::size_t body_limit) {
  namespace bhttp = boost::beast::http;
  if (ec == bhttp::error::body_limit)
    return read_refusal{413, fmt::format("request body larger than {} bytes", body_limit)};
  if (ec == bhttp::error::header_limit) return read_refusal{431, ""};
  if (ec == bhttp::error::partial_message) return std::nullopt;
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category())
    return read_refusal{400, fmt::format("malformed HTTP request: {}", ec.message())};
  return std::nullopt;
}

}  // namespace hearth::http
