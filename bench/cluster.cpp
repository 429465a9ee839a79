// Cluster benchmark: failover time and cross-node event latency of a 3-node
// hearth cluster on one throwaway PostgreSQL, all on loopback.
//
//   (a) kill -9 of the leader → another node reports leading with a higher
//       term; `rounds` rounds, the killed node restarted (and linked) between
//       rounds.
//   (b) SIGSTOP of the leader → another node leads; then SIGCONT, wait until
//       the old leader stepped down and the cluster is linked again.
//   (c) `writes` sequential POST /api/v1/shop/items on node-a; an SSE
//       subscriber on node-c (cross-node) and one on node-a (same node) time
//       every event from just before the POST was sent to its arrival (each
//       stream is read by its own thread, which timestamps on arrival).
//
//   hearth_bench_cluster [rounds=5] [writes=500]
// Bounded: every wait has a deadline; at most rounds*2 failovers and `writes`
// requests. Prints markdown tables.

#include "tests/support/cluster.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/http_client.hpp"

using namespace hearth::testing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace json = boost::json;

namespace {

double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct stats {
  std::size_t n = 0;
  double min = 0, p50 = 0, p99 = 0, max = 0;
};

stats summarize(std::vector<double> v) {
  stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))];
  };
  s.n = v.size();
  s.min = v.front();
  s.p50 = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  s.p99 = at(0.99);
  s.max = v.back();
  return s;
}

std::string value_of(const http_response& r, const char* key) {
  if (r.status >= 300)
    throw std::runtime_error("unexpected " + std::to_string(r.status) + ": " + r.body);
  return std::string(r.json().at("dataValue").as_array().at(0).at(key).as_string());
}

void require(bool ok, const std::string& what, test_cluster& c) {
  if (!ok) throw std::runtime_error(what + "\n" + c.describe());
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::stoi(argv[1])) : 5;
  const int writes = argc > 2 ? std::max(1, std::stoi(argv[2])) : 500;

  cluster_options options;
  options.log_level = "warn";
  std::unique_ptr<test_cluster> cluster;
  try {
    cluster = std::make_unique<test_cluster>(options);
    auto& c = *cluster;
    require(c.wait_linked(30s), "the cluster did not link within 30 s", c);
    std::fprintf(stderr, "cluster of %zu nodes up (heartbeat %d ms, stale %d ms)\n",
                 c.names().size(), options.heartbeat_ms, options.stale_ms);

    // (a) kill -9 of the leader.
    std::vector<double> kill_ms;
    for (int r = 0; r < rounds; ++r) {
      require(c.wait_linked(30s), "not linked before kill round", c);
      auto leader = c.wait_leader(10s);
      require(leader.has_value(), "no single leader before kill round", c);
      const auto t0 = clock_type::now();
      c.kill(leader->name);
      auto next = c.wait_leader(15s, leader->term + 1, leader->name, t0);
      require(next.has_value(), "no new leader within 15 s of kill -9", c);
      kill_ms.push_back(static_cast<double>(next->elapsed.count()));
      std::fprintf(stderr, "kill -9 round %d: %s → %s (term %lld) in %lld ms\n", r + 1,
                   leader->name.c_str(), next->name.c_str(), static_cast<long long>(next->term),
                   static_cast<long long>(next->elapsed.count()));
      c.restart(leader->name);
      require(c.wait_linked(30s), "restarted node did not link within 30 s", c);
    }

    // (b) SIGSTOP of the leader.
    std::vector<double> stop_ms;
    for (int r = 0; r < rounds; ++r) {
      require(c.wait_linked(30s), "not linked before SIGSTOP round", c);
      auto leader = c.wait_leader(10s);
      require(leader.has_value(), "no single leader before SIGSTOP round", c);
      const auto t0 = clock_type::now();
      c.freeze(leader->name);
      auto next = c.wait_leader(20s, leader->term + 1, leader->name, t0);
      const bool replaced = next.has_value();
      c.thaw(leader->name);
      require(replaced, "no new leader within 20 s of SIGSTOP", c);
      stop_ms.push_back(static_cast<double>(next->elapsed.count()));
      std::fprintf(stderr, "SIGSTOP round %d: %s → %s (term %lld) in %lld ms\n", r + 1,
                   leader->name.c_str(), next->name.c_str(), static_cast<long long>(next->term),
                   static_cast<long long>(next->elapsed.count()));
      require(c.wait_health(leader->name, 10s, [](const cluster_view& h) { return !h.leading; }),
              "the thawed leader did not step down within 10 s", c);
      require(c.wait_linked(30s), "the thawed node did not link again within 30 s", c);
    }

    // (c) cross-node and same-node event latency.
    require(c.wait_linked(30s), "not linked before the latency run", c);
    http_client a(c.http_port("node-a"));
    a.request("POST", "/api/v1/auth/signup",
              json::serialize(json::object{{"emailAddress", "bench@example.com"},
                                           {"password", "bench-password"},
                                           {"name", "Bench"}}));
    auto key =
        value_of(a.request("POST", "/api/v1/auth/signin",
                           json::serialize(json::object{{"emailAddress", "bench@example.com"},
                                                        {"password", "bench-password"}})),
                 "key");
    auto household =
        value_of(a.request_as(key, "POST", "/api/v1/auth/households", R"({"name":"bench"})"), "id");
    sse_recorder on_c(c.http_port("node-c"), key);
    sse_recorder on_a(c.http_port("node-a"), key);
    std::vector<double> response, cross, local;
    int lost_cross = 0, lost_local = 0;
    const int warmup = 20;
    std::int64_t seq = 0;
    const auto started = clock_type::now();
    for (int i = 0; i < warmup + writes; ++i) {
      const auto body = json::serialize(
          json::object{{"authHouseholdID", household}, {"name", "item " + std::to_string(i)}});
      const auto t0 = clock_type::now();
      auto r = a.request_as(key, "POST", "/api/v1/shop/items", body);
      const auto t1 = clock_type::now();
      if (r.status != 201) throw std::runtime_error("POST failed: " + r.body);
      ++seq;  // a fresh household: the i-th item is change seq i+1
      auto at_c = on_c.wait_seq(seq, 5s);
      auto at_a = on_a.wait_seq(seq, 5s);
      if (i < warmup) continue;
      response.push_back(ms(t1 - t0));
      if (at_c)
        cross.push_back(ms(*at_c - t0));
      else
        ++lost_cross;
      if (at_a)
        local.push_back(ms(*at_a - t0));
      else
        ++lost_local;
      if (lost_cross + lost_local > 10)
        throw std::runtime_error("more than 10 events lost (cross " + std::to_string(lost_cross) +
                                 ", same node " + std::to_string(lost_local) + "), giving up");
    }
    const double total_ms = ms(clock_type::now() - started);

    auto kill_s = summarize(kill_ms), stop_s = summarize(stop_ms);
    std::printf("\n### Failover (3 nodes, heartbeat %d ms, stale %d ms)\n\n", options.heartbeat_ms,
                options.stale_ms);
    std::printf("| leader lost by | rounds | median ms | min ms | max ms |\n");
    std::printf("|---|---:|---:|---:|---:|\n");
    std::printf("| kill -9 → new leader | %zu | %.0f | %.0f | %.0f |\n", kill_s.n, kill_s.p50,
                kill_s.min, kill_s.max);
    std::printf("| SIGSTOP → new leader | %zu | %.0f | %.0f | %.0f |\n", stop_s.n, stop_s.p50,
                stop_s.min, stop_s.max);

    auto cross_s = summarize(cross), local_s = summarize(local), resp_s = summarize(response);
    std::printf("\n### Event latency (%d sequential writes on node-a, %.0f writes/s)\n\n", writes,
                writes > 0 ? (warmup + writes) / (total_ms / 1000.0) : 0.0);
    std::printf("| path | n | p50 ms | p99 ms | max ms | lost |\n");
    std::printf("|---|---:|---:|---:|---:|---:|\n");
    std::printf("| POST on node-a → event on node-c | %zu | %.3f | %.3f | %.3f | %d |\n", cross_s.n,
                cross_s.p50, cross_s.p99, cross_s.max, lost_cross);
    std::printf("| POST on node-a → event on node-a | %zu | %.3f | %.3f | %.3f | %d |\n", local_s.n,
                local_s.p50, local_s.p99, local_s.max, lost_local);
    std::printf("| POST response on node-a | %zu | %.3f | %.3f | %.3f | – |\n", resp_s.n,
                resp_s.p50, resp_s.p99, resp_s.max);
    return lost_cross == 0 && lost_local == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench failed: " << e.what() << "\n";
    if (cluster) std::cerr << cluster->log_tails(4000);
    return 2;
  }
}
