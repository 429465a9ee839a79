// The SSE stream: headers, retry hint, heartbeats, change events, fan-out to
// household members only, and write→event latency.

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

using sse = hearth_test;

struct sse_heartbeat : hearth_test {
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_SSE_HEARTBEAT_MS", "200"}};
  }
};

// A stream lives longer than the write timeout (requestTimeoutMs): the
// timeout applies to each write, not to the stream's life.
struct sse_short_timeout : hearth_test {
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_REQUEST_TIMEOUT_MS", "300"}, {"HEARTH_SSE_HEARTBEAT_MS", "100"}};
  }
};

TEST_F(sse_short_timeout, a_stream_outlives_the_write_timeout) {
  auto user = new_user("longlived");
  const auto hh = create_household(user.key, "Home");
  auto stream = open_sse(user.key);
  ASSERT_TRUE(stream->retry_hint(5s).has_value());
  // Five write timeouts of heartbeats only: reading them, no event yet.
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_FALSE(stream->next(50ms).has_value());
    ASSERT_FALSE(stream->closed())
        << "the server ended the stream after " << stream->comments() << " heartbeats";
  }
  EXPECT_GE(stream->comments(), 5);
  create_item(user.key, hh, "still live");
  auto ev = stream->next(5s);
  ASSERT_TRUE(ev.has_value()) << "no event after the write timeout passed";
  EXPECT_EQ(ev->event, "change");
  EXPECT_FALSE(stream->closed());
}

TEST_F(sse, stream_headers_and_retry_hint) {
  auto user = new_user("ssehdr");
  auto stream = open_sse(user.key);
  EXPECT_EQ(stream->status(), 200u);
  EXPECT_EQ(stream->header("content-type").rfind("text/event-stream", 0), 0u)
      << stream->header("content-type");
  EXPECT_NE(stream->header("cache-control").find("no-cache"), std::string::npos)
      << stream->header("cache-control");
  EXPECT_EQ(stream->header("x-accel-buffering"), "no");
  EXPECT_FALSE(stream->header("x-request-id").empty()) << "no X-Request-ID on the SSE response";
  auto retry = stream->retry_hint(5s);
  ASSERT_TRUE(retry.has_value()) << "no retry: line within 5 s";
  EXPECT_GT(*retry, 0u);
  EXPECT_FALSE(stream->closed());
}

TEST_F(sse, requires_authentication) {
  auto res = http().request("GET", "/api/v1/sse", "", {{"Accept", "text/event-stream"}});
  EXPECT_EQ(res.status, 401u) << res.body;
  EXPECT_THROW(sse_client(port(), {}), std::runtime_error);
  EXPECT_THROW(sse_client(port(), {{"Authorization", "Bearer nope"}}), std::runtime_error);
}

TEST_F(sse, change_events_for_create_update_delete) {
  auto user = new_user("sseflow");
  const auto hh = create_household(user.key, "Home");
  auto stream = open_sse(user.key);
  ASSERT_TRUE(stream->retry_hint(5s).has_value());  // the stream is live

  using clock = std::chrono::steady_clock;
  std::vector<double> latencies_ms;
  auto timed = [&](auto&& write) {
    auto start = clock::now();
    write();
    auto ev = next_change(*stream, 5s);
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - start).count());
    return ev;
  };

  std::string item_id;
  auto created = timed([&] { item_id = str(create_item(user.key, hh, "Milk"), "id"); });
  ASSERT_TRUE(created) << "no event for the create";
  EXPECT_EQ(created->event, "change");
  EXPECT_FALSE(created->id.empty());
  auto data = change_data(*created);
  EXPECT_EQ(str(data, "authHouseholdID"), hh);
  EXPECT_EQ(str(data, "table"), "shop_item");
  EXPECT_EQ(str(data, "id"), item_id);
  EXPECT_EQ(str(data, "operation"), "create");
  EXPECT_FALSE(str(data, "updated").empty());
  const auto seq0 = data.at("seq").to_number<std::int64_t>();

  auto updated = timed([&] {
    require_status(
        http().request_as(user.key, "PUT", "/api/v1/shop/items/" + item_id, R"({"done":true})"),
        200, "update");
  });
  ASSERT_TRUE(updated) << "no event for the update";
  data = change_data(*updated);
  EXPECT_EQ(str(data, "operation"), "update");
  EXPECT_EQ(str(data, "id"), item_id);
  EXPECT_EQ(data.at("seq").to_number<std::int64_t>(), seq0 + 1);
  EXPECT_NE(updated->id, created->id);

  std::string task_id;
  auto task_created = timed([&] { task_id = str(create_task(user.key, hh, "Plan"), "id"); });
  ASSERT_TRUE(task_created) << "no event for the task";
  data = change_data(*task_created);
  EXPECT_EQ(str(data, "table"), "plan_task");
  EXPECT_EQ(str(data, "id"), task_id);
  EXPECT_EQ(str(data, "operation"), "create");
  EXPECT_EQ(data.at("seq").to_number<std::int64_t>(), seq0 + 2);

  auto deleted = timed([&] {
    require_status(http().request_as(user.key, "DELETE", "/api/v1/shop/items/" + item_id), 200,
                   "delete");
  });
  ASSERT_TRUE(deleted) << "no event for the delete";
  data = change_data(*deleted);
  EXPECT_EQ(str(data, "operation"), "delete");
  EXPECT_EQ(str(data, "table"), "shop_item");
  EXPECT_EQ(str(data, "id"), item_id);
  EXPECT_EQ(data.at("seq").to_number<std::int64_t>(), seq0 + 3);

  // A few more for a latency sample.
  for (int i = 0; i < 20; ++i) {
    auto ev = timed([&] { create_item(user.key, hh, "sample " + std::to_string(i)); });
    ASSERT_TRUE(ev) << "no event for sample " << i;
    EXPECT_EQ(change_data(*ev).at("seq").to_number<std::int64_t>(), seq0 + 4 + i);
  }

  std::sort(latencies_ms.begin(), latencies_ms.end());
  const double p50 = latencies_ms[latencies_ms.size() / 2];
  const double max = latencies_ms.back();
  std::printf(
      "[ latency  ] write→event (request round trip + delivery): p50 %.2f ms, max %.2f ms, n=%zu\n",
      p50, max, latencies_ms.size());
  EXPECT_LT(max, 2000.0);
}

// Once the stream has started (headers and the retry: line arrived), a write
// must reach it: the client has no cursor yet to recover a lost event with.
TEST_F(sse, first_write_after_the_stream_opens_is_delivered) {
  auto user = new_user("ssefirst");
  const auto hh = create_household(user.key, "Home");
  for (int round = 0; round < 25; ++round) {
    auto stream = open_sse(user.key);
    ASSERT_TRUE(stream->retry_hint(5s).has_value()) << "round " << round;
    const auto id = str(create_item(user.key, hh, "first " + std::to_string(round)), "id");
    auto ev = next_change(*stream, 5s);
    ASSERT_TRUE(ev) << "round " << round << ": the first write after the stream opened was lost";
    EXPECT_EQ(str(change_data(*ev), "id"), id) << "round " << round;
  }
}

TEST_F(sse, cookie_authenticates_the_stream) {
  auto user = new_user("ssecookie");
  const auto hh = create_household(user.key, "Home");
  sse_client stream(port(), {{"Cookie", "hearth_session=" + user.key}});
  ASSERT_TRUE(stream.retry_hint(5s).has_value());
  const auto id = str(create_item(user.key, hh, "via cookie"), "id");
  auto ev = next_change(stream, 5s);
  ASSERT_TRUE(ev) << "no event on the cookie-authenticated stream";
  EXPECT_EQ(str(change_data(*ev), "id"), id);
}

TEST_F(sse, members_get_events_and_others_do_not) {
  auto owner = new_user("owner");
  auto viewer = new_user("viewer");
  auto stranger = new_user("stranger");
  const auto shared = create_household(owner.key, "Shared");
  add_member(owner.key, shared, viewer.email, "view");
  const auto own = create_household(stranger.key, "Stranger's");

  auto owner_stream = open_sse(owner.key);
  auto viewer_stream = open_sse(viewer.key);
  auto stranger_stream = open_sse(stranger.key);
  for (auto* s : {owner_stream.get(), viewer_stream.get(), stranger_stream.get()}) {
    ASSERT_TRUE(s->retry_hint(5s).has_value());
  }

  const auto item = str(create_item(owner.key, shared, "for members"), "id");
  for (auto* s : {owner_stream.get(), viewer_stream.get()}) {
    auto ev = next_change(*s, 5s);
    ASSERT_TRUE(ev) << "a member did not get the event";
    EXPECT_EQ(str(change_data(*ev), "id"), item);
    EXPECT_EQ(str(change_data(*ev), "authHouseholdID"), shared);
  }

  // The stranger's next event is its own household's, not the shared one's.
  const auto own_item = str(create_item(stranger.key, own, "mine"), "id");
  auto ev = next_change(*stranger_stream, 5s);
  ASSERT_TRUE(ev) << "the stranger did not get its own event";
  EXPECT_EQ(str(change_data(*ev), "id"), own_item);
  EXPECT_EQ(str(change_data(*ev), "authHouseholdID"), own);
  // And the members never see the stranger's.
  const auto second = str(create_item(owner.key, shared, "second"), "id");
  auto ev2 = next_change(*viewer_stream, 5s);
  ASSERT_TRUE(ev2);
  EXPECT_EQ(str(change_data(*ev2), "id"), second);
}

TEST_F(sse, member_added_later_receives_events_on_a_new_stream) {
  auto owner = new_user("owner");
  auto late = new_user("late");
  const auto hh = create_household(owner.key, "Home");
  add_member(owner.key, hh, late.email, "edit");
  auto stream = open_sse(late.key);
  ASSERT_TRUE(stream->retry_hint(5s).has_value());
  const auto id = str(create_item(owner.key, hh, "welcome"), "id");
  auto ev = next_change(*stream, 5s);
  ASSERT_TRUE(ev) << "a new member's stream gets no events";
  EXPECT_EQ(str(change_data(*ev), "id"), id);
}

TEST_F(sse, seq_is_per_household) {
  auto user = new_user("seq");
  const auto h1 = create_household(user.key, "One");
  const auto h2 = create_household(user.key, "Two");
  auto stream = open_sse(user.key);
  ASSERT_TRUE(stream->retry_hint(5s).has_value());
  std::map<std::string, std::vector<std::int64_t>> seqs;
  for (int i = 0; i < 6; ++i) {
    create_item(user.key, i % 3 == 0 ? h2 : h1, "x" + std::to_string(i));
  }
  for (int i = 0; i < 6; ++i) {
    auto ev = next_change(*stream, 5s);
    ASSERT_TRUE(ev) << "missing event " << i;
    auto data = change_data(*ev);
    seqs[str(data, "authHouseholdID")].push_back(data.at("seq").to_number<std::int64_t>());
  }
  ASSERT_EQ(seqs[h1].size(), 4u);
  ASSERT_EQ(seqs[h2].size(), 2u);
  for (const auto& [hh, list] : seqs) {
    for (std::size_t i = 1; i < list.size(); ++i) {
      EXPECT_EQ(list[i], list[i - 1] + 1) << "household " << hh;
    }
  }
}

TEST_F(sse_heartbeat, heartbeat_comments_arrive) {
  auto user = new_user("heartbeat");
  auto stream = open_sse(user.key);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (stream->comments() < 3 && !stream->closed() &&
         std::chrono::steady_clock::now() < deadline) {
    auto ev = stream->next(100ms);  // reads (and counts) comments meanwhile
    (void)ev;
  }
  EXPECT_GE(stream->comments(), 3) << "heartbeats every 200 ms should give 3 within 5 s";
  EXPECT_FALSE(stream->closed());
}

TEST_F(sse_heartbeat, events_still_arrive_between_heartbeats) {
  auto user = new_user("hbevents");
  const auto hh = create_household(user.key, "Home");
  auto stream = open_sse(user.key);
  ASSERT_TRUE(stream->retry_hint(5s).has_value());
  for (int i = 0; i < 5; ++i) {
    const auto id = str(create_item(user.key, hh, "hb " + std::to_string(i)), "id");
    auto ev = next_change(*stream, 5s);
    ASSERT_TRUE(ev) << "event " << i;
    EXPECT_EQ(str(change_data(*ev), "id"), id);
    // Let at least one heartbeat pass before the next write.
    const int seen = stream->comments();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (stream->comments() == seen && std::chrono::steady_clock::now() < deadline) {
      auto extra = stream->next(50ms);
      ASSERT_FALSE(extra.has_value()) << "unexpected event " << extra->data;
    }
    ASSERT_GT(stream->comments(), seen) << "no heartbeat within 5 s";
  }
}

TEST_F(sse, sigterm_with_open_streams_exits_cleanly) {
  auto user = new_user("shutdown");
  const auto hh = create_household(user.key, "Home");
  auto a = open_sse(user.key);
  auto b = open_sse(user.key);
  ASSERT_TRUE(a->retry_hint(5s).has_value());
  ASSERT_TRUE(b->retry_hint(5s).has_value());
  create_item(user.key, hh, "before shutdown");
  ASSERT_TRUE(next_change(*a, 5s));
  EXPECT_EQ(hearth_->stop(SIGTERM, 15s), 0) << hearth_->log();
  // The streams end (EOF) instead of hanging.
  while (a->next(5s)) {
  }
  EXPECT_TRUE(a->closed());
  while (b->next(5s)) {
  }
  EXPECT_TRUE(b->closed());
}

TEST_F(sse, sigterm_with_a_stream_of_no_household_exits_cleanly) {
  // This stream subscribes to nothing, so only the runtime's own list of
  // streams can end it; a forgotten actor would hang the stop.
  auto user = new_user("homeless");
  auto a = open_sse(user.key);
  ASSERT_TRUE(a->retry_hint(5s).has_value());
  EXPECT_EQ(hearth_->stop(SIGTERM, 15s), 0) << hearth_->log();
}

}  // namespace
}  // namespace hearth::testing
