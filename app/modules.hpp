#pragma once
// The modules built into this binary (app/modules.cpp).

#include <vector>

#include "api/module.hpp"

namespace hearth::app {

/// The engine's housekeeping jobs (session expiry on sessionExpirySchedule,
/// the outbox purge, the daily rollup), the uptime monitor (apps/uptime) and
/// notifications (apps/notify).
std::vector<api::module> builtin_modules();

}  // namespace hearth::app
