#include "storage/migrate.hpp"

#include <fmt/format.h>

#include <set>
#include <stdexcept>

namespace hearth::storage {
namespace {

constexpr const char* kCreateMigrationsTable = R"sql(
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  ))sql";
constexpr const char* kSelectApplied = "SELECT version FROM schema_migrations";
constexpr const char* kInsertApplied =
    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

// Session-level advisory lock, released on every exit path.
class migration_lock {
 public:
  explicit migration_lock(pqxx::connection_base& conn) : conn_(conn) {
    pqxx::nontransaction tx{conn_};
    tx.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  }
  ~migration_lock() {
    try {
      pqxx::nontransaction tx{conn_};
      tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    } catch (...) {
      // The server frees session locks when the connection ends anyway.
    }
  }

 private:
  pqxx::connection_base& conn_;
};

}  // namespace

std::vector<int> migrate(pqxx::connection_base& conn, const std::vector<migration>& all) {
  migration_lock lock{conn};
  {
    pqxx::work tx{conn};
    tx.exec(kCreateMigrationsTable);
    tx.commit();
  }
  std::set<int> applied;
  {
    pqxx::read_transaction tx{conn};
    for (const auto& row : tx.exec(kSelectApplied)) applied.insert(row[0].as<int>());
  }
  int newest_known = all.empty() ? 0 : all.back().version;
  if (!applied.empty() && *applied.rbegin() > newest_known)
    throw std::runtime_error(
        fmt::format("database schema is at version {}, newer than this binary's {}: upgrade hearth",
                    *applied.rbegin(), newest_known));
  std::vector<int> done;
  for (const auto& m : all) {
    if (applied.count(m.version)) continue;
    pqxx::work tx{conn};
    tx.exec(m.sql);
    tx.exec_params(kInsertApplied, m.version, m.name);
    tx.commit();
    done.push_back(m.version);
  }
  return done;
}

}  // namespace hearth::storage
