// The modules built into hearth: the engine's own housekeeping jobs (as
// Homechart's task runner: session expiry runs in the scheduler's tick;
// here the outbox purge and the daily rollup) and the applications.

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "app/module.hpp"
#include "apps/uptime/monitor.hpp"
#include "config/logging.hpp"
#include "storage/pubsub.hpp"

namespace hearth::app {
namespace {

module core_module() {
  module m;
  m.name = "core";
  m.declare = [](engine::registry& r, const config::config& cfg, storage::pool& db) {
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
        return storage::purge_delivered_messages(c, std::chrono::hours{24 * 7});
      });
      return fmt::format("purged {} delivered messages", n);
    });
    // Yesterday's counts per household and table, a few minutes after midnight UTC.
    r.cron("engine.daily-rollup", "5 0 * * *", [&db](const engine::cron_tick& tick) {
      // UTC: fmt 9 would format a time_point in local time.
      auto text = fmt::format("{:%Y-%m-%d}",
                              fmt::gmtime(static_cast<std::time_t>(tick.scheduled - 86'400)));
      auto n = storage::run_sync(
          db, [&](storage::connection& c) { return storage::rollup_day(c, text); });
      return fmt::format("{}: {} rollup rows", text, n);
    });
  };
  return m;
}

}  // namespace

std::vector<module> builtin_modules() { return {core_module(), apps::uptime::uptime_module()}; }

}  // namespace hearth::app
