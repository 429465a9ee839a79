// The group commit's batches themselves (storage/group_commit.hpp), driven
// through a manual storage pool against a real PostgreSQL: every creation
// submitted before the pool runs lands in one batch, so what a batch does
// with mixed tables, column sets, households, refusals and a failing row is
// asserted deterministically (group_commit_test.cpp drives the binary).

#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "domain/tables.hpp"
#include "storage/errors.hpp"
#include "storage/group_commit.hpp"
#include "storage/migrate.hpp"
#include "storage/pool.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/support/throwaway_postgres.hpp"

namespace hearth::testing {
namespace {

const storage::table_spec& table_named(const std::string& name) {
  for (const auto* t : domain::household_tables())
    if (t->sql_name == name) return *t;
  throw std::runtime_error("no table " + name);
}

storage::values named(const std::string& name) { return {{"name", name}}; }

/// A CalendarEvent's values; a `bad` one ends before it starts (the
/// table's CHECK refuses it).
storage::values event_values(const std::string& name, bool bad = false) {
  return {{"name", name},
          {"startsAt", "2026-05-01T10:00:00Z"},
          {"endsAt", bad ? "2026-05-01T09:00:00Z" : "2026-05-01T11:00:00Z"}};
}

/// Events e0 … e<n-1>, all valid.
std::vector<storage::values> events(int n) {
  std::vector<storage::values> out;
  for (int i = 0; i < n; ++i) out.push_back(event_values("e" + std::to_string(i)));
  return out;
}

class group_commit_batch : public ::testing::Test {
 protected:
  group_commit_batch() : url_(throwaway_postgres::shared().create_database()) {
    pqxx::connection conn{url_};
    storage::migrate(conn);
    db_ = storage::pool::manual(url_);
  }

  std::string account(const std::string& email) {
    pqxx::connection conn{url_};
    pqxx::work tx{conn};
    auto id = tx.exec_params1(
                    "INSERT INTO auth_account (email_address, name, password_hash) "
                    "VALUES ($1, 'x', 'x') RETURNING id::text",
                    email)[0]
                  .as<std::string>();
    tx.commit();
    return id;
  }

  std::string household(const std::string& owner) {
    pqxx::connection conn{url_};
    pqxx::work tx{conn};
    auto id = tx.exec1("INSERT INTO auth_household (name) VALUES ('Home') RETURNING id::text")[0]
                  .as<std::string>();
    tx.exec_params0(
        "INSERT INTO auth_household_member (auth_household_id, auth_account_id, "
        "permissions) VALUES ($1, $2, 'owner')",
        id, owner);
    tx.commit();
    return id;
  }

  void add_viewer(const std::string& hh, const std::string& viewer) {
    pqxx::connection conn{url_};
    pqxx::work tx{conn};
    tx.exec_params0(
        "INSERT INTO auth_household_member (auth_household_id, auth_account_id, "
        "permissions) VALUES ($1, $2, 'view')",
        hh, viewer);
    tx.commit();
  }

  /// What one creation came to: its result, or its error, in answer order.
  struct answer {
    std::string name;  // the request's "name" value, to find it
    std::optional<storage::write_result> result;
    std::optional<storage::errc> code;  // a domain_error's code
    std::string error;
  };

  void submit(storage::write_batcher& b, const std::string& table, const std::string& acc,
              const std::string& hh, storage::values v, storage::write_gate admit = nullptr) {
    storage::write_batcher::create_request r;
    r.table = &table_named(table);
    r.account_id = acc;
    r.household_id = hh;
    const auto name = v.count("name") && v.at("name") ? *v.at("name") : std::string();
    r.v = std::move(v);
    r.admit = std::move(admit);
    r.done = [this, name](storage::write_result* w, std::exception_ptr e) { record(name, w, e); };
    b.submit(std::move(r));
  }

  /// A change of row `id`: an update of `v`, or a delete when v is nullopt;
  /// its answer is named `name`.
  void change(storage::write_batcher& b, const std::string& name, const std::string& table,
              const std::string& acc, const std::string& id, std::optional<storage::values> v,
              std::optional<std::string> household = std::nullopt) {
    storage::write_batcher::change_request r;
    r.table = &table_named(table);
    r.account_id = acc;
    r.row_id = id;
    r.v = std::move(v);
    r.household = std::move(household);
    r.done = [this, name](storage::write_result* w, std::exception_ptr e) { record(name, w, e); };
    b.submit(std::move(r));
  }

  void record(const std::string& name, storage::write_result* w, std::exception_ptr e) {
    answer a{name, {}, {}, {}};
    if (w) a.result = *w;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const storage::domain_error& d) {
        a.code = d.code;
        a.error = d.what();
      } catch (const std::exception& x) {
        a.error = x.what();
      }
    }
    answers_.push_back(std::move(a));
  }

  /// Creates one row per element of `list` (each with a distinct "name") in
  /// household `hh`, in one batch; returns their ids, in order.
  std::vector<std::string> rows(storage::write_batcher& b, const std::string& table,
                                const std::string& acc, const std::string& hh,
                                const std::vector<storage::values>& list) {
    for (const auto& v : list) submit(b, table, acc, hh, v);
    db_->run_pending();
    std::vector<std::string> ids;
    for (const auto& v : list)
      ids.push_back(std::string(answer_for(*v.at("name")).result.value().row.at("id").as_string()));
    answers_.clear();
    return ids;
  }
  /// rows() named `names` (their only column).
  std::vector<std::string> named_rows(storage::write_batcher& b, const std::string& table,
                                      const std::string& acc, const std::string& hh,
                                      const std::vector<std::string>& names) {
    std::vector<storage::values> list;
    for (const auto& n : names) list.push_back(named(n));
    return rows(b, table, acc, hh, list);
  }

  const answer& answer_for(const std::string& name) {
    for (const auto& a : answers_)
      if (a.name == name) return a;
    throw std::runtime_error("no answer for " + name);
  }

  std::string url_;
  std::unique_ptr<storage::pool> db_;
  std::vector<answer> answers_;
};

TEST_F(group_commit_batch, one_batch_mixes_tables_column_sets_households_and_refusals) {
  const auto owner = account("owner@example.com");
  const auto viewer = account("viewer@example.com");
  const auto h1 = household(owner), h2 = household(owner), stranger = household(viewer);
  add_viewer(h1, viewer);
  storage::write_batcher batcher(*db_, /*publish=*/{}, /*lanes=*/1);
  // All queued behind the first's drain job, which has not run yet.
  submit(batcher, "shop_item", owner, h1, named("i1"));
  submit(batcher, "shop_item", owner, h2, named("j1"));
  submit(batcher, "plan_task", owner, h1, {{"name", "t1"}, {"dueDate", "2026-03-04"}});
  submit(batcher, "shop_item", owner, h1, {{"name", "i2"}, {"done", "true"}});
  submit(batcher, "shop_item", viewer, h1, named("viewer's"));
  submit(batcher, "shop_item", owner, stranger, named("stranger's"));
  submit(batcher, "shop_item", owner, h2, named("refused"),
         [](const std::string&) { throw storage::domain_error(storage::errc::busy, "behind"); });
  submit(batcher, "plan_task", owner, h1, {{"name", "t2"}, {"dueDate", std::nullopt}});
  submit(batcher, "shop_item", owner, h1, named("i3"));
  submit(batcher, "shop_item", owner, h2, named("j2"));
  ASSERT_TRUE(answers_.empty());
  db_->run_pending();
  ASSERT_EQ(answers_.size(), 10u);
  EXPECT_EQ(batcher.batches(), 1u);
  EXPECT_EQ(batcher.creations(), 10u);
  EXPECT_EQ(batcher.isolated(), 0u) << "a refusal by permission or admission is no failure";

  EXPECT_EQ(answer_for("viewer's").code, storage::errc::forbidden);
  EXPECT_EQ(answer_for("stranger's").code, storage::errc::not_found);
  EXPECT_EQ(answer_for("refused").code, storage::errc::busy);
  // Each success: its row as written, its own event; a household's seqs
  // come in arrival order within a table and column set, and the answers
  // come in seq order per household (callers publish as they hear).
  std::map<std::string, std::int64_t> last_seq;
  for (const auto& a : answers_) {
    if (!a.result) continue;
    const auto& w = *a.result;
    EXPECT_EQ(w.event.operation, "create");
    EXPECT_EQ(w.event.row_id, std::string(w.row.at("id").as_string()));
    EXPECT_EQ(w.event.household_id, std::string(w.row.at("authHouseholdID").as_string()));
    EXPECT_EQ(w.event.updated, std::string(w.row.at("updated").as_string()));
    EXPECT_GT(w.event.seq, last_seq[w.event.household_id]) << a.name << " answered out of order";
    last_seq[w.event.household_id] = w.event.seq;
  }
  EXPECT_EQ(last_seq[h1], 5);
  EXPECT_EQ(last_seq[h2], 2);
  EXPECT_LT(answer_for("i1").result->event.seq, answer_for("i3").result->event.seq);
  EXPECT_LT(answer_for("t1").result->event.seq, answer_for("t2").result->event.seq);
  EXPECT_EQ(answer_for("i2").result->row.at("done").as_bool(), true);
  EXPECT_EQ(answer_for("i1").result->row.at("done").as_bool(), false) << "a default was lost";
  EXPECT_EQ(answer_for("t1").result->row.at("dueDate").as_string(), "2026-03-04");
  EXPECT_TRUE(answer_for("t2").result->row.at("dueDate").is_null());

  pqxx::connection conn{url_};
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM shop_item")[0].as<int>(), 5);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM plan_task")[0].as<int>(), 2);
  EXPECT_EQ(
      tx.exec_params1("SELECT count(*) FROM shop_item WHERE auth_household_id = $1", stranger)[0]
          .as<int>(),
      0);
  // Each event names its row in the right table.
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM change_event e WHERE NOT EXISTS (SELECT 1 FROM "
                     "shop_item i WHERE i.id = e.row_id) AND NOT EXISTS (SELECT 1 FROM plan_task "
                     "t WHERE t.id = e.row_id)")[0]
                .as<int>(),
            0);
  EXPECT_EQ(seq_gaps(url_), "");
}

TEST_F(group_commit_batch, a_check_violation_fails_only_its_creation_and_takes_no_seq) {
  const auto owner = account("owner@example.com");
  const auto h1 = household(owner), h2 = household(owner);
  storage::write_batcher batcher(*db_, /*publish=*/{}, /*lanes=*/1);
  for (int i = 0; i < 12; ++i)
    submit(batcher, "calendar_event", owner, i % 2 ? h1 : h2,
           event_values("e" + std::to_string(i), i == 5));
  db_->run_pending();
  ASSERT_EQ(answers_.size(), 12u);
  EXPECT_EQ(batcher.batches(), 1u);
  EXPECT_EQ(batcher.isolated(), 1u) << "the failing statement sends the batch to savepoints";
  for (const auto& a : answers_) {
    if (a.name == "e5") {
      EXPECT_EQ(a.code, storage::errc::invalid);
      EXPECT_NE(a.error.find("endsAt"), std::string::npos) << a.error;
    } else {
      EXPECT_TRUE(a.result) << a.name << ": " << a.error;
    }
  }
  pqxx::connection conn{url_};
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM calendar_event")[0].as<int>(), 11);
  EXPECT_EQ(tx.exec_params1("SELECT event_seq FROM auth_household WHERE id = $1", h1)[0].as<int>(),
            5);
  EXPECT_EQ(seq_gaps(url_), "");
}

TEST_F(group_commit_batch, one_batch_of_updates_deletes_and_a_move_commits_once_in_seq_order) {
  const auto owner = account("owner@example.com");
  const auto viewer = account("viewer@example.com");
  const auto h1 = household(owner), h2 = household(owner);
  add_viewer(h1, viewer);
  storage::write_batcher batcher(*db_, /*publish=*/{}, /*lanes=*/1);
  const auto a = named_rows(batcher, "shop_item", owner, h1, {"a0", "a1", "a2", "a3"});
  const auto b = named_rows(batcher, "shop_item", owner, h2, {"b0", "b1"});
  const auto batches_before = batcher.batches();
  change(batcher, "b0 done", "shop_item", owner, b[0], storage::values{{"done", "true"}});
  change(batcher, "a0 renamed", "shop_item", owner, a[0], storage::values{{"name", "A0"}});
  change(batcher, "a1 deleted", "shop_item", owner, a[1], std::nullopt);
  change(batcher, "a2 moved", "shop_item", owner, a[2], storage::values{{"name", "A2"}}, h2);
  change(batcher, "a0 again", "shop_item", owner, a[0], storage::values{{"done", "true"}});
  change(batcher, "viewer's", "shop_item", viewer, a[3], storage::values{{"name", "no"}});
  change(batcher, "missing", "shop_item", owner, "00000000-0000-4000-8000-000000000000",
         std::nullopt);
  ASSERT_TRUE(answers_.empty());
  db_->run_pending();
  ASSERT_EQ(answers_.size(), 7u);
  EXPECT_EQ(batcher.batches(), batches_before + 1) << "the changes were not one batch";
  EXPECT_EQ(batcher.changes(), 7u);
  EXPECT_EQ(batcher.isolated(), 0u);

  EXPECT_EQ(answer_for("viewer's").code, storage::errc::forbidden);
  EXPECT_EQ(answer_for("missing").code, storage::errc::not_found);
  for (const auto* n : {"b0 done", "a0 renamed", "a1 deleted", "a2 moved", "a0 again"})
    EXPECT_TRUE(answer_for(n).result) << n << ": " << answer_for(n).error;
  // Two changes of one row in one batch apply in arrival order.
  EXPECT_EQ(answer_for("a0 again").result->row.at("name").as_string(), "A0");
  EXPECT_EQ(answer_for("a0 again").result->row.at("done").as_bool(), true);
  EXPECT_EQ(answer_for("a1 deleted").result->event.operation, "delete");
  const auto& moved = *answer_for("a2 moved").result;
  ASSERT_TRUE(moved.moved_from);
  EXPECT_EQ(moved.moved_from->household_id, h1);
  EXPECT_EQ(moved.event.household_id, h2);
  EXPECT_EQ(moved.event.operation, "create");
  // Answers in each household's seq order, a move's counted at its
  // previous household's delete (published first).
  std::map<std::string, std::int64_t> last_seq{{h1, 4}, {h2, 2}};  // after the creations
  for (const auto& x : answers_) {
    if (!x.result) continue;
    const auto& w = *x.result;
    if (w.moved_from) {
      EXPECT_GT(w.moved_from->seq, last_seq[h1]) << x.name;
      last_seq[h1] = w.moved_from->seq;
      continue;  // its create in h2 is checked by seq_gaps
    }
    EXPECT_GT(w.event.seq, last_seq[w.event.household_id]) << x.name << " answered out of order";
    last_seq[w.event.household_id] = w.event.seq;
  }
  EXPECT_EQ(seq_gaps(url_), "");
  pqxx::connection conn{url_};
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM shop_item WHERE auth_household_id = $1", h1)[0]
                .as<int>(),
            2);  // a0, a3
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM shop_item WHERE auth_household_id = $1", h2)[0]
                .as<int>(),
            3);  // b0, b1, a2
  EXPECT_EQ(tx.exec_params1("SELECT name FROM shop_item WHERE id = $1", a[3])[0].as<std::string>(),
            "a3")
      << "the viewer's change was applied";
}

TEST_F(group_commit_batch, a_failing_change_fails_only_itself) {
  const auto owner = account("owner@example.com");
  const auto h1 = household(owner);
  storage::write_batcher batcher(*db_, /*publish=*/{}, /*lanes=*/1);
  const auto ids = rows(batcher, "calendar_event", owner, h1, events(6));
  for (int i = 0; i < 6; ++i)
    change(batcher, "c" + std::to_string(i), "calendar_event", owner, ids[i],
           storage::values{{"endsAt", i == 2 ? "2026-05-01T09:00:00Z" : "2026-05-01T12:00:00Z"}});
  db_->run_pending();
  ASSERT_EQ(answers_.size(), 6u);
  EXPECT_EQ(batcher.isolated(), 1u);
  for (const auto& x : answers_) {
    if (x.name == "c2") {
      EXPECT_EQ(x.code, storage::errc::invalid);
      EXPECT_NE(x.error.find("endsAt"), std::string::npos) << x.error;
    } else {
      EXPECT_TRUE(x.result) << x.name << ": " << x.error;
    }
  }
  pqxx::connection conn{url_};
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM calendar_event WHERE ends_at = "
                     "'2026-05-01T12:00:00Z'")[0]
                .as<int>(),
            5);
  EXPECT_EQ(tx.exec_params1("SELECT event_seq FROM auth_household WHERE id = $1", h1)[0].as<int>(),
            11);  // 6 creations, 5 updates
  EXPECT_EQ(seq_gaps(url_), "");
}

TEST_F(group_commit_batch, a_row_locked_against_changes_fails_alone_with_its_message) {
  const auto owner = account("owner@example.com");
  const auto h1 = household(owner);
  storage::write_batcher batcher(*db_, /*publish=*/{}, /*lanes=*/1);
  const auto ids = rows(batcher, "calendar_event", owner, h1, events(3));
  {  // e1 becomes an imported event (read-only: table_spec::locked_by)
    pqxx::connection conn{url_};
    pqxx::work tx{conn};
    auto sub = tx.exec_params1(
                     "INSERT INTO calendar_subscription (auth_household_id, url) VALUES "
                     "($1, 'https://example.com/a.ics') RETURNING id::text",
                     h1)[0]
                   .as<std::string>();
    tx.exec_params0("UPDATE calendar_event SET calendar_subscription_id = $1 WHERE id = $2", sub,
                    ids[1]);
    tx.commit();
  }
  change(batcher, "rename e0", "calendar_event", owner, ids[0], storage::values{{"name", "E0"}});
  change(batcher, "rename e1", "calendar_event", owner, ids[1], storage::values{{"name", "E1"}});
  change(batcher, "delete e1", "calendar_event", owner, ids[1], std::nullopt);
  change(batcher, "delete e2", "calendar_event", owner, ids[2], std::nullopt);
  db_->run_pending();
  ASSERT_EQ(answers_.size(), 4u);
  EXPECT_EQ(batcher.isolated(), 0u) << "a locked row is refused without failing the batch";
  EXPECT_EQ(answer_for("rename e1").code, storage::errc::conflict);
  EXPECT_NE(answer_for("rename e1").error.find("read-only"), std::string::npos);
  // e1's second change runs its own statements (after the bulk ones): refused too.
  EXPECT_EQ(answer_for("delete e1").code, storage::errc::conflict);
  ASSERT_TRUE(answer_for("rename e0").result) << answer_for("rename e0").error;
  EXPECT_EQ(answer_for("rename e0").result->row.at("name").as_string(), "E0");
  ASSERT_TRUE(answer_for("delete e2").result) << answer_for("delete e2").error;
  EXPECT_EQ(answer_for("delete e2").result->event.operation, "delete");
  EXPECT_EQ(seq_gaps(url_), "");
}

}  // namespace
}  // namespace hearth::testing
