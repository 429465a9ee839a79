// Micro-benchmarks (Google Benchmark) of hearth's hot pure pieces:
//   routing        http::router::find over the API's route set (the table
//                  routes of domain::household_tables() plus the auth,
//                  household, SSE, health, docs and metrics routes)
//   JSON           a ShopItem POST body through http::json_object_reader (as
//                  api/table_api.cpp reads it), and a ShopItem envelope
//                  through http::ok (Boost.JSON serialize)
//   SSE fan-out    the per-stream work of one event: before (each subscriber
//                  serialised the JSON and encoded its cursor: the old
//                  actors::change_frame path) and now (the fan-out core,
//                  http/fanout.hpp: one encode per event, then per stream the
//                  id line and a copy of the shared bytes, one corked write),
//                  over N streams with a counting transport and over N
//                  socketpairs (real writev syscalls); ns per stream per event
//   CAF            a request/response round trip from a scoped_actor, and
//                  one-way sends of a change_event to an actor
// Run by `scripts/bench --micro` (writes bench/results/micro.md).

#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <caf/all.hpp>
#include <string>

#include "actors/cursor.hpp"
#include "actors/household_session.hpp"
#include "actors/messages.hpp"
#include "domain/tables.hpp"
#include "http/envelope.hpp"
#include "http/fanout_shard.hpp"
#include "http/json_input.hpp"
#include "http/router.hpp"
#include "storage/tables.hpp"

using namespace hearth;

namespace {

const char* kHousehold = "7f1c2a9e-3b4d-4e5f-8a6b-1c2d3e4f5a6b";
const char* kRow = "0b7e6c5d-4a3b-4c2d-9e1f-a1b2c3d4e5f6";
const char* kUpdated = "2026-11-23T14:26:11.123456Z";

const http::router& api_routes() {
  static const http::router r = [] {
    http::router r;
    http::handler h = [](const http::request&, http::responder) {};
    auto add = [&](const char* m, std::string p) { r.add({m, std::move(p), h}); };
    add("POST", "/api/v1/auth/signup");
    add("POST", "/api/v1/auth/signin");
    add("DELETE", "/api/v1/auth/signin");
    add("GET", "/api/v1/auth/accounts/me");
    add("POST", "/api/v1/auth/households");
    add("GET", "/api/v1/auth/households");
    add("POST", "/api/v1/auth/households/{id}/members");
    add("GET", "/api/v1/sse");
    add("GET", "/api/v1/health");
    add("GET", "/api/docs");
    add("GET", "/api/docs/ui");
    add("GET", "/metrics");
    for (const auto* t : domain::household_tables()) {
      add("GET", t->path);
      add("POST", t->path);
      add("GET", t->path + "/{id}");
      add("PUT", t->path + "/{id}");
      add("DELETE", t->path + "/{id}");
    }
    return r;
  }();
  return r;
}

void BM_route_item_by_id(benchmark::State& state) {
  const auto& r = api_routes();
  const std::string path = std::string("/api/v1/shop/items/") + kRow;
  for (auto _ : state) {
    auto m = r.find("PUT", path);
    benchmark::DoNotOptimize(m);
  }
  state.counters["routes"] = static_cast<double>(r.routes().size());
}
BENCHMARK(BM_route_item_by_id);

void BM_route_collection(benchmark::State& state) {
  const auto& r = api_routes();
  for (auto _ : state) {
    auto m = r.find("GET", "/api/v1/shop/items");
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_route_collection);

void BM_route_not_found(benchmark::State& state) {
  const auto& r = api_routes();
  for (auto _ : state) {
    auto m = r.find("GET", "/api/v1/nothing/here/at/all");
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_route_not_found);

// As api/table_api.cpp's POST handler reads a ShopItem body.
void BM_json_parse_shop_item(benchmark::State& state) {
  const std::string body = std::string(R"({"authHouseholdID":")") + kHousehold +
                           R"(","name":"oat milk, 2 litres","done":false})";
  for (auto _ : state) {
    http::json_object_reader in(body);
    auto household = in.string("authHouseholdID", true, 1, 64);
    bool uuid = http::is_uuid(*household);
    auto name = in.string("name", true, 1, 1000);
    auto done = in.boolean("done", false);
    in.reject_unknown();
    benchmark::DoNotOptimize(uuid);
    benchmark::DoNotOptimize(name);
    benchmark::DoNotOptimize(done);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_json_parse_shop_item);

boost::json::object shop_item() {
  return {{"id", kRow},    {"authHouseholdID", kHousehold}, {"name", "oat milk, 2 litres"},
          {"done", false}, {"created", kUpdated},           {"updated", kUpdated}};
}

// One ShopItem in the envelope (the POST/PUT response).
void BM_envelope_one_shop_item(benchmark::State& state) {
  const std::string rid = "5e0c6a1f9b2d4c3e8f7a6b5c4d3e2f1a";
  std::size_t bytes = 0;
  for (auto _ : state) {
    boost::json::array a;
    a.push_back(shop_item());
    auto r = http::ok(201, rid, "ShopItem", std::move(a));
    bytes = r.body.size();
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_envelope_one_shop_item);

// 50 ShopItems in the envelope (the REST read benchmark's list).
void BM_envelope_50_shop_items(benchmark::State& state) {
  const std::string rid = "5e0c6a1f9b2d4c3e8f7a6b5c4d3e2f1a";
  std::size_t bytes = 0;
  for (auto _ : state) {
    boost::json::array a;
    a.reserve(50);
    for (int i = 0; i < 50; ++i) a.push_back(shop_item());
    auto r = http::ok(200, rid, "ShopItem", std::move(a));
    bytes = r.body.size();
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_envelope_50_shop_items);

storage::change_event sample_event() {
  return {kHousehold, 4242, "shop_item", kRow, "create", kUpdated};
}

// Before: what the connection actor did per event and subscriber (the frame
// with its JSON serialised and its cursor encoded, for every subscriber).
void BM_sse_frame_per_subscriber_before(benchmark::State& state) {
  auto e = sample_event();
  actors::cursor position{{kHousehold, 4241}};
  std::size_t bytes = 0;
  for (auto _ : state) {
    position[e.household_id] = e.seq;
    // The JSON serialised again for every subscriber, as change_frame did.
    auto frame = "id: " + actors::encode_cursor(position) + "\n" + actors::encode_change(e)->body;
    bytes = frame.size();
    benchmark::DoNotOptimize(frame);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_sse_frame_per_subscriber_before);

// Now, once per event (not per subscriber): encode_change.
void BM_sse_encode_once_per_event(benchmark::State& state) {
  auto e = sample_event();
  for (auto _ : state) benchmark::DoNotOptimize(actors::encode_change(e));
}
BENCHMARK(BM_sse_encode_once_per_event);

// A stream of the fan-out core whose transport counts bytes (or, with an fd,
// writes them to a socketpair with one writev) and completes at once.
class bench_stream final : public http::sse_stream_core {
 public:
  bench_stream(http::fanout_shard& shard, const std::vector<http::sse::stream_start>& start, int fd)
      : sse_stream_core(shard, start), fd_(fd) {}
  void open() { header_written(); }
  std::size_t bytes = 0;

 private:
  void start_write(std::string_view payload) override {
    bytes += payload.size();
    if (fd_ >= 0) {
      char head[24];
      int n = std::snprintf(head, sizeof head, "%zx\r\n", payload.size());
      iovec iov[3] = {{head, static_cast<std::size_t>(n)},
                      {const_cast<char*>(payload.data()), payload.size()},
                      {const_cast<char*>("\r\n"), 2}};
      if (::writev(fd_, iov, 3) < 0) std::abort();
    }
    written();
  }
  void start_final() override {}
  void close_socket() override {}
  int fd_;
};

// N streams of one household on one shard; each iteration is one event:
// encode once, one post to the shard, per stream the id line + a copy of the
// shared bytes, one corked write per stream. Reports ns per stream per event.
void fanout_core(benchmark::State& state, bool sockets) {
  const auto n = static_cast<int>(state.range(0));
  boost::asio::io_context ioc(1);
  http::fanout_options o;
  o.heartbeat = std::chrono::hours(1);
  o.stall = std::chrono::hours(1);
  http::fanout_hub hub({&ioc}, o);
  auto& shard = hub.shard(0);
  auto load = hub.load_of(kHousehold);
  std::vector<std::unique_ptr<bench_stream>> streams;
  std::vector<int> readers;
  for (int i = 0; i < n; ++i) {
    int fds[2] = {-1, -1};
    if (sockets) {
      if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) std::abort();
      int big = 4 << 20;
      ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
      readers.push_back(fds[1]);
    }
    streams.push_back(std::make_unique<bench_stream>(
        shard, std::vector<http::sse::stream_start>{{kHousehold, 0, false}}, fds[0]));
    shard.add(*streams.back());
    shard.attach(streams.back()->id(), kHousehold, 0, load);
    streams.back()->open();
  }
  std::vector<char> sink(1 << 16);
  auto e = sample_event();
  std::int64_t seq = 0;
  for (auto _ : state) {
    e.seq = ++seq;
    hub.deliver(0, {actors::encode_change(e)}, load);
    ioc.poll();  // the delivery, then the corked flush
    if (sockets && seq % 64 == 0) {
      state.PauseTiming();
      for (int fd : readers)
        while (::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
        }
      state.ResumeTiming();
    }
  }
  // items = stream × event deliveries: ns per stream per event = 1e9 / items_per_second.
  state.SetItemsProcessed(state.iterations() * n);
  for (auto& s : streams) {
    shard.remove(*s);
    if (s->bytes == 0) std::abort();
  }
  for (int fd : readers) ::close(fd);
}

void BM_fanout_core_counting(benchmark::State& state) { fanout_core(state, false); }
BENCHMARK(BM_fanout_core_counting)->Arg(1000)->Arg(10000)->UseRealTime();

void BM_fanout_core_socketpair(benchmark::State& state) { fanout_core(state, true); }
BENCHMARK(BM_fanout_core_socketpair)->Arg(1000)->UseRealTime();

// A fresh actor system per benchmark run (torn down before the next; a
// static one would be destroyed after CAF's own statics at exit). Two
// scheduler threads, as hearth's default.
struct caf_env {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf_env() {
    cfg.set("scheduler.max-threads", static_cast<std::size_t>(2));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.add_message_type<storage::change_event>("hearth.change_event");
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

void BM_caf_request_response(benchmark::State& state) {
  caf_env env;
  auto& sys = *env.sys;
  auto echo = sys.spawn([]() -> caf::behavior { return {[](std::int64_t x) { return x + 1; }}; });
  caf::scoped_actor self{sys};
  std::int64_t sum = 0;
  for (auto _ : state) {
    self->request(echo, caf::infinite, std::int64_t{1})
        .receive([&](std::int64_t y) { sum += y; }, [](caf::error&) { std::abort(); });
  }
  benchmark::DoNotOptimize(sum);
  self->send_exit(echo, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_caf_request_response)->UseRealTime();

// One-way sends of a change_event (the notifier → household_session →
// connection hops carry these); a request at the end of each batch waits
// until the actor has handled the whole batch.
void BM_caf_send_change_event(benchmark::State& state) {
  caf_env env;
  auto& sys = *env.sys;
  auto counter = sys.spawn([]() -> caf::behavior {
    auto n = std::make_shared<std::int64_t>(0);
    return {[n](const storage::change_event& e) { *n += e.seq; },
            [n](caf::get_atom) { return *n; }};
  });
  caf::scoped_actor self{sys};
  const auto e = sample_event();
  const int batch = 1000;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) self->send(counter, e);
    self->request(counter, caf::infinite, caf::get_atom::value)
        .receive([](std::int64_t) {}, [](caf::error&) { std::abort(); });
  }
  state.SetItemsProcessed(state.iterations() * batch);
  self->send_exit(counter, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_caf_send_change_event)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
