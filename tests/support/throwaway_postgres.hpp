#pragma once
// One throwaway PostgreSQL cluster per test binary (fsync off, unix socket in
// a temporary directory), started on first use and stopped at exit. Each test
// gets its own fresh database, so tests never see each other's rows.

#include <string>

namespace hearth::testing {

/// HEARTH_TEST_DATABASE_URL as it was when first asked ("" when unset). Read
/// once and cached, because hearth_process removes every HEARTH_* variable from
/// the test process's environment (hearth rejects unknown HEARTH_* names and
/// must not inherit a developer's HEARTH_DATABASE_URL).
const std::string& external_test_database_url();

/// Starts the shared cluster on first call. Throws when PostgreSQL cannot start.
/// Honours HEARTH_TEST_DATABASE_URL: when set, that server is used instead
/// (databases are created in it through that URL's connection).
class throwaway_postgres {
 public:
  static throwaway_postgres& shared();
  /// Creates a uniquely named empty database; returns its libpq URI.
  std::string create_database();

 private:
  throwaway_postgres();
  struct impl;
  impl* impl_;
};

}  // namespace hearth::testing
