// Tracing end to end: two real nodes export their spans as OTLP/HTTP JSON
// to a local receiver (tests/support/fake_http_server); one write on node-a
// carrying a known traceparent must produce one span tree, from its request
// on node-a to its SSE delivery on node-b. Every wait polls with a deadline.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>
#include <sstream>

#include "http/client.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/fake_http_server.hpp"
#include "trace/trace.hpp"

namespace hearth::testing {
namespace {

// One exported span, with the node (resource service.instance.id) that sent it.
struct seen_span {
  std::string trace_id, span_id, parent_id, name, node;
  std::int64_t kind = 0;
  std::map<std::string, std::string> attributes;  // values as text
  std::string start_ns, end_ns;
};

std::string text_of(const json::value& v) {
  const auto& o = v.as_object();
  if (auto* s = o.if_contains("stringValue")) return std::string(s->as_string());
  if (auto* s = o.if_contains("intValue")) return std::string(s->as_string());
  if (auto* s = o.if_contains("boolValue")) return s->as_bool() ? "true" : "false";
  return json::serialize(v);
}

// Every span the receiver got, from POSTs to /v1/traces.
std::vector<seen_span> received_spans(const fake_http_server& receiver) {
  std::vector<seen_span> out;
  for (const auto& r : receiver.requests()) {
    if (r.method != "POST" || r.target != "/v1/traces") continue;
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.header("traceparent"), "") << "the exporter's own POSTs must not be traced";
    auto body = json::parse(r.body);
    for (const auto& rs : body.at("resourceSpans").as_array()) {
      std::string node;
      for (const auto& a : rs.at("resource").at("attributes").as_array())
        if (a.at("key") == "service.instance.id") node = text_of(a.at("value"));
      for (const auto& ss : rs.at("scopeSpans").as_array())
        for (const auto& sp : ss.at("spans").as_array()) {
          seen_span s;
          s.trace_id = str(sp.at("traceId"));
          s.span_id = str(sp.at("spanId"));
          if (auto* p = sp.as_object().if_contains("parentSpanId")) s.parent_id = str(*p);
          s.name = str(sp.at("name"));
          s.kind = sp.at("kind").as_int64();
          s.start_ns = str(sp.at("startTimeUnixNano"));
          s.end_ns = str(sp.at("endTimeUnixNano"));
          for (const auto& a : sp.at("attributes").as_array())
            s.attributes[str(a.at("key"))] = text_of(a.at("value"));
          s.node = node;
          out.push_back(std::move(s));
        }
    }
  }
  return out;
}

std::string attr(const seen_span& s, const std::string& key) {
  auto it = s.attributes.find(key);
  return it == s.attributes.end() ? "" : it->second;
}

std::string describe(const std::vector<seen_span>& spans) {
  std::ostringstream o;
  for (const auto& s : spans)
    o << "  " << s.node << " " << s.name << " kind " << s.kind << " span " << s.span_id
      << " parent " << s.parent_id << "\n";
  return o.str();
}

class TracingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_options o;
    o.nodes = 2;
    o.extra_env = {{"HEARTH_OTLP_ENDPOINT", receiver_.url("/")}, {"HEARTH_OTLP_FLUSH_MS", "50"}};
    cluster_ = std::make_unique<test_cluster>(o);
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->log_tails(6000);
    cluster_.reset();
  }

  fake_http_server receiver_{200};
  std::unique_ptr<test_cluster> cluster_;
};

TEST_F(TracingTest, one_write_is_one_span_tree_from_its_request_on_a_to_its_sse_write_on_b) {
  ASSERT_TRUE(cluster_->wait_linked(20s)) << cluster_->describe();
  http_client a(cluster_->http_port("node-a"));
  const auto key = new_user_on(a, "trace").key;
  const auto household = create_household_on(a, key, "Traced");

  sse_recorder on_b(cluster_->http_port("node-b"), key);
  // A first write seen on node-b's stream: from then on its household
  // session there is loaded and delivers live (an event committed while the
  // session still reads its head is replayed from the outbox, untraced).
  require_status(a.request_as(key, "POST", "/api/v1/shop/items",
                              json::serialize(json::object{{"authHouseholdID", household},
                                                           {"name", "warm-up"}})),
                 201, "warm-up create");
  ASSERT_TRUE(on_b.wait_changes(1, 10s)) << "node-b's stream saw no warm-up event";

  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller_span = "00f067aa0ba902b7";
  auto res = a.request(
      "POST", "/api/v1/shop/items",
      json::serialize(json::object{{"authHouseholdID", household}, {"name", "traced item"}}),
      {{"Authorization", "Bearer " + key},
       {"traceparent", "00-" + trace_id + "-" + caller_span + "-01"}});
  require_status(res, 201, "traced create");
  // The response names the server span, in the caller's trace.
  ASSERT_TRUE(res.headers.count("traceparent")) << "no traceparent in the response";
  const auto answered = res.headers.at("traceparent");
  EXPECT_EQ(answered.substr(0, 36), "00-" + trace_id + "-");
  EXPECT_EQ(answered.substr(52), "-01");
  ASSERT_TRUE(on_b.wait_changes(2, 10s)) << "node-b's stream saw no traced event";

  // Poll the receiver until the whole tree arrived (both nodes flush every 50 ms).
  const std::set<std::string> wanted = {
      "POST /api/v1/shop/items", "pool.job",         "db.commit",
      "notifier.publish",        "notifier.forward", "notifier.forward.receive",
      "household_session.event", "sse.write"};
  std::vector<seen_span> spans;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  for (;;) {
    spans.clear();
    for (auto& s : received_spans(receiver_))
      if (s.trace_id == trace_id) spans.push_back(std::move(s));
    std::set<std::string> names;
    for (const auto& s : spans) names.insert(s.name);
    bool all = std::includes(names.begin(), names.end(), wanted.begin(), wanted.end());
    if (all || std::chrono::steady_clock::now() > deadline) break;
    receiver_.wait_requests(receiver_.request_count() + 1, 200ms);
  }

  auto find = [&](const std::string& name, const std::string& node,
                  const std::string& parent = "") -> const seen_span* {
    for (const auto& s : spans)
      if (s.name == name && s.node == node && (parent.empty() || s.parent_id == parent)) return &s;
    return nullptr;
  };
  const auto tree = describe(spans);
  auto* server = find("POST /api/v1/shop/items", "node-a", caller_span);
  ASSERT_TRUE(server) << "no server span on node-a under the caller's span:\n" << tree;
  EXPECT_EQ(server->kind, 2);
  EXPECT_EQ(attr(*server, "http.status_code"), "201");
  EXPECT_EQ(attr(*server, "http.route"), "/api/v1/shop/items");
  EXPECT_EQ(attr(*server, "http.method"), "POST");
  EXPECT_EQ(attr(*server, "hearth.request_id"), res.headers["x-request-id"]);
  EXPECT_EQ(answered.substr(36, 16), server->span_id);

  // The creation's pool job is the one with the commit under it.
  const seen_span* job = nullptr;
  const seen_span* commit = nullptr;
  for (const auto& s : spans)
    if (s.name == "pool.job" && s.node == "node-a" && s.parent_id == server->span_id)
      if (auto* c = find("db.commit", "node-a", s.span_id)) job = &s, commit = c;
  ASSERT_TRUE(job && commit) << "no pool.job with a db.commit under the server span:\n" << tree;
  EXPECT_EQ(attr(*commit, "hearth.batch_size").empty(), false);

  auto* publish = find("notifier.publish", "node-a", job->span_id);
  ASSERT_TRUE(publish) << "no notifier.publish under the pool job:\n" << tree;
  auto* forward = find("notifier.forward", "node-a", publish->span_id);
  ASSERT_TRUE(forward) << "no forward (producer) span on node-a:\n" << tree;
  EXPECT_EQ(forward->kind, 4);
  EXPECT_EQ(attr(*forward, "hearth.peer"), "node-b");
  auto* receive = find("notifier.forward.receive", "node-b", forward->span_id);
  ASSERT_TRUE(receive) << "no consumer span on node-b under node-a's producer:\n" << tree;
  EXPECT_EQ(receive->kind, 5);
  auto* session = find("household_session.event", "node-b", receive->span_id);
  ASSERT_TRUE(session) << "no household session span on node-b:\n" << tree;
  EXPECT_EQ(attr(*session, "hearth.household_id"), household);
  auto* write = find("sse.write", "node-b", session->span_id);
  ASSERT_TRUE(write) << "no sse.write span on node-b:\n" << tree;
  EXPECT_EQ(attr(*write, "hearth.streams"), "1");
  EXPECT_EQ(attr(*write, "hearth.seq"), std::to_string(on_b.changes().back().seq));
  for (const auto& s : spans) {
    EXPECT_EQ(s.trace_id.size(), 32u);
    EXPECT_EQ(s.span_id.size(), 16u);
    EXPECT_LE(std::stoll(s.start_ns), std::stoll(s.end_ns)) << s.name;
  }
  // node-a has no stream of the household: no session or write span there.
  EXPECT_FALSE(find("sse.write", "node-a")) << tree;
}

TEST_F(TracingTest, the_dropped_spans_metric_is_exported) {
  http_client a(cluster_->http_port("node-a"));
  auto m = a.request("GET", "/metrics");
  require_status(m, 200, "metrics");
  EXPECT_NE(m.body.find("hearth_trace_spans_dropped_total "), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("hearth_trace_spans_exported_total "), std::string::npos);
  // Requests to node-a reach the receiver as server spans with their route.
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& s : received_spans(receiver_))
          if (s.node == "node-a" && s.name == "GET /metrics") return true;
        return false;
      },
      10s));
}

// In process: http::fetch inside a span sends a traceparent naming its own
// client span, a child of the current span, and exports that span.
TEST(tracing_client, fetch_sends_traceparent_and_records_a_client_span) {
  fake_http_server site(204);
  std::mutex m;
  std::vector<std::string> bodies;
  trace::exporter_options o;
  o.node_id = "in-process";
  o.flush = 20ms;
  o.post = [&](const std::string& b) {
    std::lock_guard lock(m);
    bodies.push_back(b);
    return true;
  };
  trace::start(o);
  trace::context parent;
  http::fetch_result got;
  {
    trace::span outer("outer", trace::kind::internal, {});
    parent = outer.ctx();
    trace::scope in(outer.ctx());
    http::fetch_request r;
    r.source = http::url_source::operator_config;
    r.url = site.url("/probe?token=secret");
    got = http::fetch(r);
  }
  trace::stop();
  ASSERT_TRUE(got.ok) << got.error;
  ASSERT_EQ(site.request_count(), 1u);
  auto sent = trace::parse_traceparent(site.requests()[0].header("traceparent"));
  ASSERT_TRUE(sent) << "no valid traceparent sent: " << site.requests()[0].header("traceparent");
  EXPECT_EQ(trace::trace_id_hex(*sent), trace::trace_id_hex(parent));
  EXPECT_NE(sent->span_id, parent.span_id);
  bool found = false;
  for (const auto& b : bodies) {
    auto v = json::parse(b);
    for (const auto& sp : v.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array())
      if (str(sp.at("name")) == "HTTP GET") {
        found = true;
        EXPECT_EQ(str(sp.at("spanId")), trace::span_id_hex(sent->span_id));
        EXPECT_EQ(str(sp.at("parentSpanId")), trace::span_id_hex(parent.span_id));
        EXPECT_EQ(sp.at("kind").as_int64(), 3);
        for (const auto& a : sp.at("attributes").as_array()) {
          if (str(a.at("key")) == "http.url") {  // the query (a token) is left out
            EXPECT_EQ(text_of(a.at("value")), site.url("/probe"));
          }
          if (str(a.at("key")) == "http.status_code") {
            EXPECT_EQ(text_of(a.at("value")), "204");
          }
        }
      }
  }
  EXPECT_TRUE(found) << "no client span exported";
}

}  // namespace
}  // namespace hearth::testing
