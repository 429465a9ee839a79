#include "actors/system.hpp"

#include <fmt/chrono.h>
#include <unistd.h>

#include <algorithm>
#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>
#include <ctime>
#include <mutex>
#include <stdexcept>

#include "actors/cache.hpp"
#include "actors/cluster.hpp"
#include "actors/connection.hpp"
#include "actors/election.hpp"
#include "actors/messages.hpp"
#include "actors/notifier.hpp"
#include "actors/read_replica.hpp"
#include "actors/tls_transport.hpp"
#include "config/logging.hpp"
#include "engine/delivery.hpp"
#include "engine/scheduler.hpp"

namespace hearth::actors {
namespace {

caf::actor_system_config& configure(caf::actor_system_config& cfg, const runtime_options& o) {
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(o.threads));
  // One shared queue whose idle workers block on a condition variable until
  // a job is enqueued (notify_one per enqueue). The default, "stealing",
  // polls: after every job a worker spins 100 times, then 500 times with
  // 50 µs sleeps, then wakes every 10 ms for good (work-stealing.*), which
  // made an idle node burn ~9% of a core on 6,600 wake-ups/s.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.load<caf::io::middleman>();
  if (o.cluster_tls.enabled()) {
    // Mutual TLS (actors/cluster_tls.hpp): with these set, every TLS session
    // of the module demands and verifies the peer's certificate against the
    // CA, on both sides. The cluster actor is published and peers are dialed
    // only through the TLS middleman (actors/tls_transport.hpp, on the
    // module's sessions), so no plaintext listener or dial exists.
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = o.cluster_tls.cert;
    cfg.openssl_key = o.cluster_tls.key;
    cfg.openssl_cafile = o.cluster_tls.ca;
  }
  // Connections to nodes learned through a peer would be dialed by the plain
  // middleman, around TLS (off by default in CAF 0.17; kept off).
  cfg.set("middleman.enable-automatic-connections", false);
  // A frozen peer sends no heartbeats: its connection is closed after the
  // stale limit, which kills its proxies and sends us the down message.
  cfg.set("middleman.heartbeat-interval", caf::timespan{o.cluster_heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{o.cluster_stale});
  // Registered on every node: these cross to peers.
  add_cluster_message_types(cfg);
  return cfg;
}

std::string advertise_addr(const runtime_options& o, std::uint16_t bound) {
  if (!o.cluster_advertise_addr.empty()) return o.cluster_advertise_addr;
  auto host = o.cluster_bind_host;
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    host = name;
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(bound);
}

std::string rfc3339_now() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::time(nullptr)));
}

}  // namespace

runtime_options runtime_options::from_config(const config::config& cfg) {
  runtime_options o;
  std::tie(o.cluster_bind_host, o.cluster_bind_port) = config::split_host_port(cfg.cluster_addr);
  o.cluster_advertise_addr = cfg.cluster_advertise_addr;
  o.cluster_tls = cluster_tls_files::from_config(cfg);
  o.cluster_heartbeat = std::chrono::milliseconds(cfg.cluster_heartbeat_ms);
  o.cluster_stale = std::chrono::milliseconds(cfg.cluster_stale_ms);
  o.cache_bytes = static_cast<std::size_t>(cfg.cache_mib) << 20;
  o.cache_ttl = std::chrono::milliseconds(cfg.cache_ttl_ms);
  o.outbox_recheck = cfg.outbox_recheck;
  o.pubsub_poll = std::chrono::milliseconds(cfg.pubsub_poll_ms);
  o.pubsub_workers = static_cast<int>(cfg.pubsub_workers);
  return o;
}

struct actor_runtime::impl {
  impl(runtime_options o, storage::pool& d)
      : options(checked(std::move(o))), db(d), system(configure(cfg, options)) {
    if (options.cache_bytes > 0) {
      versions = std::make_shared<household_versions>();
      if (!options.io_threads.empty())
        replicas = std::make_unique<read_replicas>(options.io_threads, *versions);
      cache = spawn_cache(system, &db, options.cache_bytes, &counters, replicas.get(),
                          options.cache_ttl, versions);
    }
    if (!options.fanout) throw std::invalid_argument("actor_runtime: no fan-out hub");
    accounts = std::make_unique<account_streams>(*options.fanout);
    notifier = spawn_notifier(system, &db, options.fanout, options.gap_wait, &counters, cache,
                              options.node_id, accounts.get(), options.outbox_recheck);
    scheduler = engine::spawn_scheduler(system, &db, options.node_id, options.registry, &handlers,
                                        &accepting_work);
    if (options.registry && options.pubsub_workers > 0 &&
        !options.registry->subscriptions().empty())
      pubsub = engine::spawn_delivery(system, &db, options.registry, options.node_id,
                                      options.pubsub_poll, &handlers, options.pubsub_workers);
    election_options eo;
    eo.database_url = options.database_url;
    eo.heartbeat = options.cluster_heartbeat;
    eo.stale = options.cluster_stale;
    elect = std::make_unique<election>(eo, board);
    if (options.cluster_tls.enabled()) tls_middleman = spawn_tls_middleman(system);
    cluster_options co;
    co.node_id = options.node_id;
    co.tls_middleman = tls_middleman;
    cluster = spawn_cluster(system, co, notifier, scheduler, &board, elect.get());
    auto handle = caf::actor_cast<peer_actor>(cluster);
    caf::expected<std::uint16_t> bound{std::uint16_t{0}};
    if (tls_middleman) {
      auto publish = caf::make_function_view(tls_middleman);
      bound = publish(caf::publish_atom::value, options.cluster_bind_port,
                      caf::actor_cast<caf::strong_actor_ptr>(handle), system.message_types(handle),
                      options.cluster_bind_host, true);
    } else {
      bound = system.middleman().publish(handle, options.cluster_bind_port,
                                         options.cluster_bind_host.c_str(), true);
    }
    if (!bound) {
      auto why = system.render(bound.error());
      shutdown();
      stop_tls_middleman(system, tls_middleman);  // ~impl does not run: the constructor throws
      throw std::runtime_error("cannot listen for peers on " + options.cluster_bind_host + ":" +
                               std::to_string(options.cluster_bind_port) + ": " + why);
    }
    cluster_port = *bound;
    auto addr = advertise_addr(options, cluster_port);
    board.set_cluster_addr(addr);
    storage::node_registration self{options.node_id, addr, options.http_addr, "", rfc3339_now()};
    elect->start(std::move(self), [c = cluster](election_report r) {
      if (r.database_ok) caf::anon_send(c, members_atom::value, std::move(r.nodes));
      caf::anon_send(c, leading_atom::value, r.leading, r.term, std::move(r.leader_id));
    });
  }

  ~impl() { stop_tls_middleman(system, tls_middleman); }

  // The options, once the cluster TLS files are known to load (before the
  // actor system, which would read them only at the first connection).
  static runtime_options checked(runtime_options o) {
    check_cluster_tls(o.cluster_tls);
    return o;
  }

  // Election first (hands leadership over), then every long-lived actor.
  void shutdown() {
    stop_handlers();
    if (elect) elect->stop();
    caf::anon_send_exit(cluster, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(notifier, caf::exit_reason::user_shutdown);
    if (cache) caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
  }

  // No new deliveries or cron runs; the ones under way finish.
  void stop_handlers() {
    if (handlers_stopped) return;
    handlers_stopped = true;
    accepting_work = false;
    if (pubsub) caf::anon_send_exit(pubsub, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
    handlers.join();
  }

  runtime_options options;
  storage::pool& db;
  // Pub/Sub handlers and cron runs (they may block on I/O).
  boost::asio::thread_pool handlers{static_cast<std::size_t>(std::max(options.pubsub_workers, 1))};
  bool handlers_stopped = false;
  std::atomic<bool> accepting_work{true};  // false once handlers stop: claimed ticks are not run
  // Before the actor system: actors hold pointers to these, and the system's
  // destructor may still run actors (a failed start-up throws before
  // waiting for them).
  runtime_counters counters;
  status_board board;
  std::unique_ptr<account_streams> accounts;  // every stream's account
  std::unique_ptr<election> elect;
  std::shared_ptr<household_versions> versions;  // before the replicas: they read it
  std::unique_ptr<read_replicas> replicas;       // before the system: the cache actor uses it
  caf::actor_system_config cfg;
  caf::actor_system system;
  // With cluster TLS: the middleman actor of the TLS links (a thread of its
  // own, ended by ~impl before the system).
  caf::io::middleman_actor tls_middleman;
  cache_actor cache;  // invalid when cache_bytes == 0
  notifier_actor notifier;
  scheduler_actor scheduler;
  engine::delivery_actor pubsub;  // invalid without subscriptions or workers
  cluster_actor cluster;
  std::uint16_t cluster_port = 0;
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
  // Before the notifier and before the write's response: the household's
  // cached lists (the cache actor's and every I/O thread's) are stale from
  // now on, so the writer's next read, wherever it lands, reads its write
  // (actors/read_replica.hpp). One atomic increment: no message, no post.
  if (impl_->cache) {
    impl_->versions->bump(e.household_id);
    ++impl_->counters.cache_invalidations;
  }
  ++impl_->counters.notifier_mailbox;
  if (trace::enabled()) {  // the fan-out is a child of the span that committed (the pool job)
    auto traced = e;
    traced.trace = trace::current();
    return caf::anon_send(impl_->notifier, publish_atom::value, std::move(traced));
  }
  caf::anon_send(impl_->notifier, publish_atom::value, e);
}

void actor_runtime::read_list(list_query q, list_callback done) {
  if (!impl_->cache || !q.table) {
    list_result r;
    r.result = list_result::outcome::unavailable;
    return done(std::move(r));
  }
  if (impl_->replicas) {
    if (const auto* local = impl_->replicas->local()) {
      if (auto hit = local->try_answer(q)) {
        ++impl_->counters.cache_hits;
        return done(std::move(*hit));
      }
    }
  }
  caf::anon_send(impl_->cache, lookup_atom::value, cache_request{std::move(q), std::move(done)});
}

void actor_runtime::authenticate(std::string session_key, auth_callback done) {
  if (!impl_->cache) return done(auth_result{auth_result::outcome::unavailable, std::nullopt});
  if (impl_->replicas) {
    if (const auto* local = impl_->replicas->local()) {
      if (const auto* grant = local->try_authenticate(session_key))
        return done(auth_result{auth_result::outcome::ok, *grant});
    }
  }
  // The cache actor's session-only query: a list_query without a table
  // (its grant loading and revocation handling are the list reads').
  list_query q;
  q.session_key = std::move(session_key);
  caf::anon_send(impl_->cache, lookup_atom::value,
                 cache_request{std::move(q), [done = std::move(done)](list_result r) {
                                 done(auth_result{r.result, std::move(r.who)});
                               }});
}

void actor_runtime::revoke_account(const std::string& account_id, std::int64_t revocation) {
  // The local cache at once (before the caller's response), peers via the notifier.
  if (impl_->replicas) {
    impl_->replicas->revoke(account_id, true);  // blocked until the actor settles it
    caf::anon_send(impl_->cache, revoke_atom::value, account_id, true);
  } else if (impl_->cache) {
    caf::anon_send(impl_->cache, revoke_atom::value, account_id);
  }
  caf::anon_send(impl_->notifier, revoke_atom::value, account_id, revocation, false);
  impl_->accounts->end(account_id);
}

std::uint64_t actor_runtime::account_revocations(const std::string& account_id) const {
  return impl_->accounts->revocations(account_id);
}

void actor_runtime::stop_handlers() { impl_->stop_handlers(); }

bool actor_runtime::caching() const { return static_cast<bool>(impl_->cache); }

std::function<void()> actor_runtime::open_stream(http::stream_ref ref,
                                                 std::vector<stream_start> start,
                                                 const std::string& account_id,
                                                 std::uint64_t revocations_seen) {
  auto actor = spawn_connection(impl_->system, impl_->options.fanout, ref, std::move(start),
                                impl_->notifier, &impl_->db, connection_options{});
  // Revoked since its households were read: they may include one it lost.
  if (!account_id.empty() && !impl_->accounts->add(account_id, ref, revocations_seen))
    impl_->accounts->end(ref);
  std::function<void()> on_end = [actor, ref, account_id, accounts = impl_->accounts.get()] {
    if (!account_id.empty()) accounts->remove(account_id, ref);
    caf::anon_send(actor, closed_atom::value);
  };
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
  return on_end;
}

std::uint16_t actor_runtime::cluster_port() const { return impl_->cluster_port; }

cluster_status actor_runtime::cluster() const { return impl_->board.get(); }

const runtime_counters& actor_runtime::counters() const { return impl_->counters; }

void actor_runtime::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->shutdown();
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
