// Fuzzes the SSE cursor, the Last-Event-ID a client sends back on reconnect
// (http/sse.hpp decode_cursor, api/sse_api.cpp), and the stream start
// planned from it (actors/cursor.hpp plan_stream_start).
//
// Invariants: a decoded cursor maps canonical lower-case household UUIDs to
// sequence numbers >= 0 and survives encode → decode unchanged; the plan has
// one start per household head, never starts after the head, and resumes
// from the cursor exactly when it is within the replay window.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "actors/cursor.hpp"
#include "check.hpp"
#include "http/json_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hearth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = actors::decode_cursor(text);
  if (!c) return 0;
  for (const auto& [household, seq] : *c) {
    FUZZ_CHECK(http::is_uuid(household));
    for (char ch : household) FUZZ_CHECK(!(ch >= 'A' && ch <= 'F'));
    FUZZ_CHECK(seq >= 0);
  }
  auto again = actors::decode_cursor(actors::encode_cursor(*c));
  FUZZ_CHECK(again && *again == *c);

  // The heads: the cursor's households, some ahead and some behind it, plus
  // one it does not name.
  actors::cursor heads;
  int i = 0;
  for (const auto& [household, seq] : *c) {
    std::int64_t head = seq;
    switch (i++ % 3) {
      case 0:
        head = seq > 5 ? seq - 5 : 0;
        break;
      case 1:
        head = seq < INT64_MAX - 2000 ? seq + 1500 : seq;
        break;
      default:
        break;
    }
    heads[household] = head;
  }
  heads["ffffffff-ffff-ffff-ffff-ffffffffffff"] = 7;
  constexpr std::int64_t window = 1000;
  auto plan = actors::plan_stream_start(heads, c, window);
  FUZZ_CHECK(plan.size() == heads.size());
  for (const auto& s : plan) {
    auto head = heads.at(s.household_id);
    FUZZ_CHECK(s.seq <= head);
    auto it = c->find(s.household_id);
    if (it == c->end()) {
      FUZZ_CHECK(!s.resync && s.seq == head);
    } else if (it->second <= head && head - it->second <= window) {
      FUZZ_CHECK(!s.resync && s.seq == it->second);
    } else {
      FUZZ_CHECK(s.resync && s.seq == head);
    }
  }
  return 0;
}
