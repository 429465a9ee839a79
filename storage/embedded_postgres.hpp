#pragma once
// A private PostgreSQL cluster that hearth creates, starts and stops itself,
// used when no HEARTH_DATABASE_URL is configured (and by the tests as their
// throwaway database). It listens on a unix socket only (listen_addresses='').
//
// As root, initdb and the server run as the `postgres` system user (initdb
// refuses root); as a normal user they run as that user. Data survives a
// restart: start() reuses an existing cluster and adopts a server that is
// still running from an earlier, killed hearth.

#include <filesystem>
#include <string>

namespace hearth::storage {

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

 private:
  embedded_postgres_options options_;
  std::filesystem::path cluster_dir_;  // PGDATA
  std::filesystem::path socket_dir_;   // short path: unix sockets are ≤ 107 bytes
  std::string run_as_;                 // "postgres" when we are root, else ""
  bool started_by_us_ = false;
  int lock_fd_ = -1;  // shared flock on <data_dir>/hearth.lock while in use

  bool last_user() noexcept;
  void release_lock() noexcept;
};

}  // namespace hearth::storage
