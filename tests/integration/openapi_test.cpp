// GET /api/docs is generated from the route table: it is checked for
// structure (OpenAPI 3.0 essentials, every $ref resolves, every path
// parameter declared) and against the live server: every documented
// operation is routed, every path allows exactly the documented methods, and
// operations documented as needing a session answer 401 without one.

#include <set>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

class openapi : public hearth_test {};

void collect_refs(const json::value& v, std::vector<std::string>& out) {
  if (v.is_object()) {
    for (const auto& [k, x] : v.as_object()) {
      if (k == "$ref" && x.is_string()) out.emplace_back(x.as_string());
      collect_refs(x, out);
    }
  } else if (v.is_array()) {
    for (const auto& x : v.as_array()) collect_refs(x, out);
  }
}

// The JSON request body schema of an operation.
const json::object& body_schema(const json::object& op) {
  return op.at("requestBody")
      .as_object()
      .at("content")
      .as_object()
      .at("application/json")
      .as_object()
      .at("schema")
      .as_object();
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

TEST_F(openapi, the_document_is_valid_and_matches_the_routes_served) {
  auto res = http().request("GET", "/api/docs");
  ASSERT_EQ(res.status, 200u) << res.body;
  auto doc = res.json().as_object();
  EXPECT_EQ(str(doc.at("openapi")), "3.0.3");
  ASSERT_TRUE(doc.at("info").as_object().contains("title"));
  const auto& paths = doc.at("paths").as_object();
  const auto& components = doc.at("components").as_object();

  // Every $ref points at a component that exists.
  std::vector<std::string> refs;
  collect_refs(doc.at("paths"), refs);
  ASSERT_FALSE(refs.empty());
  for (const auto& ref : refs) {
    ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
    EXPECT_TRUE(components.at("schemas").as_object().contains(ref.substr(21))) << ref;
  }

  std::set<std::string> operation_ids;
  std::size_t operations = 0;
  const std::string some_id = "00000000-0000-4000-8000-000000000000";
  for (const auto& [path_key, item] : paths) {
    std::string path(path_key);
    std::set<std::string> documented;
    for (const auto& [method_key, op_value] : item.as_object()) {
      ++operations;
      const auto& op = op_value.as_object();
      auto method = upper(std::string(method_key));
      documented.insert(method);
      SCOPED_TRACE(method + " " + path);
      EXPECT_TRUE(operation_ids.insert(str(op.at("operationId"))).second) << "duplicate id";
      const auto& responses = op.at("responses").as_object();
      EXPECT_TRUE(std::any_of(responses.begin(), responses.end(),
                              [](const auto& r) { return r.key().starts_with("2"); }));
      EXPECT_TRUE(responses.contains("503"));
      // Every {param} of the path is a declared, required path parameter.
      std::string concrete = path;
      for (auto open = path.find('{'); open != std::string::npos; open = path.find('{', open + 1)) {
        auto name = path.substr(open + 1, path.find('}', open) - open - 1);
        bool declared = false;
        if (op.contains("parameters"))
          for (const auto& p : op.at("parameters").as_array())
            declared |= str(p.as_object(), "name") == name && str(p.as_object(), "in") == "path" &&
                        p.as_object().at("required").as_bool();
        EXPECT_TRUE(declared) << name;
        auto at = concrete.find("{" + name + "}");
        concrete.replace(at, name.size() + 2, some_id);
      }
      if (op.contains("requestBody")) {
        EXPECT_EQ(str(body_schema(op).at("type")), "object");
      }

      // The server routes it: never the engine's "no route" 404 or a 405.
      // An event stream that needs no auth would never end: it is asked
      // for JSON instead, and refuses with 406.
      bool with_body = op.contains("requestBody");
      bool session = false;
      for (const auto& sec : op.at("security").as_array())
        session |= sec.as_object().contains("bearer");
      bool open_stream = false;
      for (const auto& [status, r] : responses)
        if (status.starts_with("2") && r.as_object().contains("content"))
          open_stream |=
              !session && r.as_object().at("content").as_object().contains("text/event-stream");
      auto live = http().request(method, concrete, with_body ? "{}" : "",
                                 {{"Accept", open_stream ? "application/json" : "*/*"}});
      EXPECT_NE(live.status, 405u) << live.body;
      if (live.status == 404u) {
        EXPECT_EQ(message_of(live).find("no route"), std::string::npos);
      }
      // Session-protected operations without a body refuse an anonymous caller.
      if (session && !with_body) {
        EXPECT_EQ(live.status, 401u) << live.body;
      }
      if (!session) {
        EXPECT_NE(live.status, 401u) << live.body;
      }
      if (open_stream) {
        EXPECT_EQ(live.status, 406u) << live.body;
      }
    }
    // The methods the server allows on this path are exactly the documented ones.
    std::string concrete = path;
    for (auto open = concrete.find('{'); open != std::string::npos; open = concrete.find('{'))
      concrete.replace(open, concrete.find('}', open) - open + 1, some_id);
    auto probe = http().request("PATCH", concrete);
    ASSERT_EQ(probe.status, 405u) << path << ": " << probe.body;
    std::set<std::string> allowed;
    std::string allow = probe.header("allow");
    for (std::size_t at = 0; at < allow.size();) {
      auto comma = allow.find(',', at);
      auto m = allow.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      while (!m.empty() && m.front() == ' ') m.erase(0, 1);
      if (!m.empty()) allowed.insert(m);
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    EXPECT_EQ(allowed, documented) << path << " allows " << allow;
  }
  // The API's known surface is all there (a sample; the loop above checks the rest).
  for (const char* p : {"/api/v1/auth/signup", "/api/v1/shop/items/{id}", "/api/v1/plan/tasks",
                        "/api/v1/sse", "/api/v1/health", "/metrics", "/api/docs"})
    EXPECT_TRUE(paths.contains(p)) << p;
  EXPECT_GE(operations, 20u);
  // Schemas come from the table declarations.
  const auto& create_item = paths.at("/api/v1/shop/items").as_object().at("post").as_object();
  auto schema = body_schema(create_item);
  EXPECT_EQ(schema.at("additionalProperties").as_bool(), false);
  EXPECT_EQ(
      schema.at("properties").as_object().at("name").as_object().at("maxLength").to_number<int>(),
      1000);
}

TEST_F(openapi, the_viewer_is_served_without_external_resources) {
  auto res = http().request("GET", "/api/docs/ui", "", {{"Accept", "text/html"}});
  ASSERT_EQ(res.status, 200u);
  EXPECT_EQ(res.header("content-type").rfind("text/html", 0), 0u);
  EXPECT_NE(res.body.find("fetch('/api/docs')"), std::string::npos);
  EXPECT_EQ(res.body.find("http://"), std::string::npos);
  EXPECT_EQ(res.body.find("https://"), std::string::npos);
}

}  // namespace
}  // namespace hearth::testing
