// trace/trace.hpp: traceparent parsing and printing, span parenting, the
// OTLP/HTTP JSON encoding and the exporter's batching.

#include "trace/trace.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <thread>

namespace hearth::trace {
namespace {

TEST(traceparent, round_trips_and_refuses_malformed_values) {
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto c = parse_traceparent(tp);
  ASSERT_TRUE(c);
  EXPECT_EQ(trace_id_hex(*c), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span_id_hex(c->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled());
  EXPECT_EQ(traceparent(*c), tp);
  EXPECT_FALSE(parse_traceparent(""));
  EXPECT_FALSE(parse_traceparent("00-" + std::string(32, '0') + "-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent(tp + "-extra"));  // version 00 is exactly 55 bytes
  EXPECT_TRUE(parse_traceparent("01" + tp.substr(2) + "-future"));
  auto unsampled = parse_traceparent(tp.substr(0, 53) + "00");
  ASSERT_TRUE(unsampled);
  EXPECT_FALSE(unsampled->sampled());
}

TEST(trace_span, is_inert_while_tracing_is_off) {
  ASSERT_FALSE(enabled());
  span s("x", kind::server, {});
  EXPECT_FALSE(s.recording());
  EXPECT_FALSE(s.ctx().valid());
}

TEST(otlp_json, encodes_ids_in_hex_times_as_strings_and_the_resource) {
  span_data d;
  d.ctx = *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  d.parent_span_id = 0x0102030405060708ULL;
  d.name = "POST /api/v1/shop-items";
  d.k = kind::server;
  d.start_ns = 1'700'000'000'123'456'789LL;
  d.end_ns = 1'700'000'000'223'456'789LL;
  d.attributes = {
      {"http.method", std::string("POST")}, {"http.status_code", std::int64_t{201}}, {"ok", true}};
  d.status = 2;
  d.status_message = "boom";
  auto body = boost::json::parse(encode_otlp({d}, "hearth", "node-a"));
  auto& rs = body.at("resourceSpans").as_array().at(0);
  auto& res = rs.at("resource").at("attributes").as_array();
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].at("key"), "service.name");
  EXPECT_EQ(res[0].at("value").at("stringValue"), "hearth");
  EXPECT_EQ(res[1].at("key"), "service.instance.id");
  EXPECT_EQ(res[1].at("value").at("stringValue"), "node-a");
  auto& ss = rs.at("scopeSpans").as_array().at(0);
  EXPECT_EQ(ss.at("scope").at("name"), "hearth");
  auto& s = ss.at("spans").as_array().at(0);
  EXPECT_EQ(s.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s.at("spanId"), "00f067aa0ba902b7");
  EXPECT_EQ(s.at("parentSpanId"), "0102030405060708");
  EXPECT_EQ(s.at("name"), "POST /api/v1/shop-items");
  EXPECT_EQ(s.at("kind"), 2);
  EXPECT_EQ(s.at("startTimeUnixNano"), "1700000000123456789");
  EXPECT_EQ(s.at("endTimeUnixNano"), "1700000000223456789");
  auto& attrs = s.at("attributes").as_array();
  ASSERT_EQ(attrs.size(), 3u);
  EXPECT_EQ(attrs[0].at("value").at("stringValue"), "POST");
  EXPECT_EQ(attrs[1].at("value").at("intValue"), "201");  // int64 as a string (OTLP/JSON)
  EXPECT_EQ(attrs[2].at("value").at("boolValue"), true);
  EXPECT_EQ(s.at("status").at("code"), 2);
  EXPECT_EQ(s.at("status").at("message"), "boom");
  // A root span has no parentSpanId.
  d.parent_span_id = 0;
  auto root = boost::json::parse(encode_otlp({d}, "hearth", ""));
  EXPECT_FALSE(root.at("resourceSpans")
                   .at(0)
                   .at("scopeSpans")
                   .at(0)
                   .at("spans")
                   .at(0)
                   .as_object()
                   .contains("parentSpanId"));
}

TEST(trace_exporter, batches_children_under_their_parent_and_honours_the_sampled_flag) {
  std::mutex m;
  std::vector<std::string> bodies;
  exporter_options o;
  o.node_id = "n1";
  o.flush = std::chrono::milliseconds(20);
  o.post = [&](const std::string& b) {
    std::lock_guard lock(m);
    bodies.push_back(b);
    return true;
  };
  start(o);
  context root_ctx, child_ctx;
  {
    span root("root", kind::server, {});
    ASSERT_TRUE(root.recording());
    root_ctx = root.ctx();
    scope in(root.ctx());
    span child("child", kind::internal, current());
    child_ctx = child.ctx();
    auto unsampled = *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    span not_recorded("n", kind::server, unsampled);
    EXPECT_FALSE(not_recorded.recording());
    EXPECT_TRUE(not_recorded.ctx().valid());  // still propagated
  }
  EXPECT_FALSE(current().valid());
  stop();
  EXPECT_FALSE(enabled());
  ASSERT_FALSE(bodies.empty());
  std::size_t spans = 0;
  for (const auto& b : bodies) {
    auto parsed = boost::json::parse(b);
    for (auto& s : parsed.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array()) {
      ++spans;
      EXPECT_EQ(std::string(s.at("traceId").as_string()), trace_id_hex(root_ctx));
      if (s.at("name") == "child") {
        EXPECT_EQ(std::string(s.at("parentSpanId").as_string()), span_id_hex(root_ctx.span_id));
      }
    }
  }
  EXPECT_EQ(spans, 2u);
  EXPECT_EQ(child_ctx.trace_lo, root_ctx.trace_lo);
  EXPECT_NE(child_ctx.span_id, root_ctx.span_id);
}

TEST(trace_exporter, ratio_zero_records_no_new_trace_but_honours_a_sampled_caller) {
  std::atomic<int> posts{0};
  exporter_options o;
  o.flush = std::chrono::milliseconds(10);
  o.sample_ratio = 0.0;
  o.post = [&](const std::string&) {
    ++posts;
    return true;
  };
  const auto base = exported();
  start(o);
  {
    span root("root", kind::server, {});
    EXPECT_FALSE(root.recording());
    EXPECT_TRUE(root.ctx().valid());
    EXPECT_FALSE(root.ctx().sampled());
    span child("child", kind::internal, root.ctx());  // follows its parent: not recorded
    EXPECT_FALSE(child.recording());
    auto sampled = *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    span from_caller("server", kind::server, sampled);
    EXPECT_TRUE(from_caller.recording());
  }
  stop();                            // sends what is queued
  EXPECT_EQ(exported() - base, 1u);  // only the caller-sampled span
  EXPECT_EQ(posts.load(), 1);
}

}  // namespace
}  // namespace hearth::trace
