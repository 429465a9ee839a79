#include "actors/cursor.hpp"

#include <gtest/gtest.h>

namespace hearth::actors {
namespace {

TEST(Cursor, RoundTrips) {
  cursor c{{"0ea0c81e-f152-47da-9b5a-4dfebc7b6066", 42},
           {"6f9dfbb3-ed66-44e3-aee7-eedc01375967", 0},
           {"ffffffff-ffff-ffff-ffff-ffffffffffff", (std::int64_t{1} << 62) + 7}};
  auto text = encode_cursor(c);
  EXPECT_EQ(text.size(), 96u);  // 72 bytes in base64url without padding
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
  auto back = decode_cursor(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, c);
}

TEST(Cursor, RejectsGarbage) {
  EXPECT_FALSE(decode_cursor(""));
  EXPECT_FALSE(decode_cursor("not a cursor!"));
  EXPECT_FALSE(decode_cursor("AAAA"));  // 3 bytes: not a multiple of 24
  // A negative sequence number cannot come from the server.
  std::string neg = encode_cursor({{"0ea0c81e-f152-47da-9b5a-4dfebc7b6066", -1}});
  EXPECT_FALSE(decode_cursor(neg));
}

TEST(Cursor, EmptyCursorEncodesEmpty) { EXPECT_EQ(encode_cursor({}), ""); }

}  // namespace
}  // namespace hearth::actors

namespace hearth::actors {
namespace {

TEST(StreamStart, FreshStreamStartsAtTheHeads) {
  auto start = plan_stream_start({{"a", 5}, {"b", 0}}, std::nullopt, 10);
  ASSERT_EQ(start.size(), 2u);
  EXPECT_EQ(start[0].household_id, "a");
  EXPECT_EQ(start[0].seq, 5);
  EXPECT_FALSE(start[0].resync);
  EXPECT_EQ(start[1].seq, 0);
}

TEST(StreamStart, ResumeWithinWindowStartsAtCursor) {
  auto start = plan_stream_start({{"a", 15}, {"b", 3}}, cursor{{"a", 5}, {"b", 3}}, 10);
  EXPECT_EQ(start[0].seq, 5);
  EXPECT_FALSE(start[0].resync);
  EXPECT_EQ(start[1].seq, 3);
}

TEST(StreamStart, BeyondWindowOrAheadResyncs) {
  auto start = plan_stream_start({{"a", 16}, {"b", 3}, {"c", 7}}, cursor{{"a", 5}, {"b", 9}}, 10);
  EXPECT_TRUE(start[0].resync);  // 11 events missed > window 10
  EXPECT_EQ(start[0].seq, 16);
  EXPECT_TRUE(start[1].resync);  // cursor ahead of the database
  EXPECT_EQ(start[1].seq, 3);
  EXPECT_FALSE(start[2].resync);  // not in the cursor: joined since, starts now
  EXPECT_EQ(start[2].seq, 7);
}

}  // namespace
}  // namespace hearth::actors
