#pragma once
// Backups with PostgreSQL's pg_dump (custom format), shared by `hearth
// backup` (app/backup_cli.cpp) and the cron job engine.backup that a node
// with the embedded PostgreSQL runs when backupDir is set
// (app/modules.cpp). Blocking: the CLI's thread or a cron handler thread.

#include <filesystem>
#include <string>

namespace hearth::app {

/// Writes a backup of the database at `url` to `file` (as `file`.partial,
/// renamed once pg_dump succeeded, so a file of that name is whole), with
/// pg_dump from `bin_dir` (empty: the newest /usr/lib/postgresql/*/bin).
/// Returns "" on success, else why not: a server newer than pg_dump, or
/// pg_dump's exit code.
std::string dump_database(const std::string& url, const std::filesystem::path& file,
                          const std::string& bin_dir);

/// Deletes the oldest `hearth-*.dump` files of `dir` beyond the newest
/// `keep` (by name: their names start with the UTC time). Returns how many.
int prune_backups(const std::filesystem::path& dir, int keep);

}  // namespace hearth::app
