#pragma once
// Domain failures raised by storage/ and mapped to statuses by app/:
// not_found → 404 (also for rows of households the caller is not in, so
// existence never leaks), forbidden → 403, conflict → 409, invalid → 400,
// unauthorized → 401, busy → 503 with Retry-After (try again shortly),
// unprocessable → 422 (understood, but refused: an Idempotency-Key reused
// for a different request).

#include <stdexcept>
#include <string>

namespace hearth::storage {

enum class errc { not_found, forbidden, conflict, invalid, unauthorized, busy, unprocessable };

struct domain_error : std::runtime_error {
  domain_error(errc c, const std::string& message) : std::runtime_error(message), code(c) {}
  errc code;
};

}  // namespace hearth::storage
