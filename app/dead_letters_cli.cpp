// `hearth dead-letters list|retry|discard`: the Pub/Sub dead letters
// (engine/dead_letters.hpp) from the database, for operators; no running
// node is needed (a retried message is claimed by a node's delivery actor
// within its poll, at most about 1 s when idle).

#include <fmt/format.h>

#include <optional>
#include <pqxx/pqxx>

#include "app/serve.hpp"
#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "engine/dead_letters.hpp"
#include "storage/embedded_postgres.hpp"

namespace hearth::app {

int dead_letters(const config::config& cfg, const std::string& action,
                 const engine::dead_letter_filter& filter) {
  log::init("warn");  // stdout is the report
  std::optional<storage::embedded_postgres> embedded;
  auto url = database_url(cfg, embedded);
  pqxx::connection conn{url};
  try {
    if (action == "list") {
      std::int64_t total = 0;
      auto letters = engine::list_dead_letters(conn, filter, total);
      if (letters.empty()) {
        fmt::print("no dead letters\n");
        return 0;
      }
      fmt::print("{:<24} {:<24} {:>10} {:>8}  {:<24} {}\n", "SUBSCRIPTION", "TOPIC", "MESSAGE",
                 "ATTEMPTS", "FAILED AT", "LAST ERROR");
      for (const auto& d : letters)
        fmt::print("{:<24} {:<24} {:>10} {:>8}  {:<24} {}\n", d.subscription, d.topic, d.message_id,
                   d.attempts, d.failed_at, log::first_line(d.last_error));
      fmt::print("{} dead letters match{}\n", total,
                 total > static_cast<std::int64_t>(letters.size())
                     ? fmt::format(" (the oldest {} listed)", letters.size())
                     : "");
    } else if (action == "retry") {
      auto out = engine::retry_dead_letters(conn, filter, {});
      fmt::print("{} dead letters sent again\n", out.retried);
    } else {
      fmt::print("{} dead letters discarded\n", engine::discard_dead_letters(conn, filter));
    }
  } catch (const pqxx::undefined_table&) {
    fmt::print(stderr,
               "hearth: no Pub/Sub tables in this database yet: start a node or run `hearth "
               "migrate`\n");
    return 1;
  }
  return 0;
}

}  // namespace hearth::app
