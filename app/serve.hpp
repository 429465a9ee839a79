#pragma once
// The `serve`, `migrate` and `cluster status` commands: wire config → (embedded) PostgreSQL →
// migrations → storage pool → actors → router → HTTP server, and take them
// down in the reverse order on SIGINT/SIGTERM.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/dead_letters.hpp"
#include "storage/embedded_postgres.hpp"

namespace hearth::app {

/// Runs the node until SIGINT or SIGTERM (graceful: see http::server::drain).
/// SIGHUP calls `reload` (the configuration read again from its layers) and
/// applies its log level. Returns the exit code (0 on a clean stop). Throws
/// on start-up failures (bad database URL, port in use). The caller must have
/// blocked SIGINT/SIGTERM/SIGHUP in every thread (block_stop_signals()).
/// SIGUSR2 restarts without downtime (app/takeover.hpp): `argv` is how the
/// successor is started.
int serve(const config::config& cfg, const std::function<config::config()>& reload = {},
          const std::vector<std::string>& argv = {});

/// Applies pending migrations and returns 0. Throws on failure.
int migrate(const config::config& cfg);

/// `hearth cluster status`: prints the nodes, leader and term recorded in
/// the database and returns 0. Throws on database errors.
int cluster_status(const config::config& cfg);

/// `hearth backup FILE`: pg_dump (custom format) of the configured or
/// embedded database into FILE while nodes keep serving; refuses (1) when
/// the server is newer than pg_dump. Returns 0, or 1 with a message.
int backup(const config::config& cfg, const std::string& file);

/// `hearth restore FILE`: pg_restore of a `hearth backup` into the
/// configured or embedded database, in one transaction, then the fix-ups
/// of storage/backup.hpp (streams resync, the term moves forward).
/// Refuses (1) a database that holds tables unless `force` (which replaces
/// them). Stop every node first. Returns 0, or 1 with a message.
int restore(const config::config& cfg, const std::string& file, bool force);

/// `hearth dead-letters list|retry|discard` (`action`): lists the Pub/Sub
/// dead letters matching `filter`, sends them again through normal
/// delivery, or deletes them (engine/dead_letters.hpp; at most 1 000 per
/// call), printing what it did; returns 0, or 1 when the database has no
/// Pub/Sub tables yet. Throws on other database errors.
int dead_letters(const config::config& cfg, const std::string& action,
                 const engine::dead_letter_filter& filter);

/// The database to use: the configured URL, or the URL of the embedded
/// cluster, which is started (or adopted when already running) in `embedded`.
std::string database_url(const config::config& cfg,
                         std::optional<storage::embedded_postgres>& embedded);

/// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR2 in the calling thread (and the threads it
/// starts later), so that serve() can wait for them with sigwait.
void block_stop_signals();

}  // namespace hearth::app
