#pragma once
// The uptime monitor: hearth's worked example of an application on the
// engine (api/module.hpp, engine/pubsub.hpp), after Encore's uptime tutorial.
//
//   - sites to watch: uptime_site (migrations/005_uptime_monitor.up.sql),
//     managed by the operator API under /api/v1/monitor (Basic auth);
//   - a check probes a site's URL (GET, http/client.hpp) on the module's own
//     probe threads: 2xx or 3xx is up, anything else (another status, a
//     timeout, a connection error) is down. Recording the check, updating the
//     site's state and, when the state changed, publishing a site_transition
//     on the topic "site.transition" happen in ONE transaction, so a
//     transition is published exactly once per change and never lost;
//   - the subscription "webhook" posts each transition as a Slack-compatible
//     message to the UPTIME_WEBHOOK_URL secret (retried with backoff by the
//     engine, dead-lettered after uptimeWebhookMaxRetries retries);
//   - the cron job "uptime.check-all" checks every site on
//     uptimeCheckSchedule, on the cluster's leader, once per tick.

#include <boost/describe.hpp>
#include <string>

#include "api/module.hpp"

namespace hearth::apps::uptime {

/// A site's state changed: the message of the "site.transition" topic.
struct site_transition {
  std::string site_id;
  std::string url;
  std::string from;        // "up" | "down"
  std::string to;          // "up" | "down"
  std::string checked_at;  // RFC 3339 UTC, microseconds
  int status = 0;          // the HTTP status of the check; 0 when no response came
  std::string error;       // why no response came ("timeout", ...); "" otherwise
};
BOOST_DESCRIBE_STRUCT(site_transition, (), (site_id, url, from, to, checked_at, status, error))

/// The webhook's message text, e.g.
/// "https://example.com is DOWN (was up): HTTP 500 at 2026-01-02T03:04:05.000000Z".
std::string transition_text(const site_transition& t);

/// The uptime monitor as a hearth module (its name: "uptime").
api::module uptime_module();

}  // namespace hearth::apps::uptime
