#pragma once
// Counters the actors keep for metrics (no CAF here: app/ reads them). Each
// is written by actors and read by the /metrics handler: atomics, relaxed.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hearth::actors {

struct runtime_counters {
  std::atomic<std::uint64_t> commits_published{0};  // local commits routed by the notifier
  // Sent to peer nodes: once per peer interested in the event's household.
  std::atomic<std::uint64_t> events_forwarded{0};
  std::atomic<std::uint64_t> interest_messages{0};  // watch messages sent to peers
  std::atomic<std::size_t> interest_local{0};       // households this node needs events of
  std::atomic<std::size_t> interest_remote{0};      // households some peer needs events of
  // Publish messages waiting in the notifier's mailbox: counted in by
  // actor_runtime::publish, out by the notifier. (CAF 0.17's mailbox().size()
  // must not be called from a handler: it reorganises the queue the actor
  // is iterating; the sanitizer run caught it.)
  std::atomic<std::int64_t> notifier_mailbox{0};
  std::atomic<std::size_t> households_active{0};  // household sessions on this node
  // Read cache (actors/cache.hpp).
  std::atomic<std::uint64_t> cache_hits{0};    // list reads answered from memory
  std::atomic<std::uint64_t> cache_misses{0};  // household lists read from the database
  std::atomic<std::uint64_t> cache_evictions{0};
  std::atomic<std::uint64_t> cache_invalidations{0};
  std::atomic<std::size_t> cache_bytes{0};  // held now (estimate)
  std::atomic<std::size_t> cache_entries{0};
};

}  // namespace hearth::actors
