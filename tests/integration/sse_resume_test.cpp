// SSE resumption with Last-Event-ID (replay and resync) and slow clients.

#include <cstdio>
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

struct sse_slow_client : hearth_test {
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_SSE_QUEUE_LIMIT", "16"}};
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

TEST_F(sse_slow_client, a_stalled_client_does_not_delay_others_and_is_dropped) {
  constexpr int writes = 400;
  auto user = new_user("slow");
  const auto hh = create_household(user.key, "Home");

  auto stalled = open_sse(user.key, {}, 2048);  // never read until the end
  auto normal = open_sse(user.key);
  ASSERT_TRUE(normal->retry_hint(5s).has_value());

  using clock = std::chrono::steady_clock;
  double worst_ms = 0;
  std::int64_t previous = -1;
  for (int i = 0; i < writes; ++i) {
    auto start = clock::now();
    create_item(user.key, hh, "bulk " + std::to_string(i));
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
  std::printf("[ slow     ] %d writes, worst write→event with a stalled peer: %.2f ms\n", writes,
              worst_ms);
  EXPECT_LT(worst_ms, 2000.0);

  // The stalled stream was dropped by the server: draining it ends in EOF
  // with fewer events than were written.
  int drained = 0;
  while (stalled->next(5s)) ++drained;
  EXPECT_TRUE(stalled->closed()) << "the server kept the stalled stream open (" << drained
                                 << " events drained)";
  EXPECT_LT(drained, writes);
  std::printf("[ slow     ] stalled client drained %d of %d events before the close\n", drained,
              writes);
  EXPECT_FALSE(normal->closed());
}

struct sse_backpressure : hearth_test {
  std::map<std::string, std::string> extra_env() override {
    // The stalled stream is not dropped (queue limit far away): the node's
    // backlog grows until writes are refused.
    return {{"HEARTH_SSE_QUEUE_LIMIT", "100000"}, {"HEARTH_SSE_BACKLOG_LIMIT", "50"}};
  }
};

TEST_F(sse_backpressure, writes_get_503_while_live_updates_are_behind_and_resume_after) {
  auto user = new_user("backpressure");
  const auto hh = create_household(user.key, "Home");
  auto stalled = open_sse(user.key, {}, 2048);  // never reads
  ASSERT_EQ(http().request_as(user.key, "GET", "/api/v1/shop/items").status, 200u);

  // Write until the backlog passes the limit (the kernel's socket buffers
  // absorb the first few hundred frames).
  std::optional<http_response> refused;
  int accepted = 0;
  for (int i = 0; i < 5000 && !refused; ++i) {
    auto res = create_item_response(user.key, hh, "w" + std::to_string(i));
    if (res.status == 503) {
      refused = res;
    } else {
      ASSERT_EQ(res.status, 201u) << res.body;
      ++accepted;
    }
  }
  ASSERT_TRUE(refused) << accepted << " writes accepted, none refused";
  check_envelope(*refused, 503);
  EXPECT_EQ(refused->header("retry-after"), "1");
  EXPECT_NE(message_of(*refused).find("live updates are behind"), std::string::npos);
  // Reads still pass, and nothing refused was stored.
  auto list = http().request_as(user.key, "GET", "/api/v1/shop/items?authHouseholdID=" + hh);
  ASSERT_EQ(list.status, 200u);
  EXPECT_EQ(list.json().as_object().at("dataTotal").to_number<int>(), accepted);
  auto metrics = http().request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("hearth_sse_backlog_frames"), std::string::npos);

  // The stalled client leaves: its frames leave the backlog, writes pass again.
  stalled.reset();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  unsigned status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = create_item_response(user.key, hh, "after").status;
    if (status == 201) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 201u) << "writes still refused after the stalled client left";
}

}  // namespace
}  // namespace hearth::testing
