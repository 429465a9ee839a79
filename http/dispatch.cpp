#include "http/dispatch.hpp"

#include <fmt/format.h>

#include <boost/url/parse.hpp>
#include <cctype>

#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "http/negotiation.hpp"
#include "trace/trace.hpp"

namespace hearth::http {

bool valid_client_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == ':'))
      return false;
  return true;
}

std::string trace_id_of(std::string_view traceparent) {
  auto c = trace::parse_traceparent(traceparent);
  return c ? trace::trace_id_hex(*c) : std::string();
}

routed_request route_request(const router& routes, request& req) {
  routed_request out;
  auto url = boost::urls::parse_origin_form(req.target);
  if (!url) {
    out.refusal = error(400, req.request_id, "malformed request target");
    return out;
  }
  req.path = url->path();
  for (auto p : url->params()) {
    // PostgreSQL text cannot hold NUL (%00): refuse it, never truncate.
    if (p.key.find('\0') != std::string::npos || p.value.find('\0') != std::string::npos) {
      out.refusal = error(400, req.request_id,
                          fmt::format("query parameter {}: must not contain the NUL character",
                                      p.key.find('\0') != std::string::npos ? "name" : p.key));
      return out;
    }
    req.query[p.key] = p.value;
  }
  auto m = routes.find(req.method, req.path);
  if (m.result == router::outcome::not_found) {
    out.refusal = error(404, req.request_id, fmt::format("no route for {}", req.path));
    return out;
  }
  if (m.result == router::outcome::method_not_allowed) {
    out.refusal = error(405, req.request_id, fmt::format("{} is not allowed here", req.method));
    out.refusal->headers.emplace_back("Allow", m.allow);
    return out;
  }
  out.matched = m.matched;
  if (auto status = negotiate(*m.matched, req)) {
    out.refusal = error(*status, req.request_id, "");
    return out;
  }
  req.params = std::move(m.params);
  return out;
}

void run_handler(const route& matched, const request& req, const responder& respond) {
  try {
    matched.run(req, respond);
  } catch (const input_error& e) {
    respond(error(400, req.request_id, e.what()));
  } catch (const std::exception& e) {
    log::error("request {}: handler failed: {}", req.request_id, e.what());
    respond(error(500, req.request_id, ""));
  }
}

}  // namespace hearth::http
