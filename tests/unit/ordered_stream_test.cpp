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

}  // namespace
}  // namespace hearth::actors
