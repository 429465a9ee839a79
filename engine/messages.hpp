#pragma once
// The engine's actor vocabulary: the scheduler (cron) and its leadership
// switch, which the cluster actor (actors/cluster.hpp) sends. The delivery
// actor's own messages are in engine/delivery.hpp.

#include <fmt/format.h>

#include <caf/all.hpp>
#include <cstdint>
#include <string>

#include "config/log_limiter.hpp"

namespace hearth::engine {

using leading_atom = caf::atom_constant<caf::atom("leading")>;
using cron_atom = caf::atom_constant<caf::atom("cron")>;
using catch_up_atom = caf::atom_constant<caf::atom("catchup")>;

/// Runs the registry's cron jobs while this node leads, each tick fenced by
/// the leadership term (engine/scheduler.hpp).
///   leading, bool, term   from the cluster actor: switch on (with the term) or off
///   cron                  wake up: claim and start the jobs that are due
///   cron, job, tick       a claim of that tick could not be made: try again
///   catchup, job, tick    a new leader's catch-up of the ticks before that
///                         one could not be read: try again
using scheduler_actor =
    caf::typed_actor<caf::reacts_to<leading_atom, bool, std::int64_t>, caf::reacts_to<cron_atom>,
                     caf::reacts_to<cron_atom, std::string, std::int64_t>,
                     caf::reacts_to<catch_up_atom, std::string, std::int64_t>>;

/// The default handler of every hearth actor (set_default_handler): drops a
/// message no handler matches, answering sec::unexpected_message, and logs
/// its actor's name and the message's type token (at most once per repeat
/// interval, config/log_limiter.hpp) without printing its values. CAF's own
/// default (print_and_drop) stringifies them, and CAF 0.17.6 crashes
/// stringifying some values a peer can send: a caf::duration with an
/// invalid time unit (SEGV in caf::to_string(duration), found by
/// fuzz/cluster_message.cpp). A linked peer could thus take a node down
/// with one message to any of its published actors.
inline caf::result<caf::message> drop_unexpected(caf::scheduled_actor* self, caf::message_view& x) {
  hearth::log::warn_once(
      "actor.unexpected",
      fmt::format("actor {} dropped an unexpected message (type token {:#x}, {} elements)",
                  self->name(), x.content().type_token(), x.content().size()));
  return caf::sec::unexpected_message;
}

}  // namespace hearth::engine
