#include "engine/store.hpp"

namespace hearth::engine {
namespace {

constexpr const char* kClaim =
    "UPDATE pubsub_delivery d SET attempts = d.attempts + 1, "
    "  locked_until = now() + $3 * interval '1 millisecond', locked_by = $4 "
    "FROM pubsub_message m "
    "WHERE m.id = d.message_id AND (d.subscription, d.message_id) IN ("
    "  SELECT subscription, message_id FROM pubsub_delivery "
    "  WHERE subscription = $1 AND delivered_at IS NULL AND next_attempt_at <= now() "
    "    AND (locked_until IS NULL OR locked_until < now()) "
    "  ORDER BY next_attempt_at, message_id LIMIT $2 FOR UPDATE SKIP LOCKED) "
    "RETURNING d.message_id, d.attempts, m.topic, m.payload::text";
constexpr const char* kAck =
    "UPDATE pubsub_delivery SET delivered_at = now(), locked_until = NULL, last_error = NULL "
    "WHERE subscription = $1 AND message_id = $2 AND delivered_at IS NULL";
constexpr const char* kRetry =
    "UPDATE pubsub_delivery SET locked_until = NULL, last_error = $3, "
    "  next_attempt_at = now() + $4 * interval '1 millisecond' "
    "WHERE subscription = $1 AND message_id = $2 AND delivered_at IS NULL "
    "  AND attempts = $5 AND locked_by = $6";
constexpr const char* kDeadLetter =
    "WITH d AS (DELETE FROM pubsub_delivery WHERE subscription = $1 AND message_id = $2 "
    "  AND delivered_at IS NULL AND attempts = $4 AND locked_by = $5 "
    "  RETURNING subscription, message_id, attempts) "
    "INSERT INTO pubsub_dead_letter (subscription, message_id, topic, payload, attempts, "
    "  last_error) "
    "SELECT d.subscription, d.message_id, m.topic, m.payload, d.attempts, $3 "
    "FROM d JOIN pubsub_message m ON m.id = d.message_id "
    "ON CONFLICT (subscription, message_id) DO NOTHING";
constexpr const char* kLastRun =
    "SELECT tick, node_id, hearth_ts(started_at), coalesce(hearth_ts(finished_at), ''), "
    "  coalesce(outcome, ''), "
    "  coalesce((extract(epoch FROM finished_at - started_at) * 1000)::bigint, -1) "
    "FROM scheduler_run WHERE task = $1 ORDER BY tick DESC LIMIT 1";
constexpr const char* kPurgeMessages =
    "DELETE FROM pubsub_message m WHERE m.published_at < now() - $1 * interval '1 second' "
    "AND NOT EXISTS (SELECT 1 FROM pubsub_delivery d "
    "  WHERE d.message_id = m.id AND d.delivered_at IS NULL)";

constexpr const char* kClaimedTicks =
    "SELECT tick, run_at IS NULL AND term < $3 FROM scheduler_run "
    "WHERE task = $1 AND tick >= $2 ORDER BY tick";
constexpr const char* kLockTerm = "SELECT term FROM cluster_leader WHERE id = 1 FOR SHARE";
// A claim not started yet (run_at NULL) by a leader of this term or an
// older one is taken over: its claimant never learnt of it (the commit was
// lost in doubt) or was deposed before it started the run.
constexpr const char* kInsertRun =
    "INSERT INTO scheduler_run AS r (task, tick, term, node_id, run_at) "
    "VALUES ($1, $2, $3, $4, NULL) "
    "ON CONFLICT (task, tick) DO UPDATE SET term = excluded.term, node_id = excluded.node_id, "
    "  started_at = now() "
    "WHERE r.run_at IS NULL AND r.term <= excluded.term";
// Under the same fence as the claim: a claimant deposed since, or whose
// claim was taken over, starts nothing.
constexpr const char* kStartRun =
    "UPDATE scheduler_run SET run_at = clock_timestamp() "
    "WHERE task = $1 AND tick = $2 AND term = $3 AND node_id = $4 AND run_at IS NULL "
    "  AND term = (SELECT term FROM cluster_leader WHERE id = 1 FOR SHARE)";
constexpr const char* kFinishRun =
    "UPDATE scheduler_run SET finished_at = clock_timestamp(), outcome = $3 "
    "WHERE task = $1 AND tick = $2";

}  // namespace

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::int64_t purge_delivered_messages(pqxx::connection_base& conn,
                                      std::chrono::seconds older_than) {
  pqxx::work tx{conn};
  auto n = static_cast<std::int64_t>(
      tx.exec_params0(kPurgeMessages, older_than.count()).affected_rows());
  tx.commit();
  return n;
}

std::vector<claimed_delivery> claim_deliveries(pqxx::connection_base& conn,
                                               const std::string& subscription, int limit,
                                               std::chrono::milliseconds ack_deadline,
                                               const std::string& node_id) {
  const auto asked = std::chrono::steady_clock::now();
  // One statement, atomic on its own: no BEGIN/COMMIT round trips (this
  // runs every pubsubPollMs per subscription, mostly finding nothing).
  conn.activate();  // a pool connection is lazy: a nontransaction needs it open
  pqxx::nontransaction tx{conn};
  std::vector<claimed_delivery> out;
  for (const auto& r : tx.exec_params(kClaim, subscription, limit, ack_deadline.count(), node_id))
    out.push_back({r[0].as<std::int64_t>(), r[1].as<int>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), asked});
  return out;
}

void ack_delivery(pqxx::connection_base& conn, const std::string& subscription,
                  std::int64_t message_id) {
  pqxx::work tx{conn};
  tx.exec_params0(kAck, subscription, message_id);
  tx.commit();
}

void fail_delivery(pqxx::connection_base& conn, const std::string& subscription,
                   std::int64_t message_id, int attempt, const std::string& node_id,
                   const std::string& error, std::chrono::milliseconds backoff, bool dead) {
  pqxx::work tx{conn};
  auto text = error.substr(0, 2000);
  if (dead)
    tx.exec_params0(kDeadLetter, subscription, message_id, text, attempt, node_id);
  else
    tx.exec_params0(kRetry, subscription, message_id, text, backoff.count(), attempt, node_id);
  tx.commit();
}

task_run last_run(pqxx::connection_base& conn, const std::string& task) {
  pqxx::read_transaction tx{conn};
  task_run out;
  auto r = tx.exec_params(kLastRun, task);
  if (r.empty()) return out;
  out.tick = r[0][0].as<std::int64_t>();
  out.node_id = r[0][1].as<std::string>();
  out.started_at = r[0][2].as<std::string>();
  out.finished_at = r[0][3].as<std::string>();
  out.outcome = r[0][4].as<std::string>();
  out.duration_ms = r[0][5].as<std::int64_t>();
  return out;
}

claimed_ticks_result claimed_ticks(pqxx::connection_base& conn, const std::string& task,
                                   std::int64_t from, std::int64_t term) {
  pqxx::read_transaction tx{conn};
  claimed_ticks_result out;
  for (const auto& row : tx.exec_params(kClaimedTicks, task, from, term)) {
    out.claimed.push_back(row[0].as<std::int64_t>());
    if (row[1].as<bool>()) out.unstarted.push_back(row[0].as<std::int64_t>());
  }
  return out;
}

fenced_run claim_tick(pqxx::connection_base& conn, const std::string& task, std::int64_t tick,
                      std::int64_t term, const std::string& node_id) {
  pqxx::work tx{conn};
  if (tx.exec1(kLockTerm)[0].as<std::int64_t>() != term) return fenced_run::stale_term;
  if (tx.exec_params0(kInsertRun, task, tick, term, node_id).affected_rows() == 0)
    return fenced_run::already_ran;
  tx.commit();
  return fenced_run::ran;
}

bool start_tick_run(pqxx::connection_base& conn, const std::string& task, std::int64_t tick,
                    std::int64_t term, const std::string& node_id) {
  pqxx::work tx{conn};
  const bool started = tx.exec_params0(kStartRun, task, tick, term, node_id).affected_rows() == 1;
  tx.commit();
  return started;
}

void finish_tick(pqxx::connection_base& conn, const std::string& task, std::int64_t tick,
                 const std::string& outcome) {
  pqxx::work tx{conn};
  tx.exec_params0(kFinishRun, task, tick, outcome.substr(0, 2000));
  tx.commit();
}

}  // namespace hearth::engine
