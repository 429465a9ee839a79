#pragma once
// scheduler: periodic housekeeping, run only by the cluster's leader. Today
// one task, "expire_sessions" (Homechart's task runner does the same). Ticks
// are aligned to the wall clock (tick n covers [n·interval, (n+1)·interval)
// since the epoch), so every node numbers them alike; each run is recorded in
// scheduler_run under the leader's fencing term through
// storage::run_fenced, which refuses a run from a stale term and a second run
// of the same tick. A node that becomes leader runs the current tick at once
// (it may have been missed by the node it replaces). Database work runs on
// the storage pool, never on the actor's thread.

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <string>

#include "actors/messages.hpp"
#include "engine/pubsub.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::actors {

/// Spawns the scheduler, following (not leading) until told
/// `leading_atom, true, term` by the cluster actor. While leading it also
/// runs the registry's cron jobs (may be null): each due tick is claimed
/// with storage::claim_tick under the term, then run on `handlers` and its
/// outcome and duration recorded with finish_tick. On becoming leader it
/// claims each job's current and previous tick, so a tick the old leader
/// never claimed is not skipped. A claimed tick whose run cannot start
/// because the node is stopping (`accepting` false) is recorded as not run.
/// Claim-then-run: a node that dies during a run leaves the tick started and
/// unfinished; it is not run again (at most once per tick).
scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::pool* db, std::string node_id,
                                std::chrono::milliseconds interval,
                                const engine::registry* registry = nullptr,
                                boost::asio::thread_pool* handlers = nullptr,
                                const std::atomic<bool>* accepting = nullptr);

}  // namespace hearth::actors
