#include "actors/election.hpp"

#include <pthread.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "actors/cluster.hpp"
#include "config/logging.hpp"

namespace hearth::actors {
namespace {

std::string links_json(const cluster_status& s) {
  boost::json::object o;
  for (const auto& p : s.peers) o[p.node_id] = p.link;
  return boost::json::serialize(o);
}

}  // namespace

election::election(election_options options, const status_board& board)
    : options_(std::move(options)), board_(board) {}

election::~election() { stop(); }

void election::start(storage::node_registration self, std::function<void(election_report)> report) {
  self_ = std::move(self);
  report_ = std::move(report);
  thread_ = std::thread([this] { run(); });
}

void election::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  cv_.notify_one();
}

void election::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void election::step_down(const char* why) {
  if (leading_) log::warn("election: lost leadership of term {}: {}", term_, why);
  leading_ = false;
  alone_ = false;
  lock_pid_ = 0;
}

void election::run() {
  pthread_setname_np(pthread_self(), "hearth.election");
  for (;;) {
    round();
    std::unique_lock lock(mutex_);
    const auto period =
        alone_ ? std::max(options_.heartbeat, options_.stale / 4) : options_.heartbeat;
    cv_.wait_for(lock, period, [this] { return poked_ || stopping_; });
    poked_ = false;
    if (stopping_) break;
  }
  if (conn_) {
    try {
      storage::deregister(*conn_, self_.node_id);
      if (leading_) log::info("election: released leadership of term {}", term_);
    } catch (const std::exception& e) {
      log::warn("election: cannot deregister: {}", e.what());
    }
    conn_.reset();
  }
  leading_ = false;
}

void election::round() {
  election_report r;
  try {
    if (!conn_) {
      conn_ = std::make_unique<pqxx::connection>(options_.database_url);
      // A silently re-opened session would not hold our lock: never reconnect
      // behind our back, we rebuild the connection ourselves.
      // (Deprecated in libpqxx 6.4 but still effective; the pid check below
      // catches a changed session either way.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    }
    auto reg = self_;
    reg.links_json = links_json(board_.get());
    int pid = storage::heartbeat(*conn_, reg);
    if (leading_ && pid != lock_pid_) step_down("database session changed");
    for (const auto& id : storage::fence_stale_nodes(*conn_, reg.node_id, options_.stale))
      log::warn("election: node {} silent for over {} ms, its database sessions terminated", id,
                options_.stale.count());
    if (!leading_) {
      if (auto term = storage::try_lead(*conn_, reg.node_id)) {
        leading_ = true;
        term_ = *term;
        lock_pid_ = pid;
        log::info("election: leading, term {}", term_);
      } else if (auto deposed = storage::depose_stale_leader(*conn_, options_.stale)) {
        log::warn("election: leader {} silent for over {} ms, its lock session terminated",
                  *deposed, options_.stale.count());
        // The lock frees once its backend has exited: try again soon.
        poke();
      }
    }
    auto leader = storage::current_leader(*conn_);
    if (leading_ && (leader.node_id != reg.node_id || leader.term != term_)) {
      // Someone started a newer term: our lock must be gone. Never lead twice.
      step_down("a newer term exists");
      try {
        storage::release_leadership(*conn_);
      } catch (...) {
      }
    }
    r.nodes = storage::list_nodes(*conn_, options_.stale);
    alone_ = leading_ && std::none_of(r.nodes.begin(), r.nodes.end(), [&](const auto& n) {
               return n.alive && n.node_id != reg.node_id;
             });
    if (leading_ && std::chrono::steady_clock::now() >= next_purge_) {
      next_purge_ = std::chrono::steady_clock::now() + std::chrono::minutes(1);
      if (auto n = storage::purge_dead_nodes(
              *conn_, std::chrono::duration_cast<std::chrono::milliseconds>(options_.purge_after)))
        log::info("election: purged {} dead node row(s)", n);
    }
    r.leader_id = leader.node_id;
    r.term = leading_ ? term_ : leader.term;
    r.database_ok = true;
  } catch (const pqxx::broken_connection& e) {
    // Terminated by a peer that saw us silent, or the database went away:
    // the session that held the lock is gone.
    step_down("its database session ended");
    log::debug("election: round failed: {}", e.what());
    conn_.reset();
  } catch (const std::exception& e) {
    // A failed query: the lock cannot be trusted any more either.
    step_down(e.what());
    conn_.reset();
  }
  if (!r.database_ok) {  // report the last known leader meanwhile
    r.term = last_term_;
    r.leader_id = last_leader_;
  }
  last_term_ = r.term;
  last_leader_ = r.leader_id;
  r.leading = leading_;
  if (r.leading) r.leader_id = self_.node_id;
  if (report_) report_(std::move(r));
}

}  // namespace hearth::actors
