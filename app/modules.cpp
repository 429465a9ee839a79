// The modules built into hearth: the engine's own housekeeping jobs (as
// Homechart's task runner: session expiry, the outbox purge, the daily
// rollup; all cron jobs of the one registry) and the applications: the
// uptime monitor (apps/uptime) and notifications (apps/notify).

#include "app/modules.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "app/backup.hpp"
#include "apps/calendar/calendar.hpp"
#include "apps/notify/notify.hpp"
#include "apps/uptime/monitor.hpp"
#include "config/logging.hpp"
#include "domain/tables.hpp"
#include "engine/store.hpp"
#include "storage/account_tokens.hpp"
#include "storage/accounts.hpp"
#include "storage/housekeeping.hpp"
#include "storage/idempotency.hpp"
#include "storage/revocations.hpp"

namespace hearth::app {

using api::module;
namespace {

module core_module() {
  module m;
  m.name = "core";
  m.declare = [](engine::registry& r, const config::config& cfg, storage::pool& db) {
    // Expired sign-in sessions are deleted (their keys already fail: the
    // expiry is checked on every use).
    r.cron("engine.expire-sessions", cfg.session_expiry_schedule, [&db](const engine::cron_tick&) {
      auto n = storage::run_sync(db, [](storage::connection& c) {
        pqxx::work tx{c};
        auto expired = storage::expire_sessions(tx);
        storage::purge_revocations(tx);  // recorded revocations older than a day
        storage::purge_tokens(tx);       // e-mailed tokens past their hour
        tx.commit();
        return expired;
      });
      return fmt::format("expired {} sessions", n);
    });
    // change_event rows older than the SSE replay window serve no one: a
    // client that far behind gets `resync` anyway.
    r.cron("engine.purge-change-events", "every 1h",
           [&db, window = cfg.sse_replay_window](const engine::cron_tick&) {
             auto n = storage::run_sync(db, [&](storage::connection& c) {
               return storage::purge_change_events(c, window);
             });
             return fmt::format("purged {} change events", n);
           });
    // Delivered Pub/Sub messages are kept a week for inspection.
    r.cron("engine.purge-pubsub", "every 1h", [&db](const engine::cron_tick&) {
      auto n = storage::run_sync(db, [](storage::connection& c) {
        return engine::purge_delivered_messages(c, std::chrono::hours{24 * 7});
      });
      return fmt::format("purged {} delivered messages", n);
    });
    // Idempotency keys are honoured 24 h (storage/idempotency.hpp); older
    // ones already count as unused, this only frees their rows.
    r.cron("engine.purge-idempotency-keys", "every 1h", [&db](const engine::cron_tick&) {
      auto n = storage::run_sync(
          db, [](storage::connection& c) { return storage::purge_idempotency_keys(c); });
      return fmt::format("purged {} idempotency keys", n);
    });
    // Yesterday's counts per household and table, a few minutes after midnight UTC.
    r.cron("engine.daily-rollup", "5 0 * * *", [&db](const engine::cron_tick& tick) {
      // UTC: fmt 9 would format a time_point in local time.
      auto text = fmt::format("{:%Y-%m-%d}",
                              fmt::gmtime(static_cast<std::time_t>(tick.scheduled - 86'400)));
      auto n = storage::run_sync(db, [&](storage::connection& c) {
        return storage::rollup_day(c, text, domain::household_tables());
      });
      return fmt::format("{}: {} rollup rows", text, n);
    });
    // Backups of the embedded PostgreSQL, the newest backupKeep kept; an
    // external database's are its operator's (docs/operations.md).
    if (!cfg.backup_dir.empty() && !cfg.database_url.empty()) {
      log::warn(
          "config: backupDir is ignored with databaseURL: back the database up with "
          "hearth backup or PostgreSQL's own tools (docs/operations.md)");
    } else if (!cfg.backup_dir.empty()) {
      r.cron("engine.backup", cfg.backup_schedule,
             [&db, dir = std::filesystem::absolute(cfg.backup_dir),
              keep = static_cast<int>(cfg.backup_keep),
              bin = cfg.postgres_bin_dir](const engine::cron_tick& tick) {
               std::filesystem::create_directories(dir);
               const auto file =
                   dir / fmt::format("hearth-{:%Y%m%dT%H%M%SZ}.dump",
                                     fmt::gmtime(static_cast<std::time_t>(tick.scheduled)));
               if (auto why = dump_database(db.url(), file, bin); !why.empty())
                 throw std::runtime_error(why);
               const int removed = prune_backups(dir, keep);
               return fmt::format("{} ({} bytes); {} older removed", file.filename().string(),
                                  std::filesystem::file_size(file), removed);
             });
    }
  };
  return m;
}

}  // namespace

std::vector<module> builtin_modules() {
  return {core_module(), apps::uptime::uptime_module(), apps::calendar::calendar_module(),
          apps::notify::notify_module()};
}

}  // namespace hearth::app
