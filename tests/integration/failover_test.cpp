// Database primary failover (issue: survive every fault we can cause).
//
// On loopback: a primary and a synchronous streaming standby made with
// pg_basebackup, hearth configured with a libpq host list and
// target_session_attrs=read-write, writers and an SSE subscriber running;
// then kill -9 of every primary process (as if its host died) and
// `pg_ctl promote` of the standby. Checks: writes resume within 5 s of the
// promotion, no acknowledged write is lost, the stream delivers every
// event exactly once in seq order, and the leader is elected again (a new
// term) on the new primary.

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/fixture.hpp"
#include "tests/support/replicated_postgres.hpp"

namespace hearth::testing {
namespace {

using clock_type = std::chrono::steady_clock;

/// Counts the rows of `ids` present in ShopItem on the database at `url`.
std::set<std::string> present_items(const std::string& url, const std::string& household) {
  pqxx::connection conn{url};
  pqxx::read_transaction tx{conn};
  std::set<std::string> out;
  for (const auto& row :
       tx.exec_params("SELECT id::text FROM shop_item WHERE auth_household_id = $1", household)) {
    out.insert(row[0].as<std::string>());
  }
  return out;
}

class failover : public hearth_test {
 protected:
  void SetUp() override {
    pg_ = std::make_unique<replicated_postgres>();
    hearth_ = std::make_unique<hearth_process>(
        std::map<std::string, std::string>{{"HEARTH_DATABASE_URL", pg_->hearth_url()}});
    http_ = std::make_unique<http_client>(port());
  }
  void TearDown() override {
    if (HasFailure() && pg_) std::cerr << pg_->logs() << "\n";
    hearth_test::TearDown();
    pg_.reset();
  }
  std::unique_ptr<replicated_postgres> pg_;
};

/// The term in the node's health answer (0 when absent).
std::int64_t health_term(http_client& http) {
  auto res = http.request("GET", "/api/v1/health");
  if (res.status != 200) return 0;
  try {
    const auto health = first_value(res);
    const auto& c = health.at("cluster").as_object();
    if (c.contains("term") && c.at("term").is_int64()) return c.at("term").as_int64();
  } catch (const std::exception&) {
  }
  return 0;
}

bool health_leading(http_client& http) {
  auto res = http.request("GET", "/api/v1/health");
  if (res.status != 200) return false;
  try {
    const auto health = first_value(res);
    const auto& v = health.at("cluster").as_object();
    return v.contains("leading") && v.at("leading").is_bool() && v.at("leading").as_bool();
  } catch (const std::exception&) {
    return false;
  }
}

TEST_F(failover, a_promoted_standby_takes_over_with_no_acknowledged_write_lost) {
  auto user = new_user("failover");
  const auto household = create_household(user.key, "Failover house");
  ASSERT_TRUE(eventually([&] { return health_leading(http()); }, 15s)) << "no leader at start";
  const auto term_before = health_term(http());
  ASSERT_GT(term_before, 0);

  auto sse = open_sse(user.key);

  // Two writers, each on its own connection, until told to stop (bounded).
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::vector<clock_type::time_point> ack_times;
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  auto writer = [&](int n) {
    http_client client(port());
    for (int i = 0; i < 5000 && !stop.load(); ++i) {
      http_response res;
      try {
        res = client.request_as(user.key, "POST", "/api/v1/shop/items",
                                json::serialize(json::object{
                                    {"authHouseholdID", household},
                                    {"name", "w" + std::to_string(n) + "-" + std::to_string(i)}}));
      } catch (const std::exception&) {
        ++failed;
        continue;
      }
      if (res.status == 201) {
        std::lock_guard lock(mutex);
        acknowledged.insert(str(first_value(res), "id"));
        ack_times.push_back(clock_type::now());
      } else {
        ++failed;
        std::this_thread::sleep_for(20ms);  // pacing of retries, not synchronisation
      }
    }
  };
  std::thread w1(writer, 1), w2(writer, 2);
  auto acked = [&] {
    std::lock_guard lock(mutex);
    return acknowledged.size();
  };
  ASSERT_TRUE(eventually([&] { return acked() >= 40; }, 20s));

  pg_->kill_primary();
  const auto killed_acks = acked();
  pg_->promote_standby();
  const auto promoted_at = clock_type::now();

  // Writes resume within 5 s of the promotion.
  bool resumed = eventually(
      [&] {
        std::lock_guard lock(mutex);
        return std::any_of(ack_times.begin(), ack_times.end(),
                           [&](auto t) { return t > promoted_at; });
      },
      30s);
  ASSERT_TRUE(resumed) << "no write succeeded after the promotion; failed=" << failed;
  clock_type::time_point first_after{};
  {
    std::lock_guard lock(mutex);
    for (auto t : ack_times) {
      if (t > promoted_at && (first_after == clock_type::time_point{} || t < first_after)) {
        first_after = t;
      }
    }
  }
  const auto resume_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(first_after - promoted_at).count();
  EXPECT_LE(resume_ms, 5000) << "writes resumed " << resume_ms << " ms after the promotion";
  ASSERT_TRUE(eventually([&] { return acked() >= killed_acks + 40; }, 20s));
  stop = true;
  w1.join();
  w2.join();

  // No acknowledged write lost: every one is on the new primary.
  const auto present = present_items(pg_->primary_url(), household);
  std::size_t lost = 0;
  for (const auto& id : acknowledged) lost += present.count(id) == 0 ? 1 : 0;
  EXPECT_EQ(lost, 0u) << "of " << acknowledged.size() << " acknowledged writes";

  // The stream: every created row exactly once, seq strictly increasing.
  // A stream the server ends is resumed with Last-Event-ID, as EventSource does.
  std::map<std::string, int> seen;
  std::int64_t last_seq = 0;
  std::string last_id;
  int resyncs = 0, reconnects = 0;
  const auto deadline = clock_type::now() + 30s;
  while (clock_type::now() < deadline) {
    bool all = std::all_of(present.begin(), present.end(),
                           [&](const std::string& id) { return seen.count(id) != 0; });
    if (all) break;
    auto ev = sse->next(500ms);
    if (!ev) {
      if (sse->closed()) {
        ++reconnects;
        ASSERT_LE(reconnects, 20);
        std::map<std::string, std::string> headers;
        if (!last_id.empty()) headers["Last-Event-ID"] = last_id;
        try {
          sse = open_sse(user.key, headers);
        } catch (const std::exception&) {
          std::this_thread::sleep_for(100ms);  // the server refused: retry pacing
        }
      }
      continue;
    }
    if (!ev->id.empty()) last_id = ev->id;
    if (ev->event == "resync") ++resyncs;
    if (ev->event != "change") continue;
    auto data = change_data(*ev);
    if (str(data, "authHouseholdID") != household || str(data, "table") != "shop_item") continue;
    auto seq = data.at("seq").to_number<std::int64_t>();
    EXPECT_GT(seq, last_seq) << "events out of seq order";
    last_seq = seq;
    if (str(data, "operation") == "create") ++seen[str(data, "id")];
  }
  EXPECT_EQ(resyncs, 0) << "a resync means events were not all delivered";
  std::size_t missing = 0, duplicated = 0;
  for (const auto& id : present) missing += seen.count(id) == 0 ? 1 : 0;
  for (const auto& [id, count] : seen) duplicated += count > 1 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "of " << present.size() << " rows, none missing from the stream";
  EXPECT_EQ(duplicated, 0u);

  // The leader is elected again, in a newer term, on the new primary.
  EXPECT_TRUE(
      eventually([&] { return health_leading(http()) && health_term(http()) > term_before; }, 20s))
      << "term before " << term_before << ", now " << health_term(http());

  std::cerr << "failover: " << acknowledged.size() << " writes acknowledged (" << killed_acks
            << " before the kill), " << failed << " refused or failed, writes resumed " << resume_ms
            << " ms after the promotion, " << reconnects << " stream reconnects\n";
}

}  // namespace
}  // namespace hearth::testing
