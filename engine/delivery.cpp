#include "engine/delivery.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <utility>

#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "engine/dead_letters.hpp"
#include "engine/messages.hpp"
#include "storage/pool.hpp"
#include "trace/trace.hpp"

namespace hearth::engine {
namespace {

struct delivery_state {
  static inline const char* name = "pubsub_delivery";
  storage::pool* db = nullptr;
  const engine::registry* registry = nullptr;
  std::string node_id;
  std::chrono::milliseconds poll{200};
  boost::asio::thread_pool* handlers = nullptr;
  int threads = 1;  // handler threads
  struct slot {
    int in_flight = 0;
    bool claiming = false;
    bool more = false;  // the last claim filled every free slot: more may be due
  };
  std::vector<slot> slots;
  // Idle backoff: after kBusyPolls rounds with nothing claimed, nothing in
  // flight and no local publish, the period doubles up to idle_poll. A
  // claim that finds work, a settled delivery or a publish on this node
  // (engine::registry::published) brings it back to `poll` at once.
  int quiet_rounds = 0;
  std::uint64_t chain = 0;  // the timer chain in force (a wake-up starts a new one)
  std::chrono::milliseconds idle_poll{1'000};
};

constexpr int kBusyPolls = 10;

using self_ptr = delivery_actor::stateful_pointer<delivery_state>;

std::chrono::milliseconds next_delay(const delivery_state& st) {
  if (st.quiet_rounds < kBusyPolls) return st.poll;
  auto d = st.poll;
  for (int i = kBusyPolls; i <= st.quiet_rounds && d < st.idle_poll; ++i) d *= 2;
  return std::min(d, st.idle_poll);
}

bool idle(const delivery_state& st) {
  for (const auto& s : st.slots)
    if (s.in_flight > 0 || s.claiming || s.more) return false;
  return true;
}

// Something happened: poll at `poll` again, starting a new timer chain when
// the one in force sleeps longer than that.
void wake(self_ptr self) {
  auto& st = self->state;
  bool backing_off = next_delay(st) > st.poll;
  st.quiet_rounds = 0;
  if (backing_off) self->delayed_send(self, st.poll, poll_atom::value, ++st.chain);
}

void claim(self_ptr self, std::size_t index) {
  auto& st = self->state;
  auto& slot = st.slots[index];
  const auto& sub = st.registry->subscriptions()[index];
  // Never more in flight than handler threads: a claimed delivery's lease
  // runs while it waits for one.
  int free = std::min(sub.options.max_concurrency, st.threads) - slot.in_flight;
  if (free <= 0 || slot.claiming) return;
  slot.claiming = true;
  delivery_actor me = self;
  // A failed or refused claim answers an empty list: the slot is free again.
  storage::run_on_pool(
      *st.db,
      [name = sub.name, free, deadline = sub.options.ack_deadline, node = st.node_id](
          storage::connection& conn) { return claim_deliveries(conn, name, free, deadline, node); },
      [me, index, name = sub.name](auto outcome) {
        if (!outcome.ok())
          log::warn_once("pubsub.claim", fmt::format("pubsub: cannot claim deliveries of {}: {}",
                                                     name, log::first_line(outcome.error)));
        caf::anon_send(me, claimed_atom::value, index,
                       outcome.ok() ? std::move(*outcome.value) : delivery_list{});
      });
}

// Runs on a handler thread: the handler, then its acknowledgement or failure.
void deliver(storage::pool* db, const engine::subscription& sub, const std::string& node_id,
             claimed_delivery d) {
  if (std::chrono::steady_clock::now() >= d.claimed_at + sub.options.ack_deadline) {
    // Waited for a handler thread past its lease: another claim may run it
    // now; running it here as well would only add a duplicate.
    log::info("pubsub: {} message {}: lease expired before a handler thread was free", sub.name,
              d.message_id);
    return;
  }
  engine::message_info info{d.message_id, d.attempt, d.topic, sub.name};
  // A consumer span per attempt, the root of its own trace (the publisher's
  // context is not stored with the message: it is linked when the message
  // was published on this node, engine::detail::publisher_of); the
  // handler's outgoing HTTP calls and the ack/fail pool jobs are its children.
  trace::span span;
  if (trace::enabled()) {
    span = trace::span("pubsub.deliver " + sub.name, trace::kind::consumer, {});
    span.set("messaging.system", "hearth");
    span.set("messaging.destination.name", d.topic);
    span.set("messaging.message.id", std::to_string(d.message_id));
    span.set("hearth.subscription", sub.name);
    span.set("hearth.attempt", static_cast<std::int64_t>(d.attempt));
    span.add_link(engine::detail::publisher_of(d.message_id));
  }
  trace::scope in(span.ctx());
  std::string error;
  try {
    sub.deliver(info, boost::json::parse(d.payload));
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "handler failed";
  } catch (...) {
    error = "handler failed";
  }
  if (!error.empty()) span.set_error(error);
  try {
    if (error.empty()) {
      storage::run_sync(
          *db, [&](storage::connection& conn) { ack_delivery(conn, sub.name, d.message_id); });
      log::debug("pubsub: {} delivered message {} (attempt {})", sub.name, d.message_id, d.attempt);
      return;
    }
    // d.attempt counts attempts so far; retries left while attempt ≤ max_retries.
    bool dead = d.attempt > sub.options.max_retries;
    auto backoff = retry_backoff(sub.options, d.attempt);
    storage::run_sync(*db, [&](storage::connection& conn) {
      fail_delivery(conn, sub.name, d.message_id, d.attempt, node_id, error, backoff, dead);
    });
    if (dead) {
      dead_letters_counted().add(sub.topic, sub.name);
      log::warn("pubsub: {} gave up on message {} after {} attempts: {}", sub.name, d.message_id,
                d.attempt, error);
    } else {
      log::info("pubsub: {} message {} attempt {} failed ({}); retry in {} ms", sub.name,
                d.message_id, d.attempt, error, backoff.count());
    }
  } catch (const std::exception& e) {
    // The delivery stays claimed until its ack deadline and is then retried.
    log::warn_once("pubsub.outcome",
                   fmt::format("{} cannot record the outcome of a message: {}", sub.name,
                               log::first_line(e.what())),
                   fmt::format("pubsub: message {}", d.message_id));
  }
}

delivery_actor::behavior_type delivery(self_ptr self, storage::pool* db,
                                       const engine::registry* registry, std::string node_id,
                                       std::chrono::milliseconds poll,
                                       boost::asio::thread_pool* handlers, int threads) {
  self->set_default_handler(drop_unexpected);  // never print a peer's values
  auto& st = self->state;
  st.db = db;
  st.registry = registry;
  st.node_id = std::move(node_id);
  st.poll = poll;
  st.handlers = handlers;
  st.threads = std::max(threads, 1);
  st.idle_poll = std::max(st.poll, std::chrono::milliseconds(1'000));
  st.slots.resize(registry->subscriptions().size());
  delivery_actor me = self;
  registry->published().set([me] { caf::anon_send(me, wake_atom::value); });
  self->attach_functor([registry] { registry->published().set(nullptr); });
  self->send(self, poll_atom::value, st.chain);
  return {
      [=](poll_atom, std::uint64_t chain) {
        auto& st = self->state;
        if (chain != st.chain) return;  // superseded by a wake-up
        if (idle(st)) st.quiet_rounds = std::min(st.quiet_rounds + 1, 1'000);
        self->delayed_send(self, next_delay(st), poll_atom::value, chain);
        for (std::size_t i = 0; i < st.slots.size(); ++i) claim(self, i);
      },
      [=](wake_atom) { wake(self); },
      [=](claimed_atom, std::size_t index, delivery_list& claimed) {
        auto& st = self->state;
        auto& slot = st.slots[index];
        const auto& sub = st.registry->subscriptions()[index];
        slot.claiming = false;
        slot.more = !claimed.empty() &&
                    static_cast<int>(claimed.size()) >=
                        std::min(sub.options.max_concurrency, st.threads) - slot.in_flight;
        if (!claimed.empty()) wake(self);
        delivery_actor me = self;
        for (auto& d : claimed) {
          ++slot.in_flight;
          boost::asio::post(*st.handlers, [me, db = st.db, &sub, node = st.node_id, index,
                                           d = std::move(d)]() mutable {
            deliver(db, sub, node, std::move(d));
            caf::anon_send(me, settled_atom::value, index);
          });
        }
      },
      [=](settled_atom, std::size_t index) {
        auto& slot = self->state.slots[index];
        --slot.in_flight;
        wake(self);  // a failed delivery's retry may soon be due
        if (slot.more) claim(self, index);
      },
  };
}

}  // namespace

std::chrono::milliseconds retry_backoff(const engine::subscription_options& o, int attempt) {
  auto ms = o.min_backoff.count();
  for (int i = 1; i < attempt && ms < o.max_backoff.count(); ++i) ms *= 2;
  return std::chrono::milliseconds(std::min<std::int64_t>(ms, o.max_backoff.count()));
}

delivery_actor spawn_delivery(caf::actor_system& sys, storage::pool* db,
                              const engine::registry* registry, std::string node_id,
                              std::chrono::milliseconds poll, boost::asio::thread_pool* handlers,
                              int threads) {
  return sys.spawn(delivery, db, registry, std::move(node_id), poll, handlers, threads);
}

}  // namespace hearth::engine
