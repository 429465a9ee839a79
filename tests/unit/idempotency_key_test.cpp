// The Idempotency-Key header's syntax (http/idempotency_key.hpp), shared by
// api::idempotency_of and the HTTP fuzz harness.
#include "http/idempotency_key.hpp"

#include <gtest/gtest.h>

#include "http/json_input.hpp"

namespace hearth::http {
namespace {

request with(std::vector<std::pair<std::string, std::string>> headers) {
  request r;
  r.method = "POST";
  r.target = "/api/v1/shop/items";
  r.headers = std::move(headers);
  return r;
}

std::string refusal(const request& r) {
  try {
    idempotency_key(r);
  } catch (const input_error& e) {
    return e.what();
  }
  return "<accepted>";
}

TEST(IdempotencyKey, AbsentIsNoKey) {
  EXPECT_EQ(idempotency_key(with({})), std::nullopt);
  EXPECT_EQ(idempotency_key(with({{"idempotency-keys", "x"}})), std::nullopt);
}

TEST(IdempotencyKey, VisibleAsciiFrom1To255BytesIsTheKey) {
  EXPECT_EQ(idempotency_key(with({{"idempotency-key", "!"}})), "!");
  EXPECT_EQ(idempotency_key(with({{"idempotency-key", "a~Z0-_:/\"{}"}})), "a~Z0-_:/\"{}");
  const std::string longest(255, 'k');
  EXPECT_EQ(idempotency_key(with({{"idempotency-key", longest}})), longest);
}

TEST(IdempotencyKey, ABadValueIsRefused) {
  const std::string expected = "Idempotency-Key: must be 1 to 255 visible ASCII characters";
  for (std::string bad :
       {std::string(""), std::string(256, 'k'), std::string("a b"), std::string("a\tb"),
        std::string("a\x7f"), std::string("caf\xc3\xa9"), std::string("a\0b", 3)})
    EXPECT_EQ(refusal(with({{"idempotency-key", bad}})), expected) << bad;
}

TEST(IdempotencyKey, TwoHeadersAreRefusedEvenWhenEqual) {
  EXPECT_EQ(refusal(with({{"idempotency-key", "k"}, {"idempotency-key", "k"}})),
            "Idempotency-Key: must be sent once");
  EXPECT_EQ(refusal(with({{"idempotency-key", "k"}, {"x", "y"}, {"idempotency-key", ""}})),
            "Idempotency-Key: must be sent once");
}

}  // namespace
}  // namespace hearth::http
