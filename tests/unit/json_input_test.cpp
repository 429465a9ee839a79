#include "http/json_input.hpp"

#include <gtest/gtest.h>

namespace hearth::http {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const input_error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(JsonInput, ReadsTypedFields) {
  json_object_reader in(R"({"name":"milk","done":true,"note":null})");
  EXPECT_EQ(in.string("name", true, 1, 10), "milk");
  EXPECT_EQ(in.boolean("done", true), true);
  EXPECT_TRUE(in.is_null("note"));
  EXPECT_EQ(in.string("note", false, 0, 0, true), std::nullopt);
  EXPECT_EQ(in.string("absent", false, 0, 0), std::nullopt);
  EXPECT_NO_THROW(in.reject_unknown());
}

TEST(JsonInput, ANulCharacterIsRefusedNamingTheField) {
  auto what = message_of([] {
    json_object_reader in(R"({"name":"a\u0000b"})");
    in.string("name", true, 1, 100);
  });
  EXPECT_NE(what.find("name"), std::string::npos) << what;
  EXPECT_NE(what.find("NUL"), std::string::npos) << what;
}

TEST(JsonInput, MalformedAndNonObjectBodies) {
  EXPECT_NE(message_of([] { json_object_reader in("{\"a\":"); }).find("malformed JSON"),
            std::string::npos);
  EXPECT_NE(message_of([] { json_object_reader in("[1]"); }).find("JSON object"),
            std::string::npos);
  EXPECT_NE(message_of([] { json_object_reader in(""); }).find("required"), std::string::npos);
  EXPECT_NE(message_of([] { json_object_reader in("{} {}"); }).find("malformed"),
            std::string::npos);
  EXPECT_NE(message_of([] { json_object_reader in("{\"a\":\"\xff\"}"); }).find("malformed"),
            std::string::npos);
}

TEST(JsonInput, ErrorsNameTheField) {
  EXPECT_EQ(message_of([] {
              json_object_reader in(R"({"name":5})");
              in.string("name", true, 1, 10);
            }),
            "name: must be a string");
  EXPECT_EQ(message_of([] {
              json_object_reader in(R"({})");
              in.string("name", true, 1, 10);
            }),
            "name: required");
  EXPECT_EQ(message_of([] {
              json_object_reader in(R"({"done":"yes"})");
              in.boolean("done", true);
            }),
            "done: must be true or false");
  EXPECT_EQ(message_of([] {
              json_object_reader in(R"({"name":""})");
              in.string("name", true, 1, 10);
            }),
            "name: must not be empty");
  EXPECT_EQ(message_of([] {
              json_object_reader in(R"({"name":"abcdefghijk"})");
              in.string("name", true, 1, 10);
            }),
            "name: must be at most 10 bytes");
  EXPECT_EQ(message_of([] {
              json_object_reader in(R"({"name":null})");
              in.string("name", true, 1, 10);
            }),
            "name: must be a string, not null");
}

TEST(JsonInput, UnknownAndDuplicateFieldsAreRejected) {
  EXPECT_EQ(message_of([] {
              json_object_reader in(R"({"name":"a","extra":1})");
              in.string("name", true, 1, 10);
              in.reject_unknown();
            }),
            "extra: unknown field");
  EXPECT_EQ(message_of([] { json_object_reader in(R"({"name":"a","name":"b"})"); }),
            "name: duplicate field");
}

TEST(JsonInput, DatesAndUuids) {
  EXPECT_TRUE(is_iso_date("2026-02-28"));
  EXPECT_TRUE(is_iso_date("2024-02-29"));
  EXPECT_FALSE(is_iso_date("2026-02-29"));
  EXPECT_FALSE(is_iso_date("2026-13-01"));
  EXPECT_FALSE(is_iso_date("2026-1-01"));
  EXPECT_FALSE(is_iso_date("20260101"));
  EXPECT_TRUE(is_uuid("0ea0c81e-f152-47da-9b5a-4dfebc7b6066"));
  EXPECT_FALSE(is_uuid("0ea0c81e-f152-47da-9b5a-4dfebc7b606"));
  EXPECT_FALSE(is_uuid("0ea0c81e_f152-47da-9b5a-4dfebc7b6066"));
  EXPECT_FALSE(is_uuid("zea0c81e-f152-47da-9b5a-4dfebc7b6066"));
}

}  // namespace
}  // namespace hearth::http
