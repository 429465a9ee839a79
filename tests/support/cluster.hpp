#pragma once
// A cluster of real hearth processes for the cluster tests and the cluster
// benchmark: N nodes ("node-a", "node-b", …) on one fresh database of the
// throwaway PostgreSQL, each with its own node id, ephemeral HTTP and cluster
// ports and fast cluster timings. Nodes can be killed (SIGKILL), frozen
// (SIGSTOP), thawed (SIGCONT), stopped cleanly (SIGTERM) and restarted with
// the same node id. Every wait polls with a deadline; nothing sleeps as
// synchronisation.
//
// Also: sse_recorder, an SSE stream read by its own thread that timestamps
// every event on arrival (so writers and readers need no lock-step).

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/hearth_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pki.hpp"

namespace hearth::testing {

/// One peer as a node sees it (GET /api/v1/health → cluster.peers[]).
struct peer_view {
  std::string node_id;
  std::string addr;
  std::string link;      // "up" | "connecting" | "down"
  std::string security;  // "tls" | "plaintext"
};

/// The `cluster` object of a node's health, plus the node's id.
struct cluster_view {
  std::string node_id;  // health nodeID
  std::int64_t queued_jobs = 0;
  bool leading = false;
  std::string leader_id;  // "" when unknown
  std::int64_t term = 0;
  std::string cluster_addr;
  std::string transport;  // of the node's cluster links: "tls" | "plaintext"
  std::vector<peer_view> peers;
  std::string raw;  // the whole response body, for messages

  /// The link state this node reports for `peer` ("" when not listed).
  std::string link_to(const std::string& peer) const;
  /// The security this node reports for its link to `peer` ("" when not listed).
  std::string security_to(const std::string& peer) const;
};

/// A leader found by test_cluster::wait_leader.
struct leader_info {
  std::string name;
  std::int64_t term = 0;
  std::chrono::milliseconds elapsed{0};  // from the `since` given to wait_leader
};

/// Rows of the cluster tables, read directly from the shared database.
struct scheduler_run_row {
  std::string task;
  std::int64_t tick = 0;
  std::int64_t term = 0;
  std::string node_id;
  std::string outcome;  // "" when NULL
};
struct cluster_node_row {
  std::string node_id;
  std::string cluster_addr;
  std::string http_addr;
  int db_pid = 0;
  std::string links;  // jsonb as text
};
struct cluster_leader_row {
  std::int64_t term = 0;
  std::string node_id;
};

struct cluster_options {
  int nodes = 3;
  int heartbeat_ms = 250;
  int stale_ms = 3000;
  std::string session_expiry_schedule = "every 1s";  // the cron job the fencing tests watch
  std::string log_level = "debug";
  /// Added to every node's environment (HEARTH_* names; they override the above).
  std::map<std::string, std::string> extra_env;
  /// Mutual TLS on the cluster links: a throwaway CA (tests/support/pki.hpp)
  /// in the cluster's directory and a certificate it signs for every node
  /// (HEARTH_CLUSTER_TLS_CERT / _KEY / _CA).
  bool tls = false;
  /// The CA that signs the nodes' certificates (with tls); none: a fresh one.
  std::optional<pem_pair> tls_ca;
  /// Added to one node's environment, by node name, after everything above
  /// (a "" value leaves the variable unset).
  std::map<std::string, std::map<std::string, std::string>> node_env;
  /// Empty: a fresh database of throwaway_postgres::shared().
  std::string database_url;
};

class test_cluster {
 public:
  using clock = std::chrono::steady_clock;

  /// Starts every node (one after the other, each until its ready file).
  explicit test_cluster(cluster_options options = {});
  /// SIGKILLs whatever still runs (after SIGCONT of frozen nodes).
  ~test_cluster();
  test_cluster(const test_cluster&) = delete;
  test_cluster& operator=(const test_cluster&) = delete;

  /// "node-a", "node-b", … in start order.
  const std::vector<std::string>& names() const { return names_; }
  const std::string& database_url() const { return database_url_; }
  /// The cluster's temporary directory (removed with the cluster): room for
  /// a test's own certificates.
  const std::filesystem::path& dir() const { return dir_; }
  /// The CA certificate of the cluster's TLS (options().tls).
  const std::filesystem::path& tls_ca() const { return tls_ca_; }
  const cluster_options& options() const { return options_; }

  /// The process runs (it may be frozen).
  bool running(const std::string& name) const;
  bool frozen(const std::string& name) const;
  /// Running and not frozen: expected to answer and take part.
  bool live(const std::string& name) const;
  std::vector<std::string> live_nodes() const;

  std::uint16_t http_port(const std::string& name) const;
  std::uint16_t cluster_port(const std::string& name) const;  // from the ready file
  pid_t pid(const std::string& name) const;

  /// SIGKILL and wait for the exit.
  void kill(const std::string& name);
  /// SIGSTOP / SIGCONT.
  void freeze(const std::string& name);
  void thaw(const std::string& name);
  /// SIGTERM and wait (≤ timeout) for the exit; returns the exit code.
  int terminate(const std::string& name,
                std::chrono::milliseconds timeout = std::chrono::seconds(15));
  /// Same, on another thread: the node stops counting as live at once, so
  /// the caller can poll the others while it shuts down.
  std::future<int> terminate_async(const std::string& name,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(15));
  /// Starts a stopped node again: same node id, same database, new ports.
  void restart(const std::string& name);

  /// GET /api/v1/health on the node through a fresh connection; throws with
  /// the body when the answer is not a health envelope with a cluster object.
  cluster_view health(const std::string& name) const;
  /// Same, std::nullopt instead of throwing.
  std::optional<cluster_view> try_health(const std::string& name) const;

  /// Polls until every live node reports every other live node with link
  /// "up". True when reached before `timeout`.
  bool wait_linked(std::chrono::milliseconds timeout);
  /// Polls until exactly one live node reports leading with a term ≥
  /// `min_term` (and it is not `not_name`). `elapsed` is measured from `since`.
  std::optional<leader_info> wait_leader(std::chrono::milliseconds timeout,
                                         std::int64_t min_term = 0,
                                         const std::string& not_name = "",
                                         clock::time_point since = clock::now());
  /// Polls `name`'s health until `pred` holds (false on timeout).
  bool wait_health(const std::string& name, std::chrono::milliseconds timeout,
                   const std::function<bool(const cluster_view&)>& pred);

  /// A description of every live node's health (for failure messages).
  std::string describe() const;
  /// The last `tail_bytes` of each node's log (earlier runs included).
  std::string log_tails(std::size_t tail_bytes = 6000) const;
  /// Everything the node's current process has printed ("" when not started).
  std::string log(const std::string& name) const;
  /// Polls the node's log until it contains `needle` (false on timeout).
  bool wait_log(const std::string& name, const std::string& needle,
                std::chrono::milliseconds timeout) const;

  /// `hearth <args>` to completion against the cluster's database.
  std::pair<int, std::string> run_cli(const std::vector<std::string>& args) const;

  /// pg_stat_activity of the cluster's database (every session but this
  /// one's, with its lock waits): which node's session holds or waits for what.
  std::string database_activity() const;

  std::vector<scheduler_run_row> scheduler_runs() const;
  std::vector<cluster_node_row> cluster_nodes() const;
  cluster_leader_row cluster_leader() const;

 private:
  struct node {
    std::string name;
    std::filesystem::path ready_file;
    std::unique_ptr<hearth_process> process;
    std::uint16_t cluster_port = 0;
    std::atomic<bool> frozen{false};
    std::atomic<bool> stopping{false};  // terminate_async in progress
    std::string earlier_logs;           // logs of previous runs
  };
  node& at(const std::string& name);
  const node& at(const std::string& name) const;
  void start(node& n);
  void retire(node& n);  // keeps the log of an exited process, drops the object
  std::map<std::string, std::string> env_for(const node& n) const;

  cluster_options options_;
  std::string database_url_;
  std::filesystem::path dir_;
  std::filesystem::path tls_ca_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<node>> nodes_;
  mutable std::mutex logs_mutex_;
};

/// An SSE stream (GET /api/v1/sse) read by its own thread. The constructor
/// returns once the response header arrived (the stream then sees every
/// change committed afterwards) and throws when the stream cannot open.
class sse_recorder {
 public:
  using clock = std::chrono::steady_clock;
  struct record {
    sse_event event;
    clock::time_point at;
    std::int64_t seq = -1;  // of a `change` event, else -1
    std::string household;  // of a `change` event
    std::string row_id;     // of a `change` event
  };

  sse_recorder(std::uint16_t port, const std::string& key,
               std::map<std::string, std::string> headers = {});
  ~sse_recorder();
  sse_recorder(const sse_recorder&) = delete;
  sse_recorder& operator=(const sse_recorder&) = delete;

  /// Every event received so far (all types).
  std::vector<record> events() const;
  /// Only the `change` events.
  std::vector<record> changes() const;
  std::size_t change_count() const;
  /// Waits until at least `n` change events arrived; false on timeout or close.
  bool wait_changes(std::size_t n, std::chrono::milliseconds timeout) const;
  /// Waits until a change event with `seq` (of any household) arrived; returns
  /// its arrival time.
  std::optional<clock::time_point> wait_seq(std::int64_t seq,
                                            std::chrono::milliseconds timeout) const;
  bool closed() const { return closed_; }
  /// Why the reader stopped, when it failed ("" otherwise).
  std::string error() const;
  /// The `id:` of the last change event ("" when none).
  std::string last_change_id() const;
  /// Stops the reader thread and closes the connection.
  void close();

 private:
  void run();
  std::unique_ptr<sse_client> client_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<record> events_;
  std::size_t changes_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  std::string error_;
  std::thread thread_;
};

}  // namespace hearth::testing
