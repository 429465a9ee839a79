// The HTTP fuzz harness's route table (fuzz/routes.hpp, compiled into this
// test) against the routes a running server documents at GET /api/docs
// (generated from its real route table, http/openapi.hpp): the same
// (method, path) pairs, each with the same JSON body (json_body), success
// media type (produces) and group (operator or not). A route added to the
// server without its mirror, or a mirror of a route that is gone, fails
// here, so the harness keeps fuzzing every route.

#include <map>
#include <set>

#include "fuzz/routes.hpp"
#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

class fuzz_routes : public hearth_test {};

// What the comparison looks at in one operation.
struct shape {
  bool json_body = false;
  std::string media_type;  // of the success response
  bool operator_only = false;
  bool operator==(const shape&) const = default;
};

std::string describe(const shape& s) {
  return std::string(s.json_body ? "JSON body, " : "no body, ") + s.media_type +
         (s.operator_only ? ", operator" : "");
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// "METHOD /path/{param}" → shape, from the server's OpenAPI document.
std::map<std::string, shape> documented(const json::object& doc) {
  std::map<std::string, shape> out;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op_value] : item.as_object()) {
      const auto& op = op_value.as_object();
      shape s;
      s.json_body = op.contains("requestBody");
      for (const auto& [status, r] : op.at("responses").as_object())
        if (status.starts_with("2") && r.as_object().contains("content"))
          for (const auto& [media, ignored] : r.as_object().at("content").as_object())
            s.media_type = media;
      for (const auto& sec : op.at("security").as_array())
        s.operator_only |= sec.as_object().contains("basic");
      out[upper(std::string(method)) + " " + std::string(path)] = s;
    }
  }
  return out;
}

// The same from the harness's mirror (its hidden routes are left out, as
// /api/docs leaves the server's out).
std::map<std::string, shape> mirrored() {
  std::map<std::string, shape> out;
  auto routes = fuzz::make_routes();
  for (const auto& r : routes.routes()) {
    if (r->options.hidden) continue;
    shape s;
    s.json_body = r->options.json_body;
    s.media_type = r->options.produces.empty() ? "*/*" : r->options.produces;
    s.operator_only = r->options.doc.auth == "operator";
    out[r->method + " " + r->pattern] = s;
  }
  return out;
}

TEST_F(fuzz_routes, the_fuzz_harness_mirrors_every_route_of_the_server) {
  auto res = http().request("GET", "/api/docs");
  ASSERT_EQ(res.status, 200u) << res.body;
  auto real = documented(res.json().as_object());
  auto mirror = mirrored();
  ASSERT_GE(real.size(), 40u);  // the whole API, modules included

  for (const auto& [op, s] : real) {
    auto it = mirror.find(op);
    if (it == mirror.end()) {
      ADD_FAILURE() << op << " is served but not in fuzz/routes.cpp (" << describe(s) << ")";
      continue;
    }
    EXPECT_EQ(it->second, s) << op << ": the server has " << describe(s) << ", fuzz/routes.cpp has "
                             << describe(it->second);
  }
  for (const auto& [op, s] : mirror)
    EXPECT_TRUE(real.count(op)) << op << " is in fuzz/routes.cpp but the server has no such route";
}

}  // namespace
}  // namespace hearth::testing
