#pragma once
// Method + path trie router. Patterns are literal segments and `{name}`
// parameters ("/api/v1/shop/items/{id}"); literal segments win over
// parameters. A last segment `{name...}` takes the rest of the path (one or
// more segments, joined by '/'), tried after everything else; it answers
// only its own methods (another method falls through to 404, never 405),
// so a catch-all GET does not change what other paths answer. A path that
// matches no pattern is 404; a path that matches with another method is 405
// with the allowed methods (RFC 9110 §15.5.6).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/types.hpp"

namespace hearth::http {

/// What the API description (OpenAPI 3, http/openapi.hpp) says about a
/// route beyond what the route table itself gives (method, path, path
/// parameters, body, media type). Schemas are OpenAPI schema objects as JSON
/// text, so the route table stays free of JSON types.
struct route_doc {
  std::string summary;
  std::string tag;
  std::string auth = "session";  // "none" | "session" (bearer or cookie) | "operator" (Basic)
  std::string request_schema;    // the JSON body's schema ("" = none)
  std::string data_type;         // the envelope's dataType ("" = not an envelope)
  std::string data_schema;       // one dataValue element's schema
  unsigned success = 200;        // status of success
  std::vector<std::pair<std::string, std::string>> query;  // query parameter, description
  bool idempotency_key = false;  // takes the optional Idempotency-Key header (docs/api.md)
};

/// What a route produces and consumes, checked before its handler runs.
struct route_options {
  bool json_body = false;                     // POST/PUT with a JSON body (415 otherwise)
  std::string produces = "application/json";  // for Accept (406); "" = the handler checks
  bool hidden = false;                        // left out of the API description (preflights)
  route_doc doc = {};
};

struct route {
  std::string method;
  std::string pattern;
  handler run;
  route_options options = {};
};

class router {
 public:
  /// Adds a route. Throws std::invalid_argument on a duplicate method+pattern
  /// or a malformed pattern.
  void add(route r);

  enum class outcome { found, not_found, method_not_allowed };
  struct match {
    outcome result = outcome::not_found;
    const route* matched = nullptr;
    std::map<std::string, std::string> params;
    std::string allow;  // "GET, POST" for 405
  };
  /// True when exactly this method + pattern was added.
  bool has(std::string_view method, std::string_view pattern) const;

  /// Matches a decoded path (no query string).
  match find(std::string_view method, std::string_view path) const;

  /// Every route, in the order added.
  const std::vector<std::unique_ptr<route>>& routes() const { return routes_; }

 private:
  struct node {
    std::map<std::string, std::unique_ptr<node>, std::less<>> children;
    std::unique_ptr<node> param_child;
    std::string param_name;
    std::unique_ptr<node> rest_child;  // {name...}
    std::string rest_name;
    bool rest = false;  // this node is a {name...}
    std::map<std::string, const route*> methods;
  };
  const node* walk(const node* n, const std::vector<std::string_view>& segs, std::size_t i,
                   std::map<std::string, std::string>& params) const;

  node root_;
  std::vector<std::unique_ptr<route>> routes_;
};

/// Splits "/a/b/" into {"a","b"}; empty segments are kept except a trailing one.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace hearth::http
