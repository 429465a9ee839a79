#pragma once
// hearth's building blocks for background work, declared in a few lines as
// in Encore (pubsub.NewTopic / NewSubscription, cron.NewJob) and made
// reliable across the cluster by the engine:
//
//   struct site_transition { std::string site_id, url, from, to; };
//   BOOST_DESCRIBE_STRUCT(site_transition, (), (site_id, url, from, to))
//
//   void declare(engine::registry& r) {
//     auto transitions = r.declare_topic<site_transition>("site.transition");
//     r.subscribe(transitions, "slack-webhook", {.max_retries = 5},
//                 [](const engine::message_info& m, const site_transition& t) {
//                   post_to_slack(t);  // throw to retry with backoff
//                 });
//     r.cron("uptime.check-all", "every 5m", [](const engine::cron_tick&) {
//       return check_all_sites();  // outcome text, logged in scheduler_run
//     });
//   }
//   ... inside a storage transaction: transitions.publish(tx, {...});
//
// Topics: a message type T that Boost.JSON can convert (Boost.Describe or
// tag_invoke), serialised as JSON. publish() writes the message and one
// delivery row per subscription in the caller's transaction (a transactional
// outbox: no message without its commit, no commit without its message).
//
// Subscriptions: at-least-once delivery to each named subscription, on any
// node of the cluster (rows are claimed with FOR UPDATE SKIP LOCKED). A
// claimed delivery must be acknowledged (handler returns) within the ack
// deadline, or it is claimed again; a handler that throws is retried after
// min_backoff · 2^(attempt-1), capped at max_backoff; after max_retries
// retries the message goes to pubsub_dead_letter with its last error.
// Handlers get the message id (stable across retries) to be idempotent, and
// run on the engine's handler threads, never on an HTTP or CAF thread.
// At most max_concurrency deliveries of a subscription run at once per node.
//
// Cron jobs: run only on the leader, once per scheduled tick across the
// cluster: each tick is claimed in scheduler_run (task "cron:<name>", tick =
// scheduled time) under the leader's fencing term before the handler runs,
// so a failover neither doubles a tick (the claim is unique) nor skips it (a
// new leader claims every tick since the last one the cluster claimed, at
// most 100 per job, and a claim that failed is claimed again).

#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "engine/cron.hpp"
#include "trace/trace.hpp"

namespace hearth::engine {

/// Delivery settings of one subscription (Encore's SubscriptionConfig).
struct subscription_options {
  std::chrono::milliseconds ack_deadline{30'000};
  std::chrono::milliseconds min_backoff{1'000};
  std::chrono::milliseconds max_backoff{300'000};
  int max_retries = 5;      // retries after the first attempt, then dead letter
  int max_concurrency = 8;  // deliveries in flight per node
};

/// What a handler learns besides the message.
struct message_info {
  std::int64_t id = 0;  // the message's id: the same on every retry
  int attempt = 1;      // 1 for the first delivery
  std::string topic;
  std::string subscription;
};

/// A scheduled run of a cron job.
struct cron_tick {
  std::string job;
  std::int64_t scheduled = 0;  // seconds since the epoch (UTC): the tick's id
  std::int64_t term = 0;       // the leader's fencing term
};

namespace detail {
/// Called after every publish (on the publishing thread, inside its
/// transaction): wakes this node's delivery actor from its idle backoff.
class publish_hook {
 public:
  void set(std::function<void()> f) {
    std::lock_guard lock(mutex_);
    f_ = std::move(f);
  }
  void operator()() const {
    std::lock_guard lock(mutex_);
    if (f_) f_();
  }

 private:
  mutable std::mutex mutex_;
  std::function<void()> f_;
};
struct topic_record {
  std::string name;
  const std::type_info* type = nullptr;     // the message type T of topic<T>
  std::vector<std::string> subscriptions;   // complete once the registry is built
  std::shared_ptr<publish_hook> published;  // the registry's
};
/// Tracing (trace/trace.hpp): the span that published message `id` on this
/// node, remembered (with tracing on) for the last 4096 messages published
/// here, so that a delivery on this node can link to it; an invalid context
/// when unknown (published on another node, or long ago). Thread-safe.
void remember_publisher(std::int64_t id, const trace::context& c);
trace::context publisher_of(std::int64_t id);
/// Inserts the message and its delivery rows inside `tx`; returns its id.
std::int64_t publish_json(pqxx::work& tx, const topic_record& t, const std::string& payload);
}  // namespace detail

/// A typed topic. Copyable; publish() is thread-safe.
template <class T>
class topic {
 public:
  const std::string& name() const { return record_->name; }

  /// Publishes `message` inside `tx` (delivered only if `tx` commits).
  /// Returns the message id. Throws what libpqxx throws.
  std::int64_t publish(pqxx::work& tx, const T& message) const {
    return detail::publish_json(tx, *record_,
                                boost::json::serialize(boost::json::value_from(message)));
  }

 private:
  friend class registry;
  std::shared_ptr<detail::topic_record> record_;
};

/// A subscription, type-erased (what the delivery actor runs).
struct subscription {
  std::string name;
  std::string topic;
  subscription_options options;
  /// Converts the JSON to the topic's type and calls the handler; throws
  /// to fail the attempt.
  std::function<void(const message_info&, const boost::json::value&)> deliver;
};

/// A cron job: `run` returns a short outcome text or throws.
struct cron_job {
  std::string name;
  cron_schedule schedule;
  std::function<std::string(const cron_tick&)> run;
};

/// Everything the application declares at start-up, before serving. Not
/// thread-safe while declaring; read-only afterwards.
class registry {
 public:
  /// Declares a topic; throws std::invalid_argument when the name is taken.
  template <class T>
  topic<T> declare_topic(const std::string& name) {
    topic<T> t;
    t.record_ = add_topic(name);
    t.record_->type = &typeid(T);
    return t;
  }

  /// The topic `name` declared earlier (by any module) with message type
  /// T, for a part of the node that publishes on a topic another declares
  /// (the sign-in routes publish account e-mails, apps/notify sends them).
  /// nullopt when no topic has that name; throws std::logic_error when it
  /// was declared with another type.
  template <class T>
  std::optional<topic<T>> find_topic(const std::string& name) const {
    for (const auto& r : topics_) {
      if (r->name != name) continue;
      if (!r->type || *r->type != typeid(T))
        throw std::logic_error("topic " + name + " was declared with another message type");
      topic<T> t;
      t.record_ = r;
      return t;
    }
    return std::nullopt;
  }

  /// Subscribes `name` (unique per topic) to `t`; `handler` throws to retry.
  template <class T>
  void subscribe(const topic<T>& t, const std::string& name, subscription_options options,
                 std::type_identity_t<std::function<void(const message_info&, const T&)>> handler) {
    add_subscription(*t.record_,
                     subscription{name, t.name(), options,
                                  [handler = std::move(handler)](const message_info& m,
                                                                 const boost::json::value& v) {
                                    handler(m, boost::json::value_to<T>(v));
                                  }});
  }

  /// Declares a cron job; throws std::invalid_argument for a bad schedule
  /// (see cron_schedule) or a name already taken.
  void cron(const std::string& name, const std::string& schedule,
            std::function<std::string(const cron_tick&)> run);

  const std::vector<subscription>& subscriptions() const { return subscriptions_; }
  /// Called after each publish() of any topic (see detail::publish_hook);
  /// the delivery actor sets it while it runs.
  detail::publish_hook& published() const { return *published_; }
  const std::vector<cron_job>& cron_jobs() const { return cron_jobs_; }

 private:
  std::shared_ptr<detail::topic_record> add_topic(const std::string& name);
  void add_subscription(detail::topic_record& t, subscription s);

  std::vector<std::shared_ptr<detail::topic_record>> topics_;
  std::shared_ptr<detail::publish_hook> published_ = std::make_shared<detail::publish_hook>();
  std::vector<subscription> subscriptions_;
  std::vector<cron_job> cron_jobs_;
};

}  // namespace hearth::engine
