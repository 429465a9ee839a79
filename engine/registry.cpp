#include <fmt/format.h>

#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "engine/pubsub.hpp"
#include "engine/store.hpp"

namespace hearth::engine {
namespace detail {
namespace {

constexpr const char* kInsertMessage =
    "INSERT INTO pubsub_message (topic, payload) VALUES ($1, $2::jsonb) RETURNING id";
// One delivery row per subscription of the topic, in the same transaction.
constexpr const char* kInsertDeliveries =
    "INSERT INTO pubsub_delivery (subscription, message_id) "
    "SELECT unnest($1::text[]), $2";

}  // namespace

namespace {
constexpr std::size_t kRememberedPublishers = 4096;
std::mutex g_publishers_mutex;
std::unordered_map<std::int64_t, trace::context> g_publishers;
std::deque<std::int64_t> g_publisher_order;  // oldest first
}  // namespace

void remember_publisher(std::int64_t id, const trace::context& c) {
  std::lock_guard lock(g_publishers_mutex);
  if (!g_publishers.emplace(id, c).second) return;
  g_publisher_order.push_back(id);
  if (g_publisher_order.size() > kRememberedPublishers) {
    g_publishers.erase(g_publisher_order.front());
    g_publisher_order.pop_front();
  }
}

trace::context publisher_of(std::int64_t id) {
  std::lock_guard lock(g_publishers_mutex);
  auto it = g_publishers.find(id);
  return it == g_publishers.end() ? trace::context{} : it->second;
}

std::int64_t publish_json(pqxx::work& tx, const topic_record& t, const std::string& payload) {
  auto id = tx.exec_params1(kInsertMessage, t.name, payload)[0].as<std::int64_t>();
  if (trace::enabled())
    if (auto c = trace::current(); c.valid()) remember_publisher(id, c);
  if (!t.subscriptions.empty()) {
    tx.exec_params0(kInsertDeliveries, text_array(t.subscriptions), id);
    if (t.published) (*t.published)();
  }
  return id;
}

}  // namespace detail

std::shared_ptr<detail::topic_record> registry::add_topic(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("topic: empty name");
  for (const auto& t : topics_)
    if (t->name == name) throw std::invalid_argument(fmt::format("topic {}: declared twice", name));
  topics_.push_back(
      std::make_shared<detail::topic_record>(detail::topic_record{name, nullptr, {}, published_}));
  return topics_.back();
}

void registry::add_subscription(detail::topic_record& t, subscription s) {
  if (s.name.empty()) throw std::invalid_argument("subscription: empty name");
  for (const auto& existing : subscriptions_)
    if (existing.name == s.name)
      throw std::invalid_argument(fmt::format("subscription {}: declared twice", s.name));
  if (s.options.max_concurrency < 1 || s.options.max_retries < 0 ||
      s.options.min_backoff.count() < 1 || s.options.max_backoff < s.options.min_backoff ||
      s.options.ack_deadline.count() < 1)
    throw std::invalid_argument(fmt::format("subscription {}: invalid options", s.name));
  t.subscriptions.push_back(s.name);
  subscriptions_.push_back(std::move(s));
}

void registry::cron(const std::string& name, const std::string& schedule,
                    std::function<std::string(const cron_tick&)> run) {
  for (const auto& j : cron_jobs_)
    if (j.name == name) throw std::invalid_argument(fmt::format("cron {}: declared twice", name));
  try {
    cron_jobs_.push_back({name, cron_schedule::parse(schedule), std::move(run)});
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("cron {}: {}", name, e.what()));
  }
}

}  // namespace hearth::engine
