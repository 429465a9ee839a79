#pragma once
// Per-household ordering of change events: turns events that may arrive out
// of order, twice, or with holes (concurrent commits, replays, a dropped peer
// link) into the exact sequence last+1, last+2, ... Pure logic, no actor
// runtime: each household_session keeps one and fetches the holes it reports
// from the change_event outbox.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "storage/events.hpp"

namespace hearth::actors {

class ordered_stream {
 public:
  /// A hole to backfill: the events with after < seq < before are missing.
  struct gap {
    std::int64_t after;
    std::int64_t before;
  };

  /// Starts (or restarts) at `last` = the last sequence number already
  /// delivered; buffered events above it are kept. Appends what becomes
  /// deliverable to `out`.
  void reset(std::int64_t last, std::vector<storage::change_event>& out);

  /// True once reset() was called; before that every event is buffered.
  bool ready() const { return last_.has_value(); }
  std::int64_t last() const { return last_.value_or(0); }
  /// True while events wait behind a hole or the known head is ahead.
  bool waiting() const { return !pending_.empty() || known_head_ > last(); }

  /// Records that events up to `head` exist (read from the database), even
  /// though none of them arrived: current_gap() then reports the hole up to
  /// it. Used when a peer link dropped and its last events may be lost.
  void expect(std::int64_t head) { known_head_ = std::max(known_head_, head); }

  /// Offers one event. Appends deliverable events to `out` in order; drops
  /// duplicates (seq <= last); returns the hole when `e` is beyond it.
  std::optional<gap> offer(storage::change_event e, std::vector<storage::change_event>& out);

  /// The hole in front of the buffered events, if any.
  std::optional<gap> current_gap() const;

  /// Gives up on a hole that cannot be filled (its events were purged):
  /// jumps to just before the first buffered event (or to the known head)
  /// and delivers from there.
  void skip_gap(std::vector<storage::change_event>& out);

 private:
  void drain(std::vector<storage::change_event>& out);
  std::optional<std::int64_t> last_;
  std::map<std::int64_t, storage::change_event> pending_;
  std::int64_t known_head_ = 0;
};

}  // namespace hearth::actors
