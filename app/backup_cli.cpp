// `hearth backup FILE` and `hearth restore FILE [--force]`: a consistent
// backup of the whole database with PostgreSQL's own tools (pg_dump's
// custom format, taken from one snapshot while nodes keep serving), and
// its restore into an empty database (pg_restore in one transaction),
// followed by the fix-ups that keep streams and fencing right
// (storage/backup.hpp). For the embedded and an external PostgreSQL alike.

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>

#include "app/backup.hpp"
#include "app/serve.hpp"
#include "config/logging.hpp"
#include "storage/backup.hpp"
#include "storage/embedded_postgres.hpp"
#include "storage/process.hpp"

namespace hearth::app {
namespace {

namespace fs = std::filesystem;

// pg_dump or pg_restore: from `bin_dir` when set (postgresBinDir), else
// from the newest installed PostgreSQL (the embedded server's version).
fs::path pg_tool(const std::string& bin_dir, const std::string& name) {
  const fs::path bin = bin_dir.empty() ? storage::postgres_bin_dir() : fs::path(bin_dir);
  return bin / name;
}

// The tool's major version from `<tool> --version`, or 0 when unreadable.
int tool_major(const fs::path& tool) {
  const auto out = fs::temp_directory_path() / fmt::format("hearth-{}-version", ::getpid());
  storage::spawn_options o;
  o.log_file = out.string();
  std::error_code ec;
  fs::remove(out, ec);
  int code = storage::run_process({tool.string(), "--version"}, o, std::chrono::seconds(30));
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  fs::remove(out, ec);
  return code == 0 ? storage::postgres_major_of(text.str()) : 0;
}

}  // namespace

std::string dump_database(const std::string& url, const fs::path& file,
                          const std::string& bin_dir) {
  const auto pg_dump = pg_tool(bin_dir, "pg_dump");
  {
    pqxx::connection conn{url};
    if (auto refusal = storage::dump_refusal(storage::server_major(conn), tool_major(pg_dump)))
      return fmt::format("{} ({})", *refusal, pg_dump.string());
  }
  // Custom format: compressed, restorable table by table, read by
  // pg_restore of the same or a newer version.
  const auto partial = file.string() + ".partial";
  const int code = storage::run_process(
      {pg_dump.string(), "--format=custom", "--file=" + partial, "--dbname=" + url}, {},
      std::chrono::hours(12));
  std::error_code ec;
  if (code != 0) {
    fs::remove(partial, ec);
    return fmt::format("pg_dump failed (exit {})", code);
  }
  fs::rename(partial, file, ec);
  return ec ? "cannot rename " + partial + ": " + ec.message() : std::string();
}

int prune_backups(const fs::path& dir, int keep) {
  std::vector<fs::path> backups;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.rfind("hearth-", 0) == 0 && e.path().extension() == ".dump")
      backups.push_back(e.path());
  }
  std::sort(backups.begin(), backups.end());
  int removed = 0;
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < backups.size(); ++i)
    removed += fs::remove(backups[i], ec) ? 1 : 0;
  return removed;
}

int backup(const config::config& cfg, const std::string& file) {
  log::init("warn");
  std::optional<storage::embedded_postgres> embedded;
  const auto url = database_url(cfg, embedded);
  if (auto why = dump_database(url, file, cfg.postgres_bin_dir); !why.empty()) {
    fmt::print(stderr, "hearth backup: {}\n", why);
    return 1;
  }
  fmt::print("backup written to {} ({} bytes)\n", file, fs::file_size(file));
  return 0;
}

int restore(const config::config& cfg, const std::string& file, bool force) {
  log::init("warn");
  if (!fs::is_regular_file(file)) {
    fmt::print(stderr, "hearth restore: {}: no such file\n", file);
    return 1;
  }
  std::optional<storage::embedded_postgres> embedded;
  const auto url = database_url(cfg, embedded);
  {
    pqxx::connection conn{url};
    if (!force && !storage::database_is_empty(conn)) {
      fmt::print(stderr,
                 "hearth restore: the database already holds tables: restore into an empty one "
                 "(a new dataDir or database), or pass --force to replace what is there\n");
      return 1;
    }
  }
  std::vector<std::string> argv{pg_tool(cfg.postgres_bin_dir, "pg_restore").string(),
                                "--no-owner",
                                "--no-privileges",
                                "--exit-on-error",
                                "--single-transaction",
                                "--dbname=" + url};
  if (force) {
    argv.push_back("--clean");
    argv.push_back("--if-exists");
  }
  argv.push_back(file);
  const int code = storage::run_process(argv, {}, std::chrono::hours(12));
  if (code != 0) {
    fmt::print(stderr, "hearth restore: pg_restore failed (exit {}); nothing was restored\n", code);
    return 1;
  }
  pqxx::connection conn{url};
  const auto fixed = storage::after_restore(conn);
  fmt::print(
      "restored {}: event sequences of {} households moved past every cursor issued before "
      "(their streams resync); leader term now {}; start the nodes\n",
      file, fixed.households, fixed.term);
  return 0;
}

}  // namespace hearth::app
