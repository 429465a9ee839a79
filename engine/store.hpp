#pragma once
// The engine's SQL: Pub/Sub claims, acknowledgements, dead letters and
// purges, and cron tick claims (engine/pubsub.hpp describes the guarantees). Functions run on a
// pool thread with that thread's connection and throw what libpqxx throws.

#include <chrono>
#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace hearth::engine {

/// A PostgreSQL text[] literal of `items` (each quoted and escaped), for a
/// `$n::text[]` parameter (libpqxx 6 has no array parameters).
std::string text_array(const std::vector<std::string>& items);

/// A delivery claimed by this node until its ack deadline.
struct claimed_delivery {
  std::int64_t message_id = 0;
  int attempt = 0;  // this attempt's number, from 1
  std::string topic;
  std::string payload;  // JSON text
  // When the claim was asked for (before the lease started): a handler that
  // has not started by claimed_at + ack deadline leaves it to the next claim.
  std::chrono::steady_clock::time_point claimed_at{};
};

/// Claims up to `limit` due deliveries of `subscription` for `node_id`
/// (FOR UPDATE SKIP LOCKED: nodes never claim the same row at once); each is
/// locked for `ack_deadline`, after which anyone may claim it again.
std::vector<claimed_delivery> claim_deliveries(pqxx::connection_base& conn,
                                               const std::string& subscription, int limit,
                                               std::chrono::milliseconds ack_deadline,
                                               const std::string& node_id);

/// Marks a delivery done.
void ack_delivery(pqxx::connection_base& conn, const std::string& subscription,
                  std::int64_t message_id);

/// Records failed attempt number `attempt` claimed by `node_id`: retried
/// after `backoff`, or, when `dead` (no retries left), moved to
/// pubsub_dead_letter with `error`. Does nothing when the delivery was
/// claimed again meanwhile (the handler overran its ack deadline): the newer
/// claim decides.
void fail_delivery(pqxx::connection_base& conn, const std::string& subscription,
                   std::int64_t message_id, int attempt, const std::string& node_id,
                   const std::string& error, std::chrono::milliseconds backoff, bool dead);

/// The last run of `task` (for the cron listing).
struct task_run {
  std::int64_t tick = -1;  // -1: never ran
  std::string node_id, started_at, finished_at, outcome;
  std::int64_t duration_ms = -1;  // -1 while running
};
task_run last_run(pqxx::connection_base& conn, const std::string& task);

/// The ticks of `task` in scheduler_run at or after `from`, ascending, and
/// among them those claimed under a term older than `term` and never
/// started (a new leader's catch-up looks for the holes among the first and
/// takes over the second).
struct claimed_ticks_result {
  std::vector<std::int64_t> claimed, unstarted;
};
claimed_ticks_result claimed_ticks(pqxx::connection_base& conn, const std::string& task,
                                   std::int64_t from, std::int64_t term);

/// Housekeeping: deletes messages published more than `older_than` ago
/// whose every delivery is done (their delivery rows go with them; dead
/// letters keep their own copy); returns how many.
std::int64_t purge_delivered_messages(pqxx::connection_base& conn, std::chrono::seconds older_than);

/// Outcome of claiming a cron tick.
enum class fenced_run { ran, failed, stale_term, already_ran };

/// Claim, start, run, finish: the cron jobs' steps (engine/pubsub.hpp).
/// Claims (`task`, `tick`) in scheduler_run for the leader of `term`, in
/// one transaction that locks the term row (FOR SHARE, so a new leader's
/// term increment waits for it). Refuses when `term` is no longer current
/// (stale_term) or the tick was started, or claimed under a newer term
/// (already_ran). A claim of this term or an older one that was never
/// started is taken over. ran means "claimed: start it (start_tick_run)".
fenced_run claim_tick(pqxx::connection_base& conn, const std::string& task, std::int64_t tick,
                      std::int64_t term, const std::string& node_id);

/// Marks a claimed tick started, under the same fence as claim_tick: true
/// when this node (`node_id`, `term`) still holds the claim, `term` is
/// current and the tick was not started; only then may the job run. A
/// start whose commit is lost in doubt is not retried (the tick stays
/// started and unfinished, like a run its node died in: at most once).
bool start_tick_run(pqxx::connection_base& conn, const std::string& task, std::int64_t tick,
                    std::int64_t term, const std::string& node_id);

/// Records the end of a claimed tick: its outcome text (or "error: …",
/// at most 2000 bytes) and, through finished_at, its duration.
void finish_tick(pqxx::connection_base& conn, const std::string& task, std::int64_t tick,
                 const std::string& outcome);

}  // namespace hearth::engine
