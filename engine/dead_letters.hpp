#pragma once
// Dead letters (pubsub_dead_letter, migrations/004_pubsub_cron.up.sql): the
// messages a subscription gave up on after max_retries failed attempts
// (engine/pubsub.hpp). Operators list them, send them again through normal
// delivery, or discard them: `GET|DELETE /api/v1/admin/dead-letters`,
// `POST /api/v1/admin/dead-letters/retry` (api/admin_api.cpp) and
// `hearth dead-letters list|retry|discard` (app/dead_letters_cli.cpp).
// Functions run on a pool thread (or the CLI's own connection) and throw
// what libpqxx throws.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

namespace hearth::engine {

/// One dead letter: the message as published and how its delivery failed.
struct dead_letter {
  std::string subscription, topic;
  std::int64_t message_id = 0;  // the id it had when it failed
  std::string payload;          // JSON text, as published
  int attempts = 0;
  std::string last_error;
  std::string failed_at;  // RFC 3339, UTC
};

/// Which dead letters an operation applies to: every field that is set
/// must match ("" / 0: any).
struct dead_letter_filter {
  std::string topic, subscription;
  std::int64_t message_id = 0;
};

/// At most this many dead letters are listed, retried or discarded by one
/// call (oldest first); a caller repeats the call for more.
inline constexpr std::int64_t kDeadLetterBatch = 1000;

/// The dead letters matching `f`, oldest failure first, at most
/// kDeadLetterBatch; `total` receives how many match in all.
std::vector<dead_letter> list_dead_letters(pqxx::connection_base& conn, const dead_letter_filter& f,
                                           std::int64_t& total);

/// How many dead letters one subscription of one topic holds, and when the
/// oldest and newest failed (RFC 3339, UTC).
struct dead_letter_count {
  std::string topic, subscription;
  std::int64_t count = 0;
  std::string oldest, newest;
};

/// Every (topic, subscription) that holds dead letters, by topic then
/// subscription.
std::vector<dead_letter_count> count_dead_letters(pqxx::connection_base& conn);

/// What a retry did.
struct retry_outcome {
  std::int64_t retried = 0;  // published again, dead letter removed
  std::int64_t unknown = 0;  // matched, but their subscription is not declared: left in place
};

/// Sends the dead letters matching `f` (at most kDeadLetterBatch, oldest
/// first) back through normal delivery exactly as a new message: each gets
/// a new pubsub_message (same topic and payload) with one delivery row, for
/// its own subscription only, due now with no attempts; its dead letter is
/// deleted in the same transaction. Subscriptions not in `declared` are
/// left alone (counted in `unknown`); an empty `declared` accepts every
/// subscription (the CLI, which does not load the modules). Call the
/// registry's publish hook afterwards so this node's delivery actor wakes.
retry_outcome retry_dead_letters(pqxx::connection_base& conn, const dead_letter_filter& f,
                                 const std::vector<std::string>& declared);

/// Deletes the dead letters matching `f` (at most kDeadLetterBatch, oldest
/// first); returns how many.
std::int64_t discard_dead_letters(pqxx::connection_base& conn, const dead_letter_filter& f);

/// Messages dead-lettered by this node since it started, by (topic,
/// subscription): the `hearth_pubsub_dead_lettered_total` counter.
/// Thread-safe.
class dead_letter_counter {
 public:
  void add(const std::string& topic, const std::string& subscription);
  std::map<std::pair<std::string, std::string>, std::uint64_t> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts_;
};

/// The process's counter.
dead_letter_counter& dead_letters_counted();

}  // namespace hearth::engine
