#pragma once
// Counters the actors keep for metrics (no CAF here: app/ reads them). Each
// is written by actors and read by the /metrics handler: atomics, relaxed.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hearth::actors {

struct runtime_counters {
  std::atomic<std::uint64_t> events_delivered{0};  // frames handed to SSE streams
  std::atomic<std::uint64_t> events_dropped{
      0};  // not delivered: the stream had ended or overflowed
  std::atomic<std::uint64_t> events_forwarded{0};  // sent to peer nodes (once per peer)
  std::atomic<std::size_t> notifier_mailbox{0};    // sampled by the notifier itself
  std::atomic<std::size_t> households_active{0};   // household sessions on this node
};

}  // namespace hearth::actors
