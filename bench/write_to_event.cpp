// Write → SSE delivery latency of one hearth node on loopback.
//
// Starts a throwaway PostgreSQL and a real hearth (release build), opens
// `subscribers` SSE streams of one household, then makes `writes` sequential
// PUTs of a shop item and measures, for every subscriber, the time from
// sending the PUT to receiving its `change` event; also the PUT's own
// response time. Prints p50/p90/p99/max in ms and the write rate.
//
//   hearth_bench_write_to_event [writes=500] [subscribers=1]
// Bounded: at most `writes` requests, each waiting ≤ 5 s.

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/support/hearth_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/throwaway_postgres.hpp"

using namespace hearth::testing;
using clock_type = std::chrono::steady_clock;

namespace {

double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void report(const char* what, std::vector<double> v) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))];
  };
  std::printf("%-28s n=%-6zu p50=%7.3f  p90=%7.3f  p99=%7.3f  max=%7.3f ms\n", what, v.size(),
              at(0.50), at(0.90), at(0.99), v.back());
}

std::string value_of(const http_response& r, const char* key) {
  if (r.status >= 300)
    throw std::runtime_error("unexpected " + std::to_string(r.status) + ": " + r.body);
  return std::string(r.json().at("dataValue").as_array().at(0).at(key).as_string());
}

}  // namespace

int main(int argc, char** argv) {
  int writes = argc > 1 ? std::stoi(argv[1]) : 500;
  int subscribers = argc > 2 ? std::stoi(argv[2]) : 1;
  auto url = throwaway_postgres::shared().create_database();
  hearth_process node({{"HEARTH_DATABASE_URL", url}, {"HEARTH_LOG_LEVEL", "warn"}});
  http_client http(node.port());
  namespace json = boost::json;
  http.request("POST", "/api/v1/auth/signup",
               json::serialize(json::object{{"emailAddress", "bench@example.com"},
                                            {"password", "bench-password"},
                                            {"name", "Bench"}}));
  auto key =
      value_of(http.request("POST", "/api/v1/auth/signin",
                            json::serialize(json::object{{"emailAddress", "bench@example.com"},
                                                         {"password", "bench-password"}})),
               "key");
  auto household = value_of(
      http.request_as(key, "POST", "/api/v1/auth/households", R"({"name":"bench"})"), "id");
  auto item =
      value_of(http.request_as(
                   key, "POST", "/api/v1/shop/items",
                   json::serialize(json::object{{"authHouseholdID", household}, {"name", "milk"}})),
               "id");
  std::vector<std::unique_ptr<sse_client>> streams;
  for (int i = 0; i < subscribers; ++i)
    streams.push_back(std::make_unique<sse_client>(
        node.port(), std::map<std::string, std::string>{{"Authorization", "Bearer " + key}}));
  for (auto& s : streams) s->next(std::chrono::seconds(5));  // the create event or retry-only
  // Drain anything left from the set-up before measuring.
  for (auto& s : streams)
    while (s->next(std::chrono::milliseconds(50))) {
    }

  std::vector<double> response_ms, delivery_ms;
  int lost = 0;
  auto start = clock_type::now();
  for (int i = 0; i < writes; ++i) {
    auto t0 = clock_type::now();
    auto r = http.request_as(key, "PUT", "/api/v1/shop/items/" + item,
                             i % 2 ? R"({"done":true})" : R"({"done":false})");
    response_ms.push_back(ms(clock_type::now() - t0));
    if (r.status != 200) throw std::runtime_error("PUT failed: " + r.body);
    for (auto& s : streams) {
      auto ev = s->next(std::chrono::seconds(5));
      if (!ev || ev->event != "change") {
        ++lost;
        continue;
      }
      delivery_ms.push_back(ms(clock_type::now() - t0));
    }
  }
  auto total = ms(clock_type::now() - start);
  std::printf("hearth write→event, %d sequential writes, %d subscriber(s), %d lost\n", writes,
              subscribers, lost);
  report("PUT response", response_ms);
  report("PUT sent → event received", delivery_ms);
  std::printf("%-28s %.0f writes/s (one client, sequential)\n", "rate", writes / (total / 1000.0));
  return lost == 0 ? 0 : 1;
}
