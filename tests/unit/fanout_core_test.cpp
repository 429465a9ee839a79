// The fan-out core (http/fanout_shard.hpp) without sockets: streams of the
// shard whose transport records what it is handed, driven event by event
// on an io_context polled by the test. Which stream gets which household's
// events, in order and once; replayed events before the held live ones; a
// stream that stops draining is dropped at its buffer limit without
// holding up the others.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "http/fanout.hpp"
#include "http/fanout_shard.hpp"

namespace hearth::http {
namespace {

constexpr const char* kHome = "0b5e6f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
constexpr const char* kCabin = "7d9f2a1e-3b4c-4d5e-9f60-718293a4b5c6";

// A stream whose "socket" keeps every payload; with `drains` false it never
// completes a write (a client that stopped reading).
class recording_stream final : public sse_stream_core {
 public:
  recording_stream(fanout_shard& shard, const std::vector<sse::stream_start>& start,
                   bool drains = true)
      : sse_stream_core(shard, start), drains_(drains) {}
  void open() {
    join_shard();
    header_written();
  }
  std::string received;

 private:
  void start_write(std::string_view payload) override {
    received.append(payload);
    if (drains_) written();
  }
  void start_final() override {}
  void close_socket() override { ended(end_reason::closed); }
  bool drains_;
};

event_ptr event(const std::string& household, std::int64_t seq) {
  auto e = std::make_shared<encoded_event>();
  e->household_id = household;
  e->seq = seq;
  e->body = "event: change\ndata: {\"seq\":" + std::to_string(seq) + "}\n\n";
  return e;
}

// How many times `needle` occurs in `text`.
std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

struct fanout_core_test : ::testing::Test {
  boost::asio::io_context ioc{1};
  fanout_options options = [] {
    fanout_options o;
    o.heartbeat = std::chrono::hours(1);
    o.stall = std::chrono::hours(1);
    return o;
  }();
  std::unique_ptr<fanout_hub> hub;
  std::vector<std::unique_ptr<recording_stream>> streams;

  void SetUp() override { hub = std::make_unique<fanout_hub>(std::vector{&ioc}, options); }
  void TearDown() override {
    for (auto& s : streams)
      if (!s->dead()) hub->shard(0).remove(*s);
  }

  recording_stream& open(const std::string& household, bool drains = true) {
    auto& shard = hub->shard(0);
    streams.push_back(std::make_unique<recording_stream>(
        shard, std::vector<sse::stream_start>{{household, 0, false}}, drains));
    auto& s = *streams.back();
    s.open();
    hub->attach(s.ref(), household, 0, hub->load_of(household));
    ioc.poll();
    ioc.restart();
    return s;
  }

  void deliver(const std::string& household, event_batch events) {
    hub->deliver(0, std::move(events), hub->load_of(household));
    ioc.poll();
    ioc.restart();
  }
};

TEST_F(fanout_core_test, each_stream_gets_its_households_events_once_and_in_order) {
  auto& a = open(kHome);
  auto& b = open(kHome);
  auto& c = open(kCabin);
  deliver(kHome, {event(kHome, 1), event(kHome, 2)});
  deliver(kHome, {event(kHome, 2), event(kHome, 3)});  // 2 again: a redelivery
  for (auto* s : {&a, &b}) {
    EXPECT_EQ(count(s->received, "event: change\n"), 3u) << s->received;
    const auto one = s->received.find("{\"seq\":1}");
    const auto two = s->received.find("{\"seq\":2}");
    const auto three = s->received.find("{\"seq\":3}");
    ASSERT_NE(three, std::string::npos) << s->received;
    EXPECT_LT(one, two);
    EXPECT_LT(two, three);
    EXPECT_EQ(count(s->received, "id: "), 3u) << "each event carries the stream's cursor";
  }
  EXPECT_EQ(count(c.received, "event: change\n"), 0u) << "another household's events";
  deliver(kCabin, {event(kCabin, 1)});
  EXPECT_EQ(count(c.received, "event: change\n"), 1u);
  EXPECT_EQ(count(a.received, "event: change\n"), 3u);
}

TEST_F(fanout_core_test, a_replay_comes_before_the_live_events_held_meanwhile) {
  auto& shard = hub->shard(0);
  streams.push_back(
      std::make_unique<recording_stream>(shard, std::vector<sse::stream_start>{{kHome, 1, false}}));
  auto& s = *streams.back();
  s.open();
  // The producer is at seq 3 already: 2 and 3 come from the outbox, and
  // the live 4 waits for them.
  hub->attach(s.ref(), kHome, 3, hub->load_of(kHome));
  deliver(kHome, {event(kHome, 4)});
  EXPECT_EQ(count(s.received, "event: change\n"), 0u) << "a live event before the replay";
  hub->replayed(s.ref(), kHome, {event(kHome, 2), event(kHome, 3)}, true, 3);
  ioc.poll();
  ioc.restart();
  EXPECT_EQ(count(s.received, "event: change\n"), 3u) << s.received;
  EXPECT_LT(s.received.find("{\"seq\":3}"), s.received.find("{\"seq\":4}"));
  EXPECT_LT(s.received.find("{\"seq\":2}"), s.received.find("{\"seq\":3}"));
}

TEST_F(fanout_core_test, a_stream_that_stops_draining_is_dropped_at_its_limit_alone) {
  options.buffer_limit_bytes = 4096;
  hub = std::make_unique<fanout_hub>(std::vector{&ioc}, options);
  auto& stuck = open(kHome, false);
  auto& fine = open(kHome);
  std::int64_t seq = 0;
  for (int round = 0; round < 100 && !stuck.dead(); ++round) {
    event_batch batch;
    for (int i = 0; i < 10; ++i) batch.push_back(event(kHome, ++seq));
    deliver(kHome, std::move(batch));
  }
  EXPECT_TRUE(stuck.dead()) << "a stream over its buffer limit was kept";
  EXPECT_EQ(hub->stats().dropped_overflow, 1u);
  EXPECT_FALSE(fine.dead());
  EXPECT_EQ(count(fine.received, "event: change\n"), static_cast<std::size_t>(seq))
      << "the draining stream missed events";
}

}  // namespace
}  // namespace hearth::http
