#pragma once
// Content negotiation before a handler runs (RFC 9110 §12.5.1, §15.5.16):
// an Accept header that excludes the route's media type → 406; a JSON route
// with a body of another Content-Type → 415.

#include <optional>
#include <string_view>

#include "http/router.hpp"

namespace hearth::http {

/// True when `accept` (an Accept header value; empty = anything) allows
/// `media_type` ("application/json"): exact, type/*, or */*, with q > 0.
bool accepts(std::string_view accept, std::string_view media_type);

/// True for application/json or application/*+json, parameters ignored.
bool is_json_media_type(std::string_view content_type);

/// The status (406 or 415) with which `r` must be refused for `req`, if any.
std::optional<unsigned> negotiate(const route& r, const request& req);

}  // namespace hearth::http
