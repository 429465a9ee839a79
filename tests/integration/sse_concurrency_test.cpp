// Concurrent writers: every subscriber gets every event exactly once, in
// per-household seq order, while several connections write at the same time.

#include <set>
#include <thread>
#include <vector>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

struct sse_concurrency : hearth_test {
  // Ensures `stream` delivers `household`'s events before the real test
  // starts: writes a sentinel until one arrives (at most 3 tries). The first
  // write after a stream opens can be lost (server bug covered by
  // sse.first_write_after_the_stream_opens_is_delivered); this keeps that bug
  // from masking what this suite checks.
  void warm_up(sse_client& stream, const std::string& key, const std::string& household) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const auto id = str(create_item(key, household, "sentinel"), "id");
      sentinels.insert(id);
      for (;;) {
        auto ev = next_change(stream, 3s);
        if (!ev) break;  // lost: try again with a new sentinel
        if (str(change_data(*ev), "id") == id) return;
      }
    }
    FAIL() << "stream never delivered an event of household " << household;
  }
  std::set<std::string> sentinels;  // warm-up items, ignored by the checks
};

// "n missing, m unexpected" for two id sets ("" when equal).
std::string diff(const std::set<std::string>& want, const std::set<std::string>& got) {
  std::size_t missing = 0, extra = 0;
  for (const auto& id : want) missing += got.count(id) == 0;
  for (const auto& id : got) extra += want.count(id) == 0;
  if (missing == 0 && extra == 0) return "";
  return std::to_string(missing) + " missing, " + std::to_string(extra) + " unexpected";
}

TEST_F(sse_concurrency, concurrent_writers_give_gapless_ordered_streams) {
  constexpr int writers = 4;
  constexpr int per_writer = 40;
  auto user = new_user("concurrent");
  const auto h1 = create_household(user.key, "One");
  const auto h2 = create_household(user.key, "Two");

  auto s1 = open_sse(user.key);
  auto s2 = open_sse(user.key);
  ASSERT_TRUE(s1->retry_hint(5s).has_value());
  ASSERT_TRUE(s2->retry_hint(5s).has_value());
  for (auto* s : {s1.get(), s2.get()}) {
    for (const auto& hh : {h1, h2}) {
      warm_up(*s, user.key, hh);
      if (HasFatalFailure()) return;
    }
  }

  std::vector<std::thread> threads;
  std::vector<std::string> errors(writers);
  std::vector<std::vector<std::string>> created(writers);
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        http_client client(port());
        for (int i = 0; i < per_writer; ++i) {
          const auto& hh = (w + i) % 2 ? h1 : h2;
          auto res =
              client.request_as(user.key, "POST", "/api/v1/shop/items",
                                json::serialize(json::object{
                                    {"authHouseholdID", hh},
                                    {"name", "w" + std::to_string(w) + "-" + std::to_string(i)}}));
          require_status(res, 201, "concurrent create");
          created[w].push_back(str(first_value(res), "id"));
        }
      } catch (const std::exception& e) {
        errors[w] = e.what();
      }
    });
  }
  // Read both streams while the writers run (so neither overflows).
  constexpr int total = writers * per_writer;
  std::vector<std::vector<sse_event>> got(2);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((got[0].size() < total || got[1].size() < total) &&
         std::chrono::steady_clock::now() < deadline) {
    for (int k = 0; k < 2; ++k) {
      auto& stream = k == 0 ? *s1 : *s2;
      if (got[k].size() >= total) continue;
      if (auto ev = stream.next(20ms)) {
        if (ev->event == "change" && !sentinels.count(str(change_data(*ev), "id"))) {
          got[k].push_back(*ev);
        }
      }
    }
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < writers; ++w) ASSERT_TRUE(errors[w].empty()) << errors[w];

  std::set<std::string> expected;
  for (const auto& ids : created) expected.insert(ids.begin(), ids.end());
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(total));

  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE("stream " + std::to_string(k));
    EXPECT_EQ(got[k].size(), static_cast<std::size_t>(total)) << "events missing";
    std::set<std::string> ids;
    std::map<std::string, std::int64_t> last;
    for (const auto& ev : got[k]) {
      auto data = change_data(ev);
      EXPECT_TRUE(ids.insert(str(data, "id")).second) << "duplicate " << ev.data;
      const auto hh = str(data, "authHouseholdID");
      const auto seq = data.at("seq").to_number<std::int64_t>();
      if (last.count(hh)) {
        EXPECT_EQ(seq, last[hh] + 1) << "out of order or gap in " << hh;
      }
      last[hh] = seq;
    }
    EXPECT_EQ(diff(expected, ids), "");
  }
  // Both streams saw the same order per household (ids in the same sequence).
  auto per_household = [](const std::vector<sse_event>& events) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& ev : events) {
      auto data = change_data(ev);
      out[str(data, "authHouseholdID")].push_back(str(data, "id"));
    }
    return out;
  };
  EXPECT_TRUE(per_household(got[0]) == per_household(got[1]))
      << "the two streams saw a household's events in different orders";
}

// Reconnecting with Last-Event-ID while writes keep coming: the replay/live
// boundary must neither drop nor repeat an event.
TEST_F(sse_concurrency, reconnects_during_writes_lose_and_repeat_nothing) {
  constexpr int total = 150;
  auto user = new_user("reconnect");
  const auto hh = create_household(user.key, "Home");
  auto stream = open_sse(user.key);
  ASSERT_TRUE(stream->retry_hint(5s).has_value());
  warm_up(*stream, user.key, hh);
  if (HasFatalFailure()) return;

  std::string error;
  std::vector<std::string> created;
  std::thread writer([&] {
    try {
      http_client client(port());
      for (int i = 0; i < total; ++i) {
        auto res =
            client.request_as(user.key, "POST", "/api/v1/shop/items",
                              json::serialize(json::object{{"authHouseholdID", hh},
                                                           {"name", "r" + std::to_string(i)}}));
        require_status(res, 201, "create");
        created.push_back(str(first_value(res), "id"));
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  });

  std::vector<std::string> seen;  // ids in arrival order
  std::int64_t last_seq = -1;
  std::string last_id;
  int reconnects = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen.size() < static_cast<std::size_t>(total) &&
         std::chrono::steady_clock::now() < deadline) {
    auto ev = stream->next(5s);
    if (!ev) break;
    if (ev->event != "change") {
      ADD_FAILURE() << "unexpected " << ev->event << " event: " << ev->data;
      break;
    }
    auto data = change_data(*ev);
    const auto id = str(data, "id");
    if (sentinels.count(id)) continue;
    const auto seq = data.at("seq").to_number<std::int64_t>();
    if (last_seq >= 0) {
      ASSERT_EQ(seq, last_seq + 1) << "gap or repeat after " << reconnects << " reconnects";
    }
    last_seq = seq;
    last_id = ev->id;
    seen.push_back(id);
    if (seen.size() % 40 == 0) {  // drop the stream and resume
      stream = open_sse(user.key, {{"Last-Event-ID", last_id}});
      ++reconnects;
    }
  }
  writer.join();
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(reconnects, total / 40);
  ASSERT_EQ(seen.size(), created.size()) << "events missing";
  EXPECT_TRUE(seen == created) << "events differ from the writes (order or content)";
}

}  // namespace
}  // namespace hearth::testing
