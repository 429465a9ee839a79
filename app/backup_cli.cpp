// `hearth backup FILE` and `hearth restore FILE [--force]`: a consistent
// backup of the whole database with PostgreSQL's own tools (pg_dump's
// custom format, taken from one snapshot while nodes keep serving), and
// its restore into an empty database (pg_restore in one transaction),
// followed by the fix-ups that keep streams and fencing right
// (storage/backup.hpp). For the embedded and an external PostgreSQL alike.

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>

#include "app/serve.hpp"
#include "config/logging.hpp"
#include "storage/backup.hpp"
#include "storage/embedded_postgres.hpp"
#include "storage/process.hpp"

namespace hearth::app {
namespace {

namespace fs = std::filesystem;

// pg_dump or pg_restore: from postgresBinDir when set, else from the newest
// installed PostgreSQL (the embedded server's version).
fs::path pg_tool(const config::config& cfg, const std::string& name) {
  const fs::path bin =
      cfg.postgres_bin_dir.empty() ? storage::postgres_bin_dir() : fs::path(cfg.postgres_bin_dir);
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

int backup(const config::config& cfg, const std::string& file) {
  log::init("warn");
  std::optional<storage::embedded_postgres> embedded;
  const auto url = database_url(cfg, embedded);
  const auto pg_dump = pg_tool(cfg, "pg_dump");
  {
    pqxx::connection conn{url};
    const int server = storage::server_major(conn);
    const int tool = tool_major(pg_dump);
    if (auto refusal = storage::dump_refusal(server, tool)) {
      fmt::print(stderr, "hearth backup: {} ({})\n", *refusal, pg_dump.string());
      return 1;
    }
  }
  // Custom format: compressed, restorable table by table, read by
  // pg_restore of the same or a newer version.
  const int code = storage::run_process(
      {pg_dump.string(), "--format=custom", "--file=" + file, "--dbname=" + url}, {},
      std::chrono::hours(12));
  if (code != 0) {
    fmt::print(stderr, "hearth backup: pg_dump failed (exit {})\n", code);
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
  std::vector<std::string> argv{pg_tool(cfg, "pg_restore").string(),
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
