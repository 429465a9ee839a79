#pragma once
// scheduler: runs the registry's cron jobs (engine/pubsub.hpp) on the
// cluster's leader only. Session expiry, the outbox purge, the daily rollup
// and every application job are cron jobs of the same registry
// (app/modules.cpp): there is one periodic mechanism.
//
// Each due tick is claimed with claim_tick (engine/store.hpp) under the
// leader's fencing term on the storage pool, marked started
// (start_tick_run, same fence), then run on the engine's handler threads and
// its outcome and duration recorded with finish_tick. On becoming leader it
// claims each job's current and previous tick and catches up: the ticks
// nobody claimed since the last claimed one, and the ticks an older term
// claimed and never started (a claim whose commit was lost in doubt, or a
// leader deposed between claim and start), which it takes over. A catch-up
// that cannot be read (the database is down) is read again at the next
// wake-up. So no tick is skipped at a leader change. A claimed tick whose
// run cannot start because the node is stopping (`accepting` false) is
// recorded as not run. A started tick is never run again: a node that dies
// during a run leaves it started and unfinished (at most once per tick).
// The actor never blocks: database work goes through storage::run_on_pool,
// job runs to the handler threads.

#include <atomic>
#include <boost/asio/thread_pool.hpp>

#include "engine/messages.hpp"
#include "engine/pubsub.hpp"

namespace hearth::storage {
class pool;
}

namespace hearth::engine {

/// Spawns the scheduler, following (not leading) until told
/// `leading_atom, true, term` by the cluster actor. `db`, `jobs`, `handlers`
/// and `accepting` (may be null: always accepting) must outlive it; with no
/// cron jobs or no handler threads it does nothing.
scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::pool* db, std::string node_id,
                                const registry* jobs, boost::asio::thread_pool* handlers,
                                const std::atomic<bool>* accepting = nullptr);

}  // namespace hearth::engine
