#include "http/openapi.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

namespace hearth::http {
namespace json = boost::json;
namespace {

json::object parse_schema(const std::string& text, const route& r) {
  try {
    auto v = json::parse(text);
    if (!v.is_object()) throw std::invalid_argument("not an object");
    return v.as_object();
  } catch (const std::exception& e) {
    throw std::invalid_argument("route " + r.method + " " + r.pattern +
                                ": bad schema: " + e.what());
  }
}

json::object envelope_schema(const std::string& data_type, json::value item) {
  json::object data_value{{"type", "array"}, {"items", std::move(item)}};
  json::object data_type_schema{{"type", "string"}, {"example", data_type}};
  json::object props{{"dataType", std::move(data_type_schema)},
                     {"dataValue", std::move(data_value)}};
  json::object specific{{"type", "object"}, {"properties", std::move(props)}};
  json::array all{json::object{{"$ref", "#/components/schemas/Envelope"}}, std::move(specific)};
  return {{"allOf", std::move(all)}};
}

json::object error_response(const char* description) {
  return {
      {"description", description},
      {"content",
       json::object{
           {"application/json",
            json::object{{"schema", json::object{{"$ref", "#/components/schemas/Envelope"}}}}}}}};
}

std::string operation_id(const route& r) {
  std::string id = r.method;
  for (char c : r.pattern) {
    if (c == '/' || c == '{' || c == '}' || c == '-') {
      if (id.back() != '_') id += '_';
    } else {
      id += c;
    }
  }
  while (id.back() == '_') id.pop_back();
  return id;
}

// The path parameters ({id}: a required UUID) and the documented query
// parameters of `r`.
json::array parameters(const route& r) {
  json::array params;
  for (auto seg : split_path(r.pattern)) {
    if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}') continue;
    std::string name(seg.substr(1, seg.size() - 2));
    // Ids ({id}, {siteID}) are UUIDs; other parameters (a feed's {token}) are strings.
    json::object schema{{"type", "string"}};
    if (name == "id" || name.ends_with("ID")) schema["format"] = "uuid";
    params.push_back(json::object{
        {"name", name}, {"in", "path"}, {"required", true}, {"schema", std::move(schema)}});
  }
  for (const auto& [name, description] : r.options.doc.query)
    params.push_back(json::object{{"name", name},
                                  {"in", "query"},
                                  {"required", false},
                                  {"description", description},
                                  {"schema", json::object{{"type", "string"}}}});
  if (r.options.doc.idempotency_key)
    params.push_back(json::object{
        {"name", "Idempotency-Key"},
        {"in", "header"},
        {"required", false},
        {"description",
         "1-255 visible ASCII characters, per account, kept 24 h: a retry with the same key "
         "gets the first successful answer again (Idempotent-Replayed: true) and writes "
         "nothing; the same key with another request is 422"},
        {"schema",
         json::object{
             {"type", "string"}, {"minLength", 1}, {"maxLength", 255}, {"pattern", "^[!-~]+$"}}}});
  return params;
}

// The JSON body of a route with json_body.
json::object request_body(const route& r) {
  const auto& doc = r.options.doc;
  json::object schema = doc.request_schema.empty() ? json::object{{"type", "object"}}
                                                   : parse_schema(doc.request_schema, r);
  return json::object{
      {"required", true},
      {"content", json::object{{"application/json", json::object{{"schema", schema}}}}}};
}

// The success response (the envelope with its dataValue schema, or the
// route's own media type) and the errors a route of this kind can give.
json::object responses(const route& r, bool has_params) {
  const auto& doc = r.options.doc;
  json::object responses;
  json::object ok{{"description", doc.summary.empty() ? "success" : doc.summary}};
  if (r.options.produces == "application/json" && !doc.data_type.empty()) {
    json::value item = doc.data_schema.empty() ? json::value(json::object{{"type", "object"}})
                                               : json::value(parse_schema(doc.data_schema, r));
    ok["content"] =
        json::object{{"application/json",
                      json::object{{"schema", envelope_schema(doc.data_type, std::move(item))}}}};
  } else {
    ok["content"] =
        json::object{{r.options.produces.empty() ? std::string("*/*") : r.options.produces,
                      json::object{{"schema", json::object{{"type", "string"}}}}}};
  }
  responses[std::to_string(doc.success)] = std::move(ok);
  if (r.options.json_body || has_params)
    responses["400"] = error_response("invalid input (the message names the field)");
  if (doc.auth != "none") responses["401"] = error_response("missing or bad credentials");
  if (doc.auth == "session" && r.method != "GET")
    responses["403"] = error_response(
        "the membership does not allow this, or a write with the session cookie from a "
        "foreign Origin");
  if (r.pattern.find('{') != std::string::npos)
    responses["404"] = error_response("no such row in the caller's households");
  responses["406"] = error_response("Accept does not allow the response's media type");
  if (r.options.json_body) {
    responses["413"] = error_response("body larger than bodyLimitBytes");
    responses["415"] = error_response("Content-Type is not application/json");
  }
  responses["429"] = error_response(
      "rate limit of the client's address exceeded, or too many failed sign-ins, sign-ups or "
      "session keys (Retry-After)");
  responses["503"] = error_response("server busy (concurrency limit, database queue)");
  return responses;
}

// The security requirement of route_doc::auth.
json::array security(const std::string& auth) {
  if (auth == "session")
    return json::array{json::object{{"bearer", json::array{}}},
                       json::object{{"cookie", json::array{}}}};
  if (auth == "operator") return json::array{json::object{{"basic", json::array{}}}};
  return json::array{};
}

// The operation object of `r`.
json::object operation(const route& r) {
  const auto& doc = r.options.doc;
  json::object op;
  op["operationId"] = operation_id(r);
  if (!doc.summary.empty()) op["summary"] = doc.summary;
  if (!doc.tag.empty()) op["tags"] = json::array{json::value(doc.tag)};
  json::array params = parameters(r);
  const bool has_params = !params.empty();  // a bad parameter is a 400 too
  if (has_params) op["parameters"] = std::move(params);
  if (r.options.json_body) op["requestBody"] = request_body(r);
  op["responses"] = responses(r, has_params);
  op["security"] = security(doc.auth);
  return op;
}

// components: the Envelope schema and the security schemes.
json::object components() {
  json::object envelope{
      {"type", "object"},
      {"required", json::array{"success", "status", "message", "requestID", "dataType", "dataTotal",
                               "dataValue"}},
      {"properties",
       json::object{{"success", json::object{{"type", "boolean"}}},
                    {"status", json::object{{"type", "integer"}}},
                    {"message", json::object{{"type", "string"}}},
                    {"requestID", json::object{{"type", "string"}}},
                    {"dataType", json::object{{"type", "string"}}},
                    {"dataTotal", json::object{{"type", "integer"}}},
                    {"dataValue", json::object{{"type", "array"}, {"items", json::object{}}}}}}};
  return json::object{
      {"schemas", json::object{{"Envelope", std::move(envelope)}}},
      {"securitySchemes",
       json::object{
           {"bearer", json::object{{"type", "http"}, {"scheme", "bearer"}}},
           {"cookie",
            json::object{{"type", "apiKey"}, {"in", "cookie"}, {"name", "hearth_session"}}},
           {"basic", json::object{{"type", "http"}, {"scheme", "basic"}}}}}};
}

}  // namespace

boost::json::object openapi_document(const router& routes, const std::string& title,
                                     const std::string& version) {
  json::object paths;
  for (const auto& rp : routes.routes()) {
    const route& r = *rp;
    if (r.options.hidden) continue;
    json::object op = operation(r);
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& item = paths[r.pattern];  // one path item holds all its methods
    if (!item.is_object()) item.emplace_object();
    item.as_object()[method] = std::move(op);
  }
  return {{"openapi", "3.0.3"},
          {"info", json::object{{"title", title}, {"version", version}}},
          {"paths", std::move(paths)},
          {"components", components()}};
}

const std::string& openapi_viewer_html() {
  static const std::string page = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hearth API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
.m{display:inline-block;min-width:4.2rem;font-weight:600;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.put{color:#a60}.delete{color:#c22}.tag{color:#777;font-size:.85em}
</style></head><body>
<h1 id="title">hearth API</h1><p>Generated from the server's route table: <a href="/api/docs">/api/docs</a> (OpenAPI 3).</p>
<div id="ops">loading…</div>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
fetch('/api/docs').then(r => r.json()).then(doc => {
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version;
  let html = '';
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      html += '<details><summary><span class="m ' + method + '">' + method + '</span> <code>' + esc(path) +
        '</code> ' + esc(op.summary || '') + ' <span class="tag">' + esc((op.tags || []).join(', ')) + '</span></summary>';
      if (op.parameters) html += '<p>Parameters: ' + op.parameters.map(p => '<code>' + esc(p.name) + '</code> (' + p.in + ')').join(', ') + '</p>';
      if (op.requestBody) html += '<p>Request body</p><pre>' + esc(JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)) + '</pre>';
      html += '<p>Responses: ' + Object.keys(op.responses).join(', ') + '</p>';
      const ok = Object.values(op.responses)[0];
      if (ok.content) html += '<pre>' + esc(JSON.stringify(ok.content, null, 2)) + '</pre>';
      html += '</details>';
    }
  }
  document.getElementById('ops').innerHTML = html;
}).catch(e => { document.getElementById('ops').textContent = 'cannot load /api/docs: ' + e; });
</script></body></html>
)html";
  return page;
}

}  // namespace hearth::http
