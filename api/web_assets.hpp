#pragma once
// The web page's files (web/), compiled into the binary by
// cmake/embed_web.cmake so hearth serves them from any directory.

#include <string_view>
#include <vector>

namespace hearth::api {

struct web_asset {
  std::string_view path;  // "/app.js"
  std::string_view etag;  // "\"<hex>\"": a hash of the bytes
  std::string_view body;
};

/// Every file of web/, in name order.
const std::vector<web_asset>& embedded_web_assets();

}  // namespace hearth::api
