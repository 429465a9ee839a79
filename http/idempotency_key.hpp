#pragma once
// The syntax of the Idempotency-Key request header
// (draft-ietf-httpapi-idempotency-key-header; docs/api.md "Idempotency"):
// what api::idempotency_of() checks before a keyed write, kept free of the
// database so that the HTTP fuzz harness (fuzz/http_request.cpp) runs the
// same code.

#include <optional>
#include <string>

#include "http/types.hpp"

namespace hearth::http {

/// The longest key accepted, in bytes.
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 255;

/// The Idempotency-Key header of `req` (header names are lower-case in
/// http::request): nullopt when absent. Throws input_error (400) when it is
/// sent more than once, or when its value is not 1 to 255 visible ASCII
/// characters (0x21-0x7E: no space, no control, no byte above 0x7E).
std::optional<std::string> idempotency_key(const request& req);

}  // namespace hearth::http
