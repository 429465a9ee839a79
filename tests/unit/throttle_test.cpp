// http::failure_throttle driven with explicit time points (no clock, no sleep).

#include "http/throttle.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace hearth::http {
namespace {

using namespace std::chrono_literals;
using tp = failure_throttle::clock::time_point;

throttle_options small() {
  return {.limit = 3,
          .window_ms = 60'000,
          .base_wait_ms = 1'000,
          .max_wait_ms = 8'000,
          .max_entries = 100};
}

TEST(FailureThrottle, AdmitsUntilTheLimitThenWaitsDoublingToTheCap) {
  failure_throttle t(small());
  tp now{};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.admit("a", now), 0) << "attempt " << i;
    t.fail("a", now);
  }
  // The third failure set a wait of base; each refused attempt doubles it.
  EXPECT_EQ(t.admit("a", now), 1'000);
  EXPECT_EQ(t.admit("a", now), 2'000);
  EXPECT_EQ(t.admit("a", now), 4'000);
  EXPECT_EQ(t.admit("a", now), 8'000);
  EXPECT_EQ(t.admit("a", now), 8'000) << "capped at max_wait_ms";
  // The wait is counted from the last refusal.
  EXPECT_EQ(t.admit("a", now + 7'999ms), 8'000);
  EXPECT_EQ(t.admit("a", now + 7'999ms + 8'000ms), 0);
}

TEST(FailureThrottle, AWaitIsReportedAsTimeLeft) {
  failure_throttle t(small());
  tp now{};
  for (int i = 0; i < 3; ++i) t.fail("a", now);
  EXPECT_EQ(t.admit("a", now + 999ms), 1'000) << "refused: the wait restarts at base";
  EXPECT_EQ(t.admit("a", now + 1'999ms + 1'000ms), 0);
  // A failure after the wait keeps the count: it waits again at once.
  t.fail("a", now + 3s);
  EXPECT_GT(t.admit("a", now + 3s), 0);
}

TEST(FailureThrottle, KeysAreIndependentAndResetForgets) {
  failure_throttle t(small());
  tp now{};
  for (int i = 0; i < 3; ++i) t.fail("a", now);
  EXPECT_GT(t.admit("a", now), 0);
  EXPECT_EQ(t.admit("b", now), 0);
  t.reset("a");
  EXPECT_EQ(t.admit("a", now), 0);
  // A reset count starts again from zero.
  t.fail("a", now);
  t.fail("a", now);
  EXPECT_EQ(t.admit("a", now), 0);
}

TEST(FailureThrottle, FailuresOutsideTheWindowAreForgotten) {
  failure_throttle t(small());
  tp now{};
  t.fail("a", now);
  t.fail("a", now);
  t.fail("a", now + 60s);  // the first two are a window old: forgotten
  EXPECT_EQ(t.admit("a", now + 60s), 0);
  t.fail("a", now + 61s);
  t.fail("a", now + 62s);  // three within the window
  EXPECT_EQ(t.admit("a", now + 62s), 1'000);
}

TEST(FailureThrottle, AWaitOutlastsTheWindowByAWholeWindow) {
  auto o = small();
  o.window_ms = 2'000;
  o.max_wait_ms = 16'000;
  failure_throttle t(o);
  tp now{};
  for (int i = 0; i < 3; ++i) t.fail("a", now);
  for (int i = 0; i < 5; ++i) t.admit("a", now);  // wait now 16 s
  // Past the wait but within a window after it: the count stands.
  t.fail("a", now + 17s);
  EXPECT_EQ(t.admit("a", now + 17s), 16'000);
}

TEST(FailureThrottle, ZeroLimitIsOff) {
  auto o = small();
  o.limit = 0;
  failure_throttle t(o);
  for (int i = 0; i < 100; ++i) t.fail("a");
  EXPECT_EQ(t.admit("a"), 0);
  EXPECT_EQ(t.size(), 0u);
}

TEST(FailureThrottle, MemoryIsBoundedByForgettingTheLeastRecentKey) {
  auto o = small();
  o.max_entries = 4;
  failure_throttle t(o);
  tp now{};
  for (int i = 0; i < 3; ++i) t.fail("victim", now);
  for (int i = 0; i < 3; ++i) t.fail("recent", now + 1ms);
  for (int i = 0; i < 50; ++i) {
    t.fail("spray" + std::to_string(i), now + 2ms);
    EXPECT_LE(t.size(), 4u);
  }
  EXPECT_EQ(t.admit("victim", now + 2ms), 0) << "the oldest key went first";
}

TEST(FailureThrottle, AHugeCountDoesNotOverflowTheWait) {
  auto o = small();
  o.max_wait_ms = 86'400'000;
  failure_throttle t(o);
  tp now{};
  for (int i = 0; i < 3; ++i) t.fail("a", now);
  std::int64_t last = 0;
  for (int i = 0; i < 200; ++i) last = t.admit("a", now);
  EXPECT_EQ(last, 86'400'000);
}

}  // namespace
}  // namespace hearth::http
