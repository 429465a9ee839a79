#pragma once
// A PostgreSQL primary and its synchronous streaming standby, on 127.0.0.1
// in a temporary directory (trust authentication: loopback tests only),
// for the failover test (tests/integration/failover_test.cpp) and the
// chaos soak's failover mode (tests/chaos/chaos.cpp, --failover).
//
// The standby is made with pg_basebackup -R; then the primary's
// synchronous_standby_names is '*', so a commit returns only once the
// standby has flushed it, and an acknowledged write survives a failover.
// hearth is given both hosts with target_session_attrs=read-write
// (hearth_url()), so every connection finds whichever is the primary.
//
// The two servers swap roles: after promote_standby() the old standby is
// the primary; rebuild_standby() then makes the old primary's data
// directory a new standby of it (wiped, pg_basebackup again), so a soak
// can fail over again and again.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/process.hpp"

namespace hearth::testing {

/// Newest /usr/lib/postgresql/<major>/bin; std::runtime_error when none.
std::filesystem::path postgres_bin_dir();

/// A TCP port on 127.0.0.1 that was free when asked.
std::uint16_t free_port();

class replicated_postgres {
 public:
  /// Starts both servers and waits (≤ 30 s) for the standby to be
  /// synchronous; std::runtime_error (with the servers' logs) otherwise.
  replicated_postgres();
  ~replicated_postgres();
  replicated_postgres(const replicated_postgres&) = delete;
  replicated_postgres& operator=(const replicated_postgres&) = delete;

  /// The libpq URI hearth is given: both hosts, the read-write one wins,
  /// database "hearth", connect_timeout=2 (s).
  std::string hearth_url() const;
  /// The current primary's and standby's URIs (database "hearth").
  std::string primary_url() const;
  std::string standby_url() const;

  /// kill -9 of the primary's postmaster and every process it started, as
  /// when its host dies; returns once the postmaster is gone (≤ 10 s).
  void kill_primary();
  /// `pg_ctl promote` of the standby, which becomes the primary. It runs
  /// with no synchronous standby until rebuild_standby().
  void promote_standby();
  /// After a promotion: the old primary's directory wiped and made a new
  /// synchronous standby of the new primary; returns once it is
  /// synchronous (≤ 30 s), std::runtime_error otherwise.
  void rebuild_standby();
  /// The primary stopped in immediate mode (a crash), started again after
  /// `down`; returns once it accepts connections.
  void crash_and_restart_primary(std::chrono::milliseconds down);

  /// The last 3 000 bytes of each server's log and of the tools' output.
  std::string logs() const;

 private:
  std::string bin(const char* name) const;
  std::string dir(int server) const;
  void make_owned_dir(const std::filesystem::path& dir) const;
  void append_conf(int server) const;
  void run(const std::vector<std::string>& argv) const;
  void start(int server) const;
  void wait_synchronous() const;

  std::filesystem::path bin_;
  std::filesystem::path root_;
  storage::spawn_options as_server_;
  std::uint16_t ports_[2] = {0, 0};
  int primary_ = 0;  // index of the primary in ports_ (the standby is 1 - primary_)
};

}  // namespace hearth::testing
