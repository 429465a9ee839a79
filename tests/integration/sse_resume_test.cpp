// SSE resumption with Last-Event-ID (replay and resync) and slow clients.

#include <atomic>
#include <cstdio>
#include <functional>
#include <set>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

using sse_resume = hearth_test;

struct sse_small_window : hearth_test {
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_SSE_REPLAY_WINDOW", "5"}};
  }
};

// What the slow-client tests share: a write as a well-behaved client makes
// it (on 503 it waits, briefly, and tries again, for up to 20 s; the 503s it
// met are counted), and one sample of /metrics.
struct sse_slow_base : hearth_test {
  std::string create_item_patiently(const std::string& key, const std::string& hh,
                                    const std::string& name, int& refused) {
    http_client client(port());  // its own connection: writers may run in parallel
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      auto res =
          client.request_as(key, "POST", "/api/v1/shop/items",
                            json::serialize(json::object{{"authHouseholdID", hh}, {"name", name}}));
      if (res.status == 201) return str(first_value(res), "id");
      if (res.status != 503 || std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("create " + name + ": status " + std::to_string(res.status) +
                                 ": " + res.body);
      ++refused;
      if (res.header("retry-after") != "1" ||
          message_of(res).find("live updates of this household are behind") == std::string::npos)
        throw std::runtime_error("unexpected 503: " + res.body);
      std::this_thread::sleep_for(10ms);
    }
  }

  // The value of one sample line of /metrics ("name{labels} value"), -1 when absent.
  double metric_value(const std::string& sample) {
    auto body = http().request("GET", "/metrics").body;
    auto at = body.find("\n" + sample + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + sample.size() + 2));
  }
};

// Slow clients are judged by their sockets (http/fanout.hpp): a short stall
// limit, or a small unsent-byte limit, makes each quick to reach.
struct sse_slow_client : sse_slow_base {
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_SSE_BUFFER_BYTES", "1048576"}, {"HEARTH_SSE_STALL_MS", "600"}};
  }
};

struct sse_overload : sse_slow_base {
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_SSE_BUFFER_BYTES", "16384"}, {"HEARTH_SSE_STALL_MS", "5000"}};
  }
};

std::int64_t seq_of(const sse_event& ev) {
  return change_data(ev).at("seq").to_number<std::int64_t>();
}

TEST_F(sse_resume, last_event_id_replays_exactly_the_missed_events) {
  auto user = new_user("resume");
  const auto hh = create_household(user.key, "Home");
  std::string last_id;
  std::int64_t last_seq = 0;
  {
    auto stream = open_sse(user.key);
    ASSERT_TRUE(stream->retry_hint(5s).has_value());
    create_item(user.key, hh, "seen 1");
    create_item(user.key, hh, "seen 2");
    for (int i = 0; i < 2; ++i) {
      auto ev = next_change(*stream, 5s);
      ASSERT_TRUE(ev) << "live event " << i;
      last_id = ev->id;
      last_seq = seq_of(*ev);
    }
  }  // disconnected

  std::vector<std::string> missed;
  for (int i = 0; i < 4; ++i) missed.push_back(str(create_item(user.key, hh, "missed"), "id"));
  require_status(
      http().request_as(user.key, "PUT", "/api/v1/shop/items/" + missed[0], R"({"done":true})"),
      200, "update while away");

  auto stream = open_sse(user.key, {{"Last-Event-ID", last_id}});
  std::vector<sse_event> replayed;
  for (int i = 0; i < 5; ++i) {
    auto ev = stream->next(5s);
    ASSERT_TRUE(ev) << "replayed event " << i << " missing";
    ASSERT_EQ(ev->event, "change") << ev->data;
    replayed.push_back(*ev);
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(seq_of(replayed[i]), last_seq + 1 + i) << "replay out of order or with gaps";
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(str(change_data(replayed[i]), "id"), missed[i]);
    EXPECT_EQ(str(change_data(replayed[i]), "operation"), "create");
  }
  EXPECT_EQ(str(change_data(replayed[4]), "operation"), "update");
  EXPECT_EQ(str(change_data(replayed[4]), "id"), missed[0]);

  // Then live events continue, with no duplicate in between.
  const auto live_id = str(create_item(user.key, hh, "live"), "id");
  auto live = stream->next(5s);
  ASSERT_TRUE(live) << "no live event after the replay";
  EXPECT_EQ(live->event, "change");
  EXPECT_EQ(str(change_data(*live), "id"), live_id);
  EXPECT_EQ(seq_of(*live), last_seq + 6);

  // Resuming from the newest id replays nothing.
  auto again = open_sse(user.key, {{"Last-Event-ID", live->id}});
  const auto after = str(create_item(user.key, hh, "after"), "id");
  auto ev = again->next(5s);
  ASSERT_TRUE(ev);
  EXPECT_EQ(str(change_data(*ev), "id"), after);
  EXPECT_EQ(seq_of(*ev), last_seq + 7);
}

TEST_F(sse_resume, replay_covers_every_household_of_the_caller) {
  auto user = new_user("multi");
  const auto h1 = create_household(user.key, "One");
  const auto h2 = create_household(user.key, "Two");
  std::string last_id;
  {
    auto stream = open_sse(user.key);
    ASSERT_TRUE(stream->retry_hint(5s).has_value());
    create_item(user.key, h1, "a");
    create_item(user.key, h2, "b");
    for (int i = 0; i < 2; ++i) {
      auto ev = next_change(*stream, 5s);
      ASSERT_TRUE(ev);
      last_id = ev->id;
    }
  }
  std::set<std::string> expected;
  for (int i = 0; i < 6; ++i) {
    expected.insert(str(create_item(user.key, i % 2 ? h1 : h2, "m" + std::to_string(i)), "id"));
  }
  auto stream = open_sse(user.key, {{"Last-Event-ID", last_id}});
  std::set<std::string> got;
  std::map<std::string, std::int64_t> last_seq;
  for (int i = 0; i < 6; ++i) {
    auto ev = stream->next(5s);
    ASSERT_TRUE(ev) << "replayed event " << i << " missing";
    ASSERT_EQ(ev->event, "change") << ev->data;
    auto data = change_data(*ev);
    EXPECT_TRUE(got.insert(str(data, "id")).second) << "duplicate " << ev->data;
    auto hh = str(data, "authHouseholdID");
    auto seq = data.at("seq").to_number<std::int64_t>();
    if (last_seq.count(hh)) {
      EXPECT_EQ(seq, last_seq[hh] + 1) << ev->data;
    }
    last_seq[hh] = seq;
  }
  EXPECT_EQ(got, expected);
  const auto live = str(create_item(user.key, h1, "live"), "id");
  auto ev = stream->next(5s);
  ASSERT_TRUE(ev);
  EXPECT_EQ(str(change_data(*ev), "id"), live) << "extra event after the replay";
}

TEST_F(sse_small_window, too_many_missed_events_give_resync) {
  auto user = new_user("resync");
  const auto hh = create_household(user.key, "Home");
  std::string last_id;
  std::int64_t last_seq = 0;
  {
    auto stream = open_sse(user.key);
    ASSERT_TRUE(stream->retry_hint(5s).has_value());
    create_item(user.key, hh, "seen");
    auto ev = next_change(*stream, 5s);
    ASSERT_TRUE(ev);
    last_id = ev->id;
    last_seq = seq_of(*ev);
  }
  for (int i = 0; i < 10; ++i) create_item(user.key, hh, "missed " + std::to_string(i));

  auto stream = open_sse(user.key, {{"Last-Event-ID", last_id}});
  auto first = stream->next(5s);
  ASSERT_TRUE(first) << "nothing after reconnecting past the replay window";
  EXPECT_EQ(first->event, "resync") << first->data;
  if (first->event == "resync") {
    auto data = json::parse(first->data).as_object();
    EXPECT_EQ(str(data, "authHouseholdID"), hh);
  }
  // Then live events continue (no replayed ones before them).
  const auto live = str(create_item(user.key, hh, "live"), "id");
  auto ev = stream->next(5s);
  ASSERT_TRUE(ev) << "no live event after resync";
  EXPECT_EQ(ev->event, "change");
  EXPECT_EQ(str(change_data(*ev), "id"), live);
  EXPECT_EQ(seq_of(*ev), last_seq + 11);
}

TEST_F(sse_small_window, within_the_window_still_replays) {
  auto user = new_user("inwindow");
  const auto hh = create_household(user.key, "Home");
  std::string last_id;
  {
    auto stream = open_sse(user.key);
    ASSERT_TRUE(stream->retry_hint(5s).has_value());
    create_item(user.key, hh, "seen");
    auto ev = next_change(*stream, 5s);
    ASSERT_TRUE(ev);
    last_id = ev->id;
  }
  std::vector<std::string> missed;
  for (int i = 0; i < 3; ++i) missed.push_back(str(create_item(user.key, hh, "m"), "id"));
  auto stream = open_sse(user.key, {{"Last-Event-ID", last_id}});
  for (int i = 0; i < 3; ++i) {
    auto ev = stream->next(5s);
    ASSERT_TRUE(ev);
    ASSERT_EQ(ev->event, "change") << ev->data;
    EXPECT_EQ(str(change_data(*ev), "id"), missed[i]);
  }
}

TEST_F(sse_slow_client, a_stalled_client_is_dropped_within_the_stall_limit_and_others_go_on) {
  constexpr int writes = 400;  // ~100 KB of frames: more than the stalled socket's buffers
  auto user = new_user("slow");
  const auto hh = create_household(user.key, "Home");

  auto stalled = open_sse(user.key, {}, 2048);  // never read until the end
  auto normal = open_sse(user.key);
  ASSERT_TRUE(normal->retry_hint(5s).has_value());

  using clock = std::chrono::steady_clock;
  double worst_ms = 0;
  std::int64_t previous = -1;
  int refused = 0;
  for (int i = 0; i < writes; ++i) {
    auto start = clock::now();
    create_item_patiently(user.key, hh, "bulk " + std::to_string(i), refused);
    auto ev = next_change(*normal, 5s);
    ASSERT_TRUE(ev) << "the normal client missed event " << i << " (stalled client present)";
    worst_ms =
        std::max(worst_ms, std::chrono::duration<double, std::milli>(clock::now() - start).count());
    auto seq = seq_of(*ev);
    if (previous >= 0) {
      ASSERT_EQ(seq, previous + 1) << "gap in the normal client's stream at write " << i;
    }
    previous = seq;
  }
  const auto last_write = clock::now();
  std::printf(
      "[ slow     ] %d writes, worst write→event with a stalled peer: %.2f ms, %d "
      "refused\n",
      writes, worst_ms, refused);
  EXPECT_LT(worst_ms, 2000.0);

  // Its socket has taken nothing since its buffers filled: the server drops
  // it within sseStallMs (600 ms) plus one check period (150 ms), with its
  // unsent bytes far below the byte limit.
  ASSERT_TRUE(eventually(
      [&] { return metric_value("hearth_sse_streams_dropped_total{reason=\"stall\"}") == 1; },
      10s));
  const auto dropped_after =
      std::chrono::duration<double, std::milli>(clock::now() - last_write).count();
  std::printf("[ slow     ] stalled stream dropped %.0f ms after the last write\n", dropped_after);
  EXPECT_LT(dropped_after, 3000.0);
  EXPECT_EQ(metric_value("hearth_sse_streams_dropped_total{reason=\"overflow\"}"), 0);
  int drained = 0;
  while (stalled->next(5s)) ++drained;
  EXPECT_TRUE(stalled->closed()) << "the server kept the stalled stream open (" << drained
                                 << " events drained)";
  EXPECT_LT(drained, writes);
  EXPECT_FALSE(normal->closed());
  // The normal stream still delivers.
  create_item(user.key, hh, "after the drop");
  ASSERT_TRUE(next_change(*normal, 5s));
}

TEST_F(sse_overload, a_reading_client_keeps_its_stream_and_slows_only_its_households_writers) {
  constexpr int writers = 3;
  constexpr int per_writer = 120;
  auto user = new_user("overload");
  const auto hh = create_household(user.key, "Busy");
  auto other = new_user("bystander");
  const auto quiet = create_household(other.key, "Quiet");

  // A client that keeps reading, slowly: a small receive buffer and a pause
  // after every event (~100 events/s), while three writers go as fast as
  // the server lets them.
  auto reader = open_sse(user.key, {}, 2048);
  ASSERT_TRUE(reader->retry_hint(5s).has_value());
  std::vector<std::string> received;
  std::atomic<bool> writing{true};
  std::thread read_thread([&] {
    auto idle_since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - idle_since < 5s) {
      auto ev = reader->next(500ms);
      if (!ev) {
        if (reader->closed()) return;
        if (writing) idle_since = std::chrono::steady_clock::now();
        continue;
      }
      idle_since = std::chrono::steady_clock::now();
      if (ev->event == "change") received.push_back(str(change_data(*ev), "id"));
      std::this_thread::sleep_for(10ms);
    }
  });

  std::vector<std::vector<std::string>> created(writers);
  std::vector<int> refused(writers, 0);
  std::vector<std::string> errors(writers);
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      try {
        for (int i = 0; i < per_writer; ++i)
          created[w].push_back(create_item_patiently(
              user.key, hh, "w" + std::to_string(w) + "-" + std::to_string(i), refused[w]));
      } catch (const std::exception& e) {
        errors[w] = e.what();
      }
    });
  // Meanwhile, writes to another household are never refused.
  int quiet_refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto res = create_item_response(other.key, quiet, "quiet " + std::to_string(i));
    quiet_refused += res.status == 503;
    EXPECT_EQ(res.status, 201u) << res.body;
    std::this_thread::sleep_for(20ms);
  }
  for (auto& t : threads) t.join();
  writing = false;
  read_thread.join();
  for (const auto& e : errors) ASSERT_EQ(e, "");

  int total_refused = 0;
  std::set<std::string> want;
  for (int w = 0; w < writers; ++w) {
    total_refused += refused[w];
    want.insert(created[w].begin(), created[w].end());
  }
  std::printf(
      "[ overload ] %zu writes, %d refused with 503 while the reader was behind, %zu "
      "events read\n",
      want.size(), total_refused, received.size());
  EXPECT_GT(total_refused, 0) << "the writers never had to wait: no overload happened";
  EXPECT_EQ(quiet_refused, 0);
  EXPECT_FALSE(reader->closed()) << "the reading client's stream was dropped";
  EXPECT_EQ(received.size(), want.size()) << "events lost or duplicated";
  EXPECT_EQ(std::set<std::string>(received.begin(), received.end()), want);
  EXPECT_EQ(metric_value("hearth_sse_streams_dropped_total{reason=\"overflow\"}"), 0);
}

}  // namespace
}  // namespace hearth::testing
