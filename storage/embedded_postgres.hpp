#pragma once
// A private PostgreSQL cluster that hearth creates, starts and stops itself,
// used when no HEARTH_DATABASE_URL is configured (and by the tests as their
// throwaway database). It listens on a unix socket only (listen_addresses='').
//
// As root, initdb and the server run as the `postgres` system user (initdb
// refuses root); as a normal user they run as that user. Data survives a
// restart: start() reuses an existing cluster and adopts a server that is
// still running from an earlier, killed hearth.

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace hearth::storage {

/// The newest /usr/lib/postgresql/<N>/bin that holds initdb (the server's
/// tools and pg_dump/pg_restore of that version). Throws std::runtime_error
/// naming the package to install when there is none.
std::filesystem::path postgres_bin_dir();

/// Settings of an embedded cluster.
struct embedded_postgres_options {
  /// Directory holding the cluster (created if missing); the PostgreSQL data
  /// directory is `<data_dir>/postgres`.
  std::filesystem::path data_dir;
  /// Directory with initdb/pg_ctl/postgres; empty = newest /usr/lib/postgresql/*/bin.
  std::filesystem::path bin_dir;
  /// Database created on first start and named in url().
  std::string database = "hearth";
  /// Throwaway mode for tests: fsync off, no durability.
  bool throwaway = false;
};

/// Owns one embedded cluster. Not copyable; the destructor stops the server
/// if this object started it (pg_ctl stop -m fast).
class embedded_postgres {
 public:
  explicit embedded_postgres(embedded_postgres_options options);
  ~embedded_postgres();
  embedded_postgres(const embedded_postgres&) = delete;
  embedded_postgres& operator=(const embedded_postgres&) = delete;

  /// Runs initdb on first use, starts the server (or adopts a running one)
  /// and creates the database. Blocks until it accepts connections (≤ 60 s).
  /// Throws std::runtime_error with PostgreSQL's log excerpt on failure.
  void start();

  /// What start() did: ran initdb (a new, empty cluster), and joined a
  /// server another hearth process had started (rather than starting it).
  bool created() const { return created_; }
  bool joined() const { return joined_; }

  /// Stops the server if this object started or adopted it and no other
  /// hearth process still uses it (shared flock on <data_dir>/hearth.lock).
  /// Idempotent; never throws.
  void stop() noexcept;

  /// libpq URI of the configured database over the unix socket.
  std::string url() const;
  /// libpq URI of an arbitrary database in this cluster.
  std::string url(const std::string& database) const;

  /// Creates a database (no-op when it exists).
  void create_database(const std::string& name);

  /// The postmaster's pid from <PGDATA>/postmaster.pid when that process is
  /// alive and runs in this cluster's directory, else 0 (no server, a dead
  /// or zombie postmaster, or a reused pid). Thread-safe.
  pid_t postmaster_pid() const;

  /// Starts the server again after its postmaster died (postgres_supervisor,
  /// storage/supervisor.hpp): removes the lock files a killed postmaster left
  /// (stale postmaster.pid and socket lock), adopts a server that another
  /// hearth process sharing the cluster restarted meanwhile, else
  /// `pg_ctl start -w` (PostgreSQL runs crash recovery itself). Returns the
  /// new postmaster's pid. Throws std::runtime_error when the server does not
  /// start, e.g. while backends of the killed postmaster still hold its shared
  /// memory ("pre-existing shared memory block is still in use") or while
  /// another hearth process restarts it (exclusive flock on
  /// <data_dir>/restart.lock): the caller tries again later. Only after
  /// start(), and never concurrently with start() or stop().
  pid_t restart();

 private:
  embedded_postgres_options options_;
  std::filesystem::path cluster_dir_;  // PGDATA
  std::filesystem::path socket_dir_;   // short path: unix sockets are ≤ 107 bytes
  std::string run_as_;                 // "postgres" when we are root, else ""
  std::filesystem::path bin_;          // initdb/pg_ctl, resolved by start()
  bool started_by_us_ = false;
  bool created_ = false;  // start() ran initdb
  bool joined_ = false;   // start() found the server running
  int lock_fd_ = -1;      // shared flock on <data_dir>/hearth.lock while in use

  bool last_user() noexcept;
  void release_lock() noexcept;
};

}  // namespace hearth::storage
