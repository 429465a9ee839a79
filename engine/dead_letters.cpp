#include "engine/dead_letters.hpp"

#include "engine/store.hpp"

namespace hearth::engine {
namespace {

// $1 topic, $2 subscription ('' = any), $3 message id (0 = any).
constexpr const char* kMatch =
    "($1 = '' OR topic = $1) AND ($2 = '' OR subscription = $2) AND ($3 = 0 OR message_id = $3)";

std::string select_sql(const char* tail) {
  return std::string(
             "SELECT subscription, topic, message_id, payload::text, attempts, last_error, "
             "  to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
             "FROM pubsub_dead_letter WHERE ") +
         kMatch + tail;
}

const std::string kList = select_sql(" ORDER BY failed_at, subscription, message_id LIMIT $4");
const std::string kCount = std::string("SELECT count(*) FROM pubsub_dead_letter WHERE ") + kMatch;
// Locked, so two retries of the same letters cannot both publish them.
const std::string kLockBatch = select_sql(
    " AND ($5::text[] = '{}' OR subscription = ANY($5::text[])) "
    "ORDER BY failed_at, subscription, message_id LIMIT $4 FOR UPDATE SKIP LOCKED");
const std::string kCountUnknown =
    kCount + " AND $4::text[] <> '{}' AND NOT (subscription = ANY($4::text[]))";
constexpr const char* kRepublish =
    "INSERT INTO pubsub_message (topic, payload) VALUES ($1, $2::jsonb) RETURNING id";
constexpr const char* kDeliver =
    "INSERT INTO pubsub_delivery (subscription, message_id) VALUES ($1, $2)";
constexpr const char* kDelete =
    "DELETE FROM pubsub_dead_letter WHERE subscription = $1 AND message_id = $2";
const std::string kDiscard =
    std::string(
        "DELETE FROM pubsub_dead_letter WHERE (subscription, message_id) IN ("
        "  SELECT subscription, message_id FROM pubsub_dead_letter WHERE ") +
    kMatch + " ORDER BY failed_at, subscription, message_id LIMIT $4)";

constexpr const char* kSummary =
    "SELECT topic, subscription, count(*), "
    "  to_char(min(failed_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "  to_char(max(failed_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
    "FROM pubsub_dead_letter GROUP BY topic, subscription ORDER BY topic, subscription";

dead_letter to_dead_letter(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>(),
          r[3].as<std::string>(), r[4].as<int>(),         r[5].as<std::string>(),
          r[6].as<std::string>()};
}

}  // namespace

std::vector<dead_letter> list_dead_letters(pqxx::connection_base& conn, const dead_letter_filter& f,
                                           std::int64_t& total) {
  pqxx::read_transaction tx{conn};
  std::vector<dead_letter> out;
  for (const auto& r :
       tx.exec_params(kList, f.topic, f.subscription, f.message_id, kDeadLetterBatch))
    out.push_back(to_dead_letter(r));
  total = tx.exec_params1(kCount, f.topic, f.subscription, f.message_id)[0].as<std::int64_t>();
  return out;
}

std::vector<dead_letter_count> count_dead_letters(pqxx::connection_base& conn) {
  pqxx::read_transaction tx{conn};
  std::vector<dead_letter_count> out;
  for (const auto& r : tx.exec(kSummary))
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>(),
                   r[3].as<std::string>(), r[4].as<std::string>()});
  return out;
}

retry_outcome retry_dead_letters(pqxx::connection_base& conn, const dead_letter_filter& f,
                                 const std::vector<std::string>& declared) {
  pqxx::work tx{conn};
  retry_outcome out;
  const auto known = text_array(declared);
  for (const auto& r :
       tx.exec_params(kLockBatch, f.topic, f.subscription, f.message_id, kDeadLetterBatch, known)) {
    const auto d = to_dead_letter(r);
    const auto id = tx.exec_params1(kRepublish, d.topic, d.payload)[0].as<std::int64_t>();
    tx.exec_params0(kDeliver, d.subscription, id);
    tx.exec_params0(kDelete, d.subscription, d.message_id);
    ++out.retried;
  }
  out.unknown = tx.exec_params1(kCountUnknown, f.topic, f.subscription, f.message_id, known)[0]
                    .as<std::int64_t>();
  tx.commit();
  return out;
}

std::int64_t discard_dead_letters(pqxx::connection_base& conn, const dead_letter_filter& f) {
  pqxx::work tx{conn};
  auto n = static_cast<std::int64_t>(
      tx.exec_params0(kDiscard, f.topic, f.subscription, f.message_id, kDeadLetterBatch)
          .affected_rows());
  tx.commit();
  return n;
}

void dead_letter_counter::add(const std::string& topic, const std::string& subscription) {
  std::lock_guard lock(mutex_);
  ++counts_[{topic, subscription}];
}

std::map<std::pair<std::string, std::string>, std::uint64_t> dead_letter_counter::snapshot() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

dead_letter_counter& dead_letters_counted() {
  static dead_letter_counter c;
  return c;
}

}  // namespace hearth::engine
