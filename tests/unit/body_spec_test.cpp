// A JSON body declared once (http/body_spec.hpp): what read() accepts and
// refuses, and that the OpenAPI schema says the same limits (the sign-up
// route's schema once lacked the validator's maxLength).

#include "http/body_spec.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <functional>

#include "api/bodies.hpp"
#include "http/json_input.hpp"

namespace hearth::http {
namespace {

std::string refusal(const body_spec& spec, const std::string& body) {
  try {
    spec.read(body);
  } catch (const input_error& e) {
    return e.what();
  }
  return "";
}

TEST(body_spec, reads_each_kind_and_names_what_it_refuses) {
  using kind = field_spec::kind;
  body_spec spec{{{"name", kind::text, true, 1, 5, {}},
                  {"email", kind::email, false, 3, 254, {}},
                  {"done", kind::boolean, false, 0, 0, {}},
                  {"level", kind::one_of, false, 1, 0, {"a", "b"}}}};
  auto in = spec.read(R"({"name":"milk","email":"x@y","done":true,"level":"b"})");
  EXPECT_EQ(in.at("name"), "milk");
  EXPECT_EQ(in.text("email"), "x@y");
  EXPECT_EQ(in.flag("done"), true);
  EXPECT_EQ(in.text("level"), "b");
  EXPECT_FALSE(spec.read(R"({"name":"x"})").text("email")) << "an optional field left out";
  EXPECT_EQ(refusal(spec, "{}"), "name: required");
  EXPECT_EQ(refusal(spec, R"({"name":""})"), "name: must not be empty");
  EXPECT_EQ(refusal(spec, R"({"name":"toolong"})"), "name: must be at most 5 bytes");
  EXPECT_EQ(refusal(spec, R"({"name":"x","email":"no-at"})"), "email: not an e-mail address");
  EXPECT_EQ(refusal(spec, R"({"name":"x","level":"c"})"), "level: must be one of a, b");
  EXPECT_EQ(refusal(spec, R"({"name":"x","done":"yes"})").rfind("done:", 0), 0u);
  EXPECT_EQ(refusal(spec, R"({"name":"x","colour":1})"), "colour: unknown field");

  body_spec either{{{"a", kind::text, false, 1, 0, {}}, {"b", kind::text, false, 1, 0, {}}}, 1};
  EXPECT_EQ(refusal(either, "{}"), "request body: one of a, b required");
  EXPECT_EQ(refusal(either, R"({"b":"x"})"), "");
}

TEST(body_spec, the_schema_states_the_validators_limits) {
  auto schema = boost::json::parse(api::bodies::signup.schema()).as_object();
  EXPECT_FALSE(schema.at("additionalProperties").as_bool());
  const auto& props = schema.at("properties").as_object();
  EXPECT_EQ(props.at("password").as_object().at("minLength").as_int64(), 8);
  EXPECT_EQ(props.at("password").as_object().at("maxLength").as_int64(), 1024);
  EXPECT_EQ(props.at("name").as_object().at("maxLength").as_int64(), 200);
  EXPECT_EQ(props.at("emailAddress").as_object().at("format").as_string(), "email");
  EXPECT_EQ(schema.at("required").as_array().size(), 3u);
  // And the validator keeps them: 1025 bytes of password is refused.
  EXPECT_EQ(refusal(api::bodies::signup, R"({"emailAddress":"a@b","password":")" +
                                             std::string(1025, 'p') + R"(","name":"n"})"),
            "password: must be at most 1024 bytes");
  auto update = boost::json::parse(api::bodies::update_household.schema()).as_object();
  EXPECT_EQ(update.at("minProperties").as_int64(), 1);
  auto role = boost::json::parse(api::bodies::set_role.schema()).as_object();
  EXPECT_EQ(
      role.at("properties").as_object().at("permissions").as_object().at("enum").as_array().size(),
      3u);
}

}  // namespace
}  // namespace hearth::http
