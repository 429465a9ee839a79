#include "actors/system.hpp"

#include <algorithm>
#include <mutex>

#include "actors/connection.hpp"
#include "actors/messages.hpp"
#include "actors/notifier.hpp"
#include "actors/scheduler.hpp"
#include "config/logging.hpp"

namespace hearth::actors {
namespace {

caf::actor_system_config& configure(caf::actor_system_config& cfg, const runtime_options& o) {
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(o.threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Registered so that the same types can cross to peer nodes.
  cfg.add_message_type<storage::change_event>("hearth.change_event");
  cfg.add_message_type<event_list>("hearth.event_list");
  return cfg;
}

}  // namespace

struct actor_runtime::impl {
  impl(runtime_options o, storage::pool& d) : options(o), db(d), system(configure(cfg, options)) {
    notifier = spawn_notifier(system, &db, options.gap_wait);
    scheduler = spawn_scheduler(system, &db, options.scheduler_interval, true);
  }
  runtime_options options;
  storage::pool& db;
  caf::actor_system_config cfg;
  caf::actor_system system;
  notifier_actor notifier;
  scheduler_actor scheduler;
  // Every connection actor ever opened, weakly: stop() must end them all,
  // including streams with no household (never known to the notifier).
  std::mutex connections_mutex;
  std::vector<caf::actor_addr> connections;
  std::size_t prune_at = 64;
  bool stopped = false;
};

actor_runtime::actor_runtime(runtime_options options, storage::pool& db)
    : impl_(std::make_unique<impl>(options, db)) {}

actor_runtime::~actor_runtime() { stop(); }

void actor_runtime::publish(const storage::change_event& e) {
  caf::anon_send(impl_->notifier, publish_atom::value, e);
}

void actor_runtime::open_stream(std::shared_ptr<http::event_sink> sink,
                                std::vector<stream_start> start) {
  connection_options o;
  o.heartbeat = impl_->options.heartbeat;
  auto actor = spawn_connection(impl_->system, std::move(sink), std::move(start), impl_->notifier,
                                &impl_->db, o);
  std::lock_guard lock(impl_->connections_mutex);
  auto& all = impl_->connections;
  all.push_back(actor.address());
  if (all.size() >= impl_->prune_at) {  // forget ended streams, amortised O(1)
    all.erase(
        std::remove_if(all.begin(), all.end(),
                       [](const caf::actor_addr& a) { return !caf::actor_cast<caf::actor>(a); }),
        all.end());
    impl_->prune_at = std::max<std::size_t>(64, 2 * all.size());
  }
}

void actor_runtime::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  caf::anon_send_exit(impl_->scheduler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(impl_->notifier, caf::exit_reason::user_shutdown);
  {
    std::lock_guard lock(impl_->connections_mutex);
    std::size_t n = 0;
    for (const auto& a : impl_->connections)
      if (auto h = caf::actor_cast<caf::actor>(a)) {
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
        ++n;
      }
    log::debug("actors: stopping {} open stream(s)", n);
    impl_->connections.clear();
  }
  // Wait until every actor is gone, so nothing they own (SSE sinks and their
  // sockets) outlives the HTTP server's io_context.
  impl_->system.await_all_actors_done();
}

}  // namespace hearth::actors
