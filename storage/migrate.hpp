#pragma once
// Schema migrations: numbered migrations/NNN_name.up.sql files, compiled into
// the binary (cmake/embed_migrations.cmake), applied in order, each in its own
// transaction, under a PostgreSQL advisory lock so that nodes starting at the
// same time do not race, and recorded in schema_migrations.

#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace hearth::storage {

/// One migration: version NNN, its name and its SQL text.
struct migration {
  int version;
  std::string name;
  std::string sql;
};

/// All migrations compiled into this binary, in version order.
const std::vector<migration>& embedded_migrations();

/// Advisory lock key held while migrating ("hearth:migrate"); the leader
/// election uses a different key.
constexpr long long kMigrationLockKey = 0x6865617274686d31LL;

/// Applies every migration of `all` that is not yet recorded. Blocks while
/// another node holds the migration lock. Returns the versions applied.
/// Throws pqxx exceptions (the failing migration is rolled back) and
/// std::runtime_error when the database is newer than this binary.
std::vector<int> migrate(pqxx::connection_base& conn,
                         const std::vector<migration>& all = embedded_migrations());

}  // namespace hearth::storage
