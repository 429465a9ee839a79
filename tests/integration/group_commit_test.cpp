// Group commit of writes (storage/group_commit.hpp): writes that arrive
// together commit in one transaction, against the real binary and a real
// PostgreSQL (group_commit_batch_test.cpp drives single batches).

#include <csignal>
#include <pqxx/pqxx>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

class group_commit : public hearth_test {
 protected:
  // Counter `name` from /metrics (operator routes are open in tests).
  double metric(const std::string& name) {
    auto res = http().request("GET", "/metrics");
    const auto at = res.body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(res.body.substr(at + name.size() + 2));
  }
};

std::string event_body(const std::string& household, int i, bool bad) {
  return json::serialize(
      json::object{{"authHouseholdID", household},
                   {"name", "e" + std::to_string(i)},
                   {"startsAt", "2026-05-01T10:00:00Z"},
                   // A bad one ends before it starts: the table's CHECK refuses it.
                   {"endsAt", bad ? "2026-05-01T09:00:00Z" : "2026-05-01T11:00:00Z"}});
}

TEST_F(group_commit, a_failing_write_in_a_batch_fails_only_that_request) {
  auto user = new_user("batch");
  const auto hh = create_household(user.key, "Home");
  constexpr int writers = 8;
  constexpr int per_writer = 12;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(writers);
  std::vector<int> created(writers, 0), refused(writers, 0);
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        http_client client(port());
        for (int i = 0; i < per_writer; ++i) {
          const bool bad = (w * per_writer + i) % 5 == 0;
          auto res = client.request_as(user.key, "POST", "/api/v1/calendar/events",
                                       event_body(hh, w * per_writer + i, bad));
          if (bad) {
            if (res.status != 400 || message_of(res).find("endsAt") == std::string::npos)
              errors[w] += "bad write answered " + std::to_string(res.status) + ": " + res.body;
            ++refused[w];
          } else {
            if (res.status != 201)
              errors[w] += "good write answered " + std::to_string(res.status) + ": " + res.body;
            ++created[w];
          }
        }
      } catch (const std::exception& e) {
        errors[w] += e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  int good = 0;
  for (int w = 0; w < writers; ++w) {
    EXPECT_TRUE(errors[w].empty()) << "writer " << w << ": " << errors[w];
    good += created[w];
  }
  pqxx::connection db{database_url_};
  pqxx::read_transaction tx{db};
  EXPECT_EQ(
      tx.exec_params1("SELECT count(*) FROM calendar_event WHERE auth_household_id = $1", hh)[0]
          .as<int>(),
      good);
  EXPECT_EQ(tx.exec_params1("SELECT event_seq FROM auth_household WHERE id = $1", hh)[0].as<int>(),
            good)
      << "a refused write took a seq";
  EXPECT_EQ(seq_gaps(database_url_), "");
  // Eight writers in flight: creations were committed several at a time.
  const auto batches = metric("hearth_write_batches_total");
  const auto batched = metric("hearth_write_batched_total");
  EXPECT_GT(batches, 0);
  EXPECT_EQ(batched, writers * per_writer);
  EXPECT_LT(batches, batched) << "no batch held more than one creation";
}

TEST_F(group_commit, kill_9_during_batched_commits_loses_no_acknowledged_write_and_no_seq) {
  auto user = new_user("killed");
  std::vector<std::string> households;
  for (int h = 0; h < 4; ++h)
    households.push_back(create_household(user.key, "H" + std::to_string(h)));
  constexpr int writers = 8;
  std::atomic<int> acknowledged{0};
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::string>> ids(writers);
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        http_client client(port());
        for (int i = 0; !stop && i < 2000; ++i) {
          auto res = client.request_as(
              user.key, "POST", "/api/v1/shop/items",
              json::serialize(json::object{{"authHouseholdID", households[(w + i) % 4]},
                                           {"name", "k" + std::to_string(i)}}));
          if (res.status != 201) break;
          ids[w].push_back(str(first_value(res), "id"));
          ++acknowledged;
        }
      } catch (const std::exception&) {
        // the server is gone: what was acknowledged is in ids[w]
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (acknowledged < 300 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling with a deadline
  ASSERT_GE(acknowledged.load(), 300) << "the writers were too slow";
  hearth_->stop(SIGKILL);
  stop = true;
  for (auto& t : threads) t.join();

  pqxx::connection db{database_url_};
  pqxx::read_transaction tx{db};
  std::size_t checked = 0;
  for (const auto& list : ids) {
    for (const auto& id : list) {
      EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM shop_item WHERE id = $1", id)[0].as<int>(), 1)
          << "acknowledged write " << id << " is lost";
      ++checked;
    }
  }
  EXPECT_GE(checked, 300u);
  EXPECT_EQ(seq_gaps(database_url_), "");
}

TEST_F(group_commit, creations_updates_moves_and_deletes_in_flight_together_never_deadlock) {
  auto user = new_user("mixed");
  std::vector<std::string> households;
  for (int h = 0; h < 3; ++h)
    households.push_back(create_household(user.key, "H" + std::to_string(h)));
  constexpr int writers = 6;
  constexpr int rounds = 25;
  std::vector<std::string> errors(writers);
  std::vector<int> kept(writers, 0), updates(writers, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        http_client client(port());
        auto expect = [&](const http_response& res, unsigned status, const char* what) {
          if (res.status != status)
            errors[w] += std::string(what) + " answered " + std::to_string(res.status) + ": " +
                         res.body.substr(0, 300) + "\n";
          return res.status == status;
        };
        for (int i = 0; i < rounds; ++i) {
          // Create in one household, update, move to the next, delete every third.
          const auto& from = households[(w + i) % 3];
          const auto& to = households[(w + i + 1) % 3];
          auto res = client.request_as(
              user.key, "POST", "/api/v1/shop/items",
              json::serialize(json::object{{"authHouseholdID", from}, {"name", "m"}}));
          if (!expect(res, 201, "POST")) continue;
          const auto id = str(first_value(res), "id");
          const auto path = "/api/v1/shop/items/" + id;
          if (expect(client.request_as(user.key, "PUT", path, R"({"done":true})"), 200, "PUT"))
            ++updates[w];
          expect(client.request_as(
                     user.key, "PUT", path,
                     json::serialize(json::object{{"authHouseholdID", to}, {"name", "moved"}})),
                 200, "move");
          if (i % 3 == 0)
            expect(client.request_as(user.key, "DELETE", path, ""), 200, "DELETE");
          else
            ++kept[w];
        }
      } catch (const std::exception& e) {
        errors[w] += e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (int w = 0; w < writers; ++w) {
    EXPECT_TRUE(errors[w].empty()) << "writer " << w << ":\n" << errors[w];
    total += kept[w];
  }
  pqxx::connection db{database_url_};
  pqxx::read_transaction tx{db};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM shop_item WHERE name = 'moved' AND done")[0].as<int>(),
            total);
  EXPECT_EQ(seq_gaps(database_url_), "");
  EXPECT_GT(metric("hearth_write_batched_changes_total"), 0);
}

}  // namespace
}  // namespace hearth::testing
