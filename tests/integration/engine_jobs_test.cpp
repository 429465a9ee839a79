// The engine's cron jobs as operators see them (GET /api/v1/admin/cron) and
// its housekeeping work: the outbox purge beyond the SSE replay window and
// the daily rollup, run against the real database.

#include <pqxx/pqxx>
#include <thread>

#include "domain/tables.hpp"
#include "engine/store.hpp"
#include "storage/housekeeping.hpp"
#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

class engine_jobs : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    return {{"HEARTH_UPTIME_CHECK_SCHEDULE", "every 1s"}, {"HEARTH_SSE_REPLAY_WINDOW", "10"}};
  }

  json::object job(const std::string& name) {
    auto res = http().request("GET", "/api/v1/admin/cron");
    require_status(res, 200, "GET /api/v1/admin/cron");
    auto body = check_envelope(res, 200, "CronJob");
    for (const auto& v : body.at("dataValue").as_array())
      if (str(v.as_object(), "name") == name) return v.as_object();
    throw std::runtime_error("no cron job " + name + ": " + res.body);
  }
};

TEST_F(engine_jobs, admin_cron_lists_each_job_with_its_next_and_last_run) {
  auto purge = job("engine.purge-change-events");
  EXPECT_EQ(str(purge, "schedule"), "every 1h");
  EXPECT_EQ(str(purge, "nextRun").substr(14), "00:00Z") << json::serialize(purge);
  auto rollup = job("engine.daily-rollup");
  EXPECT_EQ(str(rollup, "schedule"), "5 0 * * *");
  EXPECT_EQ(str(rollup, "nextRun").substr(10), "T00:05:00Z");

  // A job every second: its last run appears, finished, with a duration.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  json::object check;
  for (;;) {
    check = job("uptime.check-all");
    const auto& last = check.at("lastRun");
    if (last.is_object() && last.as_object().at("finishedAt").is_string()) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "uptime.check-all never finished a run: " << json::serialize(check);
    std::this_thread::sleep_for(50ms);
  }
  const auto& last = check.at("lastRun").as_object();
  EXPECT_EQ(str(check, "schedule"), "every 1s");
  EXPECT_GE(last.at("durationMs").to_number<std::int64_t>(), 0);
  EXPECT_FALSE(str(last, "outcome").empty());
  EXPECT_FALSE(str(last, "nodeID").empty());
  EXPECT_GT(str(check, "nextRun"), str(last, "tick"));
}

TEST_F(engine_jobs, purge_keeps_the_replay_window_and_rollup_counts_rows_and_changes) {
  auto user = new_user("jobs");
  const auto hh = create_household(user.key, "Home");
  const auto other = create_household(user.key, "Cabin");
  for (int i = 0; i < 25; ++i) create_item(user.key, hh, "item " + std::to_string(i));
  create_item(user.key, other, "wood");

  pqxx::connection conn{database_url_};
  EXPECT_EQ(storage::purge_change_events(conn, 10), 15);  // 25 - 10 in the first household
  EXPECT_EQ(storage::purge_change_events(conn, 10), 0);   // idempotent
  {
    pqxx::read_transaction tx{conn};
    auto r = tx.exec_params1(
        "SELECT count(*), min(seq), max(seq) FROM change_event WHERE auth_household_id = $1", hh);
    EXPECT_EQ(r[0].as<int>(), 10);
    EXPECT_EQ(r[1].as<int>(), 16);
    EXPECT_EQ(r[2].as<int>(), 25);
  }

  const std::string today = [&] {
    pqxx::read_transaction tx{conn};
    return tx.exec1("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')")[0].as<std::string>();
  }();
  EXPECT_GT(storage::rollup_day(conn, today, domain::household_tables()), 0);
  pqxx::read_transaction tx{conn};
  auto r = tx.exec_params1(
      "SELECT row_count, changes FROM household_daily_rollup "
      "WHERE day = $1::date AND auth_household_id = $2 AND table_name = 'shop_item'",
      today, hh);
  EXPECT_EQ(r[0].as<int>(), 25);  // rows now
  EXPECT_EQ(r[1].as<int>(), 10);  // changes still in the outbox for that day
  auto o = tx.exec_params1(
      "SELECT row_count FROM household_daily_rollup "
      "WHERE day = $1::date AND auth_household_id = $2 AND table_name = 'shop_item'",
      today, other);
  EXPECT_EQ(o[0].as<int>(), 1);
}

TEST_F(engine_jobs, purge_drops_old_messages_once_every_delivery_is_done) {
  // The new leader runs the purge's previous and current ticks at once (cron
  // catch-up, on the handler threads): let both finish first, or one of them
  // may purge the rows below before this test's own call does (seen in a
  // clean-clone CI run).
  {
    pqxx::connection watch{database_url_};
    const auto hour_tick = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::floor<std::chrono::hours>(
                                   std::chrono::system_clock::now().time_since_epoch()))
                               .count();
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    for (;;) {
      pqxx::read_transaction tx{watch};
      auto r = tx.exec_params1(
          "SELECT count(*) FILTER (WHERE tick >= $1), count(*) FILTER (WHERE finished_at IS NULL) "
          "FROM scheduler_run WHERE task = 'cron:engine.purge-pubsub'",
          hour_tick);
      if (r[0].as<int>() > 0 && r[1].as<int>() == 0) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the leader never finished the purge's current tick";
      tx.commit();
      std::this_thread::sleep_for(20ms);
    }
  }
  pqxx::connection conn{database_url_};
  {
    pqxx::work tx{conn};
    // old + delivered, old + pending, new + delivered
    tx.exec(
        "INSERT INTO pubsub_message (id, topic, payload, published_at) VALUES "
        "(9001, 't', '{}', now() - interval '8 days'), (9002, 't', '{}', now() - interval '8 "
        "days'), (9003, 't', '{}', now())");
    tx.exec(
        "INSERT INTO pubsub_delivery (subscription, message_id, delivered_at) VALUES "
        "('s', 9001, now()), ('s', 9002, NULL), ('s', 9003, now())");
    tx.commit();
  }
  EXPECT_EQ(engine::purge_delivered_messages(conn, std::chrono::hours{24 * 7}), 1);
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec1("SELECT string_agg(id::text, ',' ORDER BY id) FROM pubsub_message "
                     "WHERE id > 9000")[0]
                .as<std::string>(),
            "9002,9003");
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM pubsub_delivery WHERE message_id = 9001")[0].as<int>(),
            0);
  EXPECT_NE(job("engine.purge-pubsub").at("nextRun").as_string().size(), 0u);
}

}  // namespace
}  // namespace hearth::testing
