// Zero-downtime restart: SIGUSR2 starts a successor on the same listening
// socket; the predecessor drains and exits 0 once the successor is ready.
// A bounded load loop against the port sees no failed request, and an SSE
// client resumes on the successor by Last-Event-ID with nothing lost.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

class zero_downtime : public hearth_test {
 protected:
  void SetUp() override {
    // The successor is the predecessor's child; when the predecessor exits,
    // it becomes ours, so that we can reap it.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    hearth_test::SetUp();
  }
  void TearDown() override {
    if (successor_ > 0) {
      ::kill(successor_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 300 && ::waitpid(successor_, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(100ms);
      if (::waitpid(successor_, &status, WNOHANG) == 0) {
        ::kill(successor_, SIGKILL);
        ::waitpid(successor_, &status, 0);
      }
    }
    hearth_test::TearDown();
  }
  pid_t successor_ = -1;
};

TEST_F(zero_downtime, sigusr2_restarts_without_a_failed_request_or_a_lost_event) {
  auto u = new_user("restart");
  auto h = create_household(u.key, "Restart");
  const auto old_pid = hearth_->pid();
  // Open before the first write: a new stream starts at the current head.
  auto sse = open_sse(u.key);

  // Load: health checks, each on a new connection, bounded in count and time.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  auto load = std::async(std::launch::async, [&] {
    const auto until = std::chrono::steady_clock::now() + 60s;
    for (int i = 0; i < 20'000 && !stop && std::chrono::steady_clock::now() < until; ++i) {
      try {
        auto res = raw_exchange(
            port(), "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1);
        if (res.at(0).status == 200) {
          ++ok;
          continue;
        }
        if (failed++ == 0) first_failure = "status " + std::to_string(res.at(0).status);
      } catch (const std::exception& e) {
        if (failed++ == 0) first_failure = e.what();
      }
    }
  });
  // Writes through the restart, each on a new connection.
  std::atomic<int> writes{0};
  auto writer = std::async(std::launch::async, [&] {
    for (int i = 0; i < 60 && !stop; ++i) {
      http_client c(port());
      auto res = c.request_as(u.key, "POST", "/api/v1/shop/items",
                              json::serialize(json::object{{"authHouseholdID", h},
                                                           {"name", "item " + std::to_string(i)}}));
      if (res.status == 201) ++writes;
      std::this_thread::sleep_for(20ms);
    }
  });

  std::vector<std::int64_t> seqs;
  std::string last_id;
  auto take = [&](sse_client& s, std::chrono::milliseconds timeout) {
    while (auto ev = s.next(timeout)) {
      if (ev->event != "change") continue;
      seqs.push_back(change_data(*ev).at("seq").to_number<std::int64_t>());
      last_id = ev->id;
    }
  };
  std::this_thread::sleep_for(300ms);  // some load and events before the restart
  ASSERT_EQ(::kill(old_pid, SIGUSR2), 0);
  take(*sse, 10s);  // until the predecessor closes the stream
  EXPECT_TRUE(sse->closed());
  int code = hearth_->stop(0, 60s);  // signal 0: just wait for the exit
  EXPECT_EQ(code, 0) << hearth_->log();

  // The successor rewrote the ready file with its pid, on the same port.
  std::ifstream in(hearth_->ready_file());
  std::stringstream text;
  text << in.rdbuf();
  auto ready = json::parse(text.str()).as_object();
  successor_ = static_cast<pid_t>(ready.at("pid").to_number<int>());
  EXPECT_NE(successor_, old_pid);
  EXPECT_EQ(ready.at("httpPort").to_number<int>(), port());

  writer.get();
  std::this_thread::sleep_for(300ms);  // load against the successor alone
  stop = true;
  load.get();
  std::printf("[ restart  ] %d requests succeeded, %d failed during the restart\n", ok.load(),
              failed.load());
  EXPECT_EQ(failed.load(), 0) << "first failure: " << first_failure;
  EXPECT_GT(ok.load(), 50);
  ASSERT_EQ(writes.load(), 60);

  // Resume on the successor: exactly the events not yet seen.
  auto resumed = open_sse(u.key, {{"Last-Event-ID", last_id}});
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (seqs.size() < 60 && std::chrono::steady_clock::now() < until) {
    auto ev = resumed->next(1s);
    if (!ev || ev->event != "change") continue;
    seqs.push_back(change_data(*ev).at("seq").to_number<std::int64_t>());
  }
  std::string got;
  for (auto q : seqs) got += std::to_string(q) + " ";
  ASSERT_EQ(seqs.size(), 60u) << "seqs: " << got << "\nlast id before the restart: " << last_id;
  for (std::size_t i = 0; i < seqs.size(); ++i)
    EXPECT_EQ(seqs[i], static_cast<std::int64_t>(i + 1));
}

}  // namespace
}  // namespace hearth::testing
