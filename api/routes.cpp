// The route table: the API group (CORS when configured, the cross-site check
// of cookie-authenticated writes, per-IP rate limit, concurrency limit) with
// every controller of api/, the operator group (Basic auth), and each
// module's routes in both.

#include <string_view>

#include "api/api.hpp"
#include "api/module.hpp"

namespace hearth::api {
namespace {

std::vector<std::string> split_origins(const std::string& text) {
  std::vector<std::string> out;
  std::string_view rest(text);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

void add_routes(http::router& r, services& s, const std::vector<module>& modules) {
  const auto& cfg = s.cfg;
  std::vector<http::middleware> api_chain;
  auto origins = split_origins(cfg.cors_origins);
  if (!origins.empty()) api_chain.push_back(http::cors(origins));
  api_chain.push_back(
      http::same_origin_writes(origins, cfg.csrf_require_origin != 0, cookie_authenticated));
  if (cfg.rate_limit_per_second > 0)
    api_chain.push_back(http::rate_limit(static_cast<double>(cfg.rate_limit_per_second),
                                         static_cast<double>(cfg.rate_limit_burst)));
  api_chain.push_back(http::concurrency_limit(static_cast<std::size_t>(cfg.concurrency_limit)));
  http::route_group api(r, std::move(api_chain), !origins.empty());
  add_auth_routes(api, s);
  add_household_routes(api, s);
  add_table_routes(api, s);
  add_sse_routes(api, s);
  add_health_routes(api, s);
  add_docs_routes(api, r);
  add_web_routes(api, s);

  http::route_group ops(
      r, {http::operator_access(cfg.operator_user, cfg.operator_password, cfg.operator_open)});
  add_admin_routes(ops, s);
  for (const auto& m : modules)
    if (m.routes) m.routes(api, ops, s);
}

}  // namespace hearth::api
