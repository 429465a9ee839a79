#include "actors/system.hpp"

#include "actors/connection.hpp"
#include "actors/messages.hpp"
#include "actors/notifier.hpp"
#include "actors/scheduler.hpp"

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
  spawn_connection(impl_->system, std::move(sink), std::move(start), impl_->notifier, &impl_->db,
                   o);
}

void actor_runtime::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  caf::anon_send_exit(impl_->scheduler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(impl_->notifier, caf::exit_reason::user_shutdown);
}

}  // namespace hearth::actors
