// The quiet-failure log limiter (config/log_limiter.hpp), with an injected
// clock and sink: no real time passes.

#include "config/log_limiter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth::log {
namespace {

using namespace std::chrono_literals;

struct harness {
  repeat_limiter::clock::time_point t{};  // the injected now
  std::vector<std::string> lines;
  repeat_limiter limiter{
      10s, [this] { return t; },
      [this](spdlog::level::level_enum, const std::string& line) { lines.push_back(line); }};
};

std::uint64_t suppressed_at(const repeat_limiter& l, const std::string& site) {
  for (const auto& c : l.suppressed())
    if (c.site == site) return c.count;
  return 0;
}

TEST(LogLimiter, FirstOccurrenceIsWrittenWithItsContext) {
  harness h;
  EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "request.database", "database unavailable",
                               "request r1"));
  ASSERT_EQ(h.lines.size(), 1u);
  EXPECT_EQ(h.lines[0], "request r1: database unavailable");
}

TEST(LogLimiter, RepeatsWithinTheIntervalAreCountedNotWritten) {
  harness h;
  h.limiter.report(spdlog::level::warn, "pubsub.claim", "cannot claim: refused");
  // Every 200 ms for 9.8 s: the flood of the issue.
  for (int i = 1; i < 50; ++i) {
    h.t += 200ms;
    EXPECT_FALSE(h.limiter.report(spdlog::level::warn, "pubsub.claim", "cannot claim: refused"));
  }
  EXPECT_EQ(h.lines.size(), 1u);
  EXPECT_EQ(suppressed_at(h.limiter, "pubsub.claim"), 49u);
  h.limiter.flush();  // 9.8 s < 10 s: nothing due yet
  EXPECT_EQ(h.lines.size(), 1u);
}

TEST(LogLimiter, SummaryAfterTheIntervalCountsTheRepeats) {
  harness h;
  h.limiter.report(spdlog::level::warn, "pubsub.claim", "cannot claim: refused");
  for (int i = 1; i <= 50; ++i) {  // up to 10.0 s: the 50th closes the window
    h.t += 200ms;
    h.limiter.report(spdlog::level::warn, "pubsub.claim", "cannot claim: refused");
  }
  ASSERT_EQ(h.lines.size(), 2u);
  EXPECT_EQ(h.lines[1],
            "[pubsub.claim] repeated 50 times in the last 10.0 s: cannot claim: refused");
  // The next window starts at the summary.
  h.t += 5s;
  h.limiter.report(spdlog::level::warn, "pubsub.claim", "cannot claim: refused");
  EXPECT_EQ(h.lines.size(), 2u);
}

TEST(LogLimiter, FlushWritesTheCountWhenTheFailureStopped) {
  harness h;
  h.limiter.report(spdlog::level::warn, "s", "m");
  h.t += 1s;
  h.limiter.report(spdlog::level::warn, "s", "m");
  h.limiter.report(spdlog::level::warn, "s", "m");
  h.t += 9s;
  h.limiter.flush();
  ASSERT_EQ(h.lines.size(), 2u);
  EXPECT_EQ(h.lines[1], "[s] repeated 2 times in the last 10.0 s: m");
  // Silent for another interval: forgotten, so the next one is written in full.
  h.t += 10s;
  h.limiter.flush();
  EXPECT_EQ(h.lines.size(), 2u);
  EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "s", "m", "again"));
  EXPECT_EQ(h.lines.back(), "again: m");
}

TEST(LogLimiter, QuietForAnIntervalIsWrittenAgainWithoutFlush) {
  harness h;
  h.limiter.report(spdlog::level::warn, "s", "m");
  h.t += 11s;
  EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "s", "m"));
  EXPECT_EQ(h.lines.size(), 2u);
  EXPECT_EQ(suppressed_at(h.limiter, "s"), 0u);
}

TEST(LogLimiter, KeysAreSiteAndMessageNotContext) {
  harness h;
  EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "a", "m", "request 1"));
  EXPECT_FALSE(h.limiter.report(spdlog::level::warn, "a", "m", "request 2"));
  EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "a", "other", "request 3"));
  EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "b", "m", "request 4"));
  EXPECT_EQ(h.lines.size(), 3u);
  EXPECT_EQ(suppressed_at(h.limiter, "a"), 1u);
  EXPECT_EQ(suppressed_at(h.limiter, "b"), 0u);
}

TEST(LogLimiter, ZeroIntervalWritesEveryLine) {
  harness h;
  h.limiter.set_interval(0ms);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "s", "m"));
  EXPECT_EQ(h.lines.size(), 5u);
}

TEST(LogLimiter, DistinctMessagesBeyondTheKeyLimitShareOneKey) {
  harness h;
  for (std::size_t i = 0; i < repeat_limiter::max_keys; ++i)
    h.limiter.report(spdlog::level::warn, "s", "message " + std::to_string(i));
  EXPECT_EQ(h.lines.size(), repeat_limiter::max_keys);
  // The table is full: the first extra message takes the shared key (written),
  // the following ones are counted under it.
  EXPECT_TRUE(h.limiter.report(spdlog::level::warn, "s", "extra 1"));
  EXPECT_FALSE(h.limiter.report(spdlog::level::warn, "s", "extra 2"));
  EXPECT_FALSE(h.limiter.report(spdlog::level::warn, "s", "extra 3"));
  EXPECT_EQ(h.lines.size(), repeat_limiter::max_keys + 1);
}

TEST(LogLimiter, FirstLineCutsAtTheLineBreak) {
  EXPECT_EQ(first_line("server closed the connection unexpectedly\n\tThis probably means\n"),
            "server closed the connection unexpectedly");
  EXPECT_EQ(first_line("plain"), "plain");
  EXPECT_EQ(first_line("trailing  \n"), "trailing");
}

}  // namespace
}  // namespace hearth::log
