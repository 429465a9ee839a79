#pragma once
// This node's view of the cluster (no CAF here: app/ reads it for
// GET /api/v1/health).

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace hearth::actors {

/// One peer as this node sees it. link: "up" (linked, events flow),
/// "connecting" (dialing or greeting) or "down" (not linked). security: the
/// transport the link runs (or is tried) over: "tls" (mutual TLS, the peer's
/// certificate verified against the cluster CA) or "plaintext". A node has
/// one transport for all its links (actors/cluster_tls.hpp): a TLS node
/// neither accepts nor dials plaintext.
struct peer_status {
  std::string node_id;
  std::string addr;  // its clusterAddr as registered
  std::string link;
  std::string security;
};

/// This node's view of the cluster, for GET /api/v1/health and the
/// heartbeat's `links` column.
struct cluster_status {
  std::string node_id;
  std::string cluster_addr;
  std::string transport = "plaintext";  // of this node's cluster links: "tls" | "plaintext"
  bool leading = false;
  std::string leader_id;  // "" until known
  std::int64_t term = 0;  // the current leadership term (fencing number)
  std::vector<peer_status> peers;
};

/// The latest cluster_status: written by the cluster actor, read from any
/// thread (health handler, election thread). Thread-safe.
class status_board {
 public:
  cluster_status get() const {
    std::lock_guard lock(mutex_);
    auto s = status_;
    s.cluster_addr = cluster_addr_;
    return s;
  }
  void set(cluster_status s) {
    std::lock_guard lock(mutex_);
    status_ = std::move(s);
  }
  /// The advertised clusterAddr, known once the middleman has bound its port.
  void set_cluster_addr(std::string addr) {
    std::lock_guard lock(mutex_);
    cluster_addr_ = std::move(addr);
  }

 private:
  mutable std::mutex mutex_;
  cluster_status status_;
  std::string cluster_addr_;
};

}  // namespace hearth::actors
