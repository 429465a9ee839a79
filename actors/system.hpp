#pragma once
// actor_runtime: the CAF actor system of one node and its long-lived actors
// (notifier, cache, cluster; the engine's scheduler and Pub/Sub delivery) plus the election thread,
// behind a small facade so that the HTTP handlers in app/ never include CAF. Thread-safe:
// publish(), open_stream() and cluster() may be called from any thread
// (network or storage pool).

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/cluster_status.hpp"
#include "actors/cluster_tls.hpp"
#include "actors/cursor.hpp"
#include "actors/stats.hpp"
#include "config/config.hpp"
#include "http/fanout.hpp"
#include "storage/accounts.hpp"
#include "storage/events.hpp"
#include "storage/tables.hpp"

namespace hearth::storage {
class pool;
struct table_spec;
}  // namespace hearth::storage
namespace hearth::engine {
class registry;
}  // namespace hearth::engine

namespace hearth::actors {

/// A list read served by the cache actor (GET <table path>).
struct list_query {
  std::string session_key;                     // bearer key or cookie
  const storage::table_spec* table = nullptr;  // static lifetime; set by read_list's callers
                                               // (null only inside: authenticate())
  std::optional<std::string> household;        // authHouseholdID filter (lower-case UUID)
  std::optional<std::string> updated_after;    // normalised RFC 3339 UTC (utc_timestamp)
};

/// Its answer: ok with the view, or unauthorized (unknown or expired key:
/// 401), or unavailable (the database could not be read: 503).
struct list_result {
  enum class outcome { ok, unauthorized, unavailable };
  outcome result = outcome::ok;
  storage::list_view view;
  std::optional<storage::principal_grant> who;  // the caller's session (when ok; a list
                                                // answered by a read replica leaves it out)
};

/// Called once with the answer, on an actor thread.
using list_callback = std::function<void(list_result)>;

/// The answer of authenticate(): ok with the session's grant, or
/// unauthorized (unknown or expired key: 401), or unavailable (the
/// database could not be read, or the cache is off: 503).
struct auth_result {
  using outcome = list_result::outcome;
  outcome result = outcome::ok;
  std::optional<storage::principal_grant> who;  // when ok
};

/// Called once with the answer: on the calling I/O thread when its replica
/// had the session, else on an actor thread.
using auth_callback = std::function<void(auth_result)>;

/// The actor runtime's configuration; defaults from config::defaults().
struct runtime_options {
  int threads = 2;                     // CAF scheduler threads
  http::fanout_hub* fanout = nullptr;  // the HTTP engine's SSE fan-out (outlives the runtime)
  // The HTTP engine's I/O threads (http::server::io_threads(); they outlive
  // the runtime): each gets a replica of the read cache (actors/read_replica.hpp).
  // Empty: every cached read goes to the cache actor.
  std::vector<boost::asio::io_context*> io_threads;
  std::chrono::milliseconds gap_wait{25};  // before backfilling a hole
  bool outbox_recheck = true;  // the notifier's periodic outbox re-read (actors/notifier.hpp)
  // Cluster (see actors/cluster.hpp and actors/election.hpp).
  std::string node_id;
  std::string database_url;  // the election's own connection
  std::string cluster_bind_host = "127.0.0.1";
  std::uint16_t cluster_bind_port = 0;  // 0 = any free port
  std::string cluster_advertise_addr;   // "" = bind host (hostname if wildcard) : bound port
  std::string http_addr;                // registered for operators
  // Mutual TLS on the cluster links (actors/cluster_tls.hpp); none: plaintext.
  cluster_tls_files cluster_tls;
  std::chrono::milliseconds cluster_heartbeat{config::defaults().cluster_heartbeat_ms};
  std::chrono::milliseconds cluster_stale{config::defaults().cluster_stale_ms};
  // Read cache (actors/cache.hpp): its memory bound in bytes; 0 = no cache.
  std::size_t cache_bytes = static_cast<std::size_t>(config::defaults().cache_mib) << 20;
  std::chrono::milliseconds cache_ttl{config::defaults().cache_ttl_ms};  // a list's life
  // Pub/Sub and cron (engine/pubsub.hpp): the application's declarations
  // (null: none), how often deliveries are claimed, handler threads (0: this
  // node delivers no messages; cron runs on one thread regardless).
  const engine::registry* registry = nullptr;
  std::chrono::milliseconds pubsub_poll{config::defaults().pubsub_poll_ms};
  int pubsub_workers = static_cast<int>(config::defaults().pubsub_workers);

  /// clusterAddr (bind host and port), clusterAdvertiseAddr, clusterTLSCert,
  /// clusterTLSKey, clusterTLSCA, clusterHeartbeatMs, clusterStaleMs,
  /// cacheMiB, cacheTtlMs, pubsubPollMs and pubsubWorkers of `cfg`; the node's identity,
  /// database URL, HTTP address, fan-out hub and registry are the caller's
  /// (they exist only at run time). Throws config::config_error for a bad
  /// clusterAddr.
  static runtime_options from_config(const config::config& cfg);
};

class actor_runtime {
 public:
  /// Starts the actor system with the CAF middleman (and, with cluster TLS,
  /// CAF's OpenSSL module and the TLS middleman of actors/tls_transport.hpp),
  /// the notifier, the scheduler (following until elected) and the cluster
  /// actor, publishes the cluster actor on the cluster address (with cluster
  /// TLS only through the TLS middleman: no plaintext listener exists) and
  /// starts the election thread. Throws
  /// config::config_error when the cluster TLS files do not load or fit
  /// (check_cluster_tls), std::runtime_error when the cluster port cannot be
  /// bound.
  actor_runtime(runtime_options options, storage::pool& db);
  ~actor_runtime();  // stop()
  actor_runtime(const actor_runtime&) = delete;
  actor_runtime& operator=(const actor_runtime&) = delete;

  /// Hands a committed change event to the notifier (after the commit); it
  /// reaches local streams and every linked peer node.
  void publish(const storage::change_event& e);

  /// Answers a list read (q.table set) from memory: on an I/O thread from
  /// its read replica, at once and on that thread when everything is there;
  /// otherwise from the cache actor, which reads what it lacks from the
  /// database (on the pool) and calls `done` on an actor thread. A writer
  /// reads its own writes: publish() invalidates before the write's
  /// response is sent. Requires cache_bytes > 0 (else: unavailable).
  void read_list(list_query q, list_callback done);

  /// Authenticates a session key from memory, as read_list finds the
  /// caller's session: the I/O thread's replica, else the cache actor (the
  /// database on a miss). Requires cache_bytes > 0 (else: unavailable; the
  /// caller reads storage::authenticate on the pool instead).
  void authenticate(std::string session_key, auth_callback done);

  /// Drops every cached session of `account_id` on this node and on every
  /// linked peer, and ends the account's SSE streams there with the
  /// `reconnect` event (actors/account_streams.hpp): after sign-out and
  /// membership changes. `revocation`: the seq of the revocation recorded
  /// with the change (storage/revocations.hpp), 0 when none was (the
  /// grants only grew). A peer that is not linked now reads the recorded
  /// ones at its next sweep or link change; the seq keeps a linked peer
  /// from applying one twice.
  void revoke_account(const std::string& account_id, std::int64_t revocation = 0);

  /// True when the read cache is on (cache_bytes > 0).
  bool caching() const;

  /// Starts the control actor of a new SSE stream `ref` (call on the
  /// stream's I/O thread, from sse_response::on_open): each household's
  /// events after its `start` (see plan_stream_start) reach the stream.
  /// `account_id`: whose stream it is (revoke_account ends it; "" for none).
  /// Returns what the engine runs when the stream ends.
  /// `revocations_seen`: account_revocations(account_id) read before the
  /// stream's households were; a revoke since then ends the stream at once
  /// (with `reconnect`), so it cannot keep a household the account lost.
  std::function<void()> open_stream(http::stream_ref ref, std::vector<stream_start> start,
                                    const std::string& account_id = {},
                                    std::uint64_t revocations_seen = 0);

  /// How many times `account_id`'s streams on this node were ended by a
  /// revoke (any thread).
  std::uint64_t account_revocations(const std::string& account_id) const;

  /// The port the cluster (CAF middleman) listener bound.
  std::uint16_t cluster_port() const;

  /// This node's current view of the cluster (leader, term, peer links).
  cluster_status cluster() const;

  /// Event and mailbox counters for metrics.
  const runtime_counters& counters() const;

  /// Stops claiming Pub/Sub deliveries and cron ticks and waits for the
  /// handlers under way (before the storage pool stops). Idempotent.
  void stop_handlers();

  /// Clean stop: releases leadership and deregisters the node first (so a
  /// peer takes over at once), then stops every actor and the actor system.
  /// Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::actors
