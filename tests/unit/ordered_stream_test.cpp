#include "actors/ordered_stream.hpp"

#include <gtest/gtest.h>

namespace hearth::actors {
namespace {

storage::change_event ev(std::int64_t seq) { return {"h", seq, "shop_item", "r", "update", "t"}; }

std::vector<std::int64_t> seqs(const std::vector<storage::change_event>& v) {
  std::vector<std::int64_t> out;
  for (const auto& e : v) out.push_back(e.seq);
  return out;
}

TEST(OrderedStream, DeliversInOrderAndDropsDuplicates) {
  ordered_stream s;
  std::vector<storage::change_event> out;
  s.reset(5, out);
  EXPECT_FALSE(s.offer(ev(6), out));
  EXPECT_FALSE(s.offer(ev(6), out));
  EXPECT_FALSE(s.offer(ev(4), out));
  EXPECT_FALSE(s.offer(ev(7), out));
  EXPECT_EQ(seqs(out), (std::vector<std::int64_t>{6, 7}));
  EXPECT_EQ(s.last(), 7);
}

TEST(OrderedStream, ReportsHoleAndFillsIt) {
  ordered_stream s;
  std::vector<storage::change_event> out;
  s.reset(0, out);
  auto gap = s.offer(ev(3), out);
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->after, 0);
  EXPECT_EQ(gap->before, 3);
  EXPECT_TRUE(out.empty());
  s.offer(ev(2), out);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(s.offer(ev(1), out));
  EXPECT_EQ(seqs(out), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_FALSE(s.waiting());
}

TEST(OrderedStream, BuffersUntilReset) {
  ordered_stream s;
  std::vector<storage::change_event> out;
  EXPECT_FALSE(s.ready());
  s.offer(ev(11), out);
  s.offer(ev(12), out);
  s.offer(ev(9), out);
  EXPECT_TRUE(out.empty());
  s.reset(10, out);  // 9 is older than the start: dropped
  EXPECT_EQ(seqs(out), (std::vector<std::int64_t>{11, 12}));
}

TEST(OrderedStream, SkipGapMovesOn) {
  ordered_stream s;
  std::vector<storage::change_event> out;
  s.reset(1, out);
  s.offer(ev(5), out);
  s.offer(ev(6), out);
  s.skip_gap(out);
  EXPECT_EQ(seqs(out), (std::vector<std::int64_t>{5, 6}));
  EXPECT_FALSE(s.current_gap());
}

// A peer died after committing event 3 but before sending it: nothing is
// buffered, yet the head read from the database reveals the hole.
TEST(OrderedStream, KnownHeadReportsHoleWithNothingBuffered) {
  ordered_stream s;
  std::vector<storage::change_event> out;
  s.reset(2, out);
  EXPECT_FALSE(s.current_gap());
  s.expect(2);  // not ahead: no hole
  EXPECT_FALSE(s.current_gap());
  s.expect(4);
  ASSERT_TRUE(s.current_gap());
  EXPECT_EQ(s.current_gap()->after, 2);
  EXPECT_EQ(s.current_gap()->before, 5);
  EXPECT_TRUE(s.waiting());
  s.expect(3);  // an older head never moves it back
  EXPECT_EQ(s.current_gap()->before, 5);
  auto rest = s.offer(ev(3), out);  // 4 is still missing
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->after, 3);
  EXPECT_EQ(rest->before, 5);
  EXPECT_FALSE(s.offer(ev(4), out));
  EXPECT_EQ(seqs(out), (std::vector<std::int64_t>{3, 4}));
  EXPECT_FALSE(s.current_gap());
  EXPECT_FALSE(s.waiting());
}

TEST(OrderedStream, BufferedEventBeforeKnownHeadNamesTheNearerHole) {
  ordered_stream s;
  std::vector<storage::change_event> out;
  s.reset(0, out);
  s.expect(9);
  s.offer(ev(3), out);
  EXPECT_EQ(s.current_gap()->before, 3);
  s.skip_gap(out);  // 1..2 purged
  EXPECT_EQ(seqs(out), (std::vector<std::int64_t>{3}));
  EXPECT_EQ(s.current_gap()->before, 10);
  s.skip_gap(out);  // 4..9 purged too
  EXPECT_EQ(s.last(), 9);
  EXPECT_FALSE(s.current_gap());
}

}  // namespace
}  // namespace hearth::actors
