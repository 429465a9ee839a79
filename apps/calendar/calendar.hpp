#pragma once
// iCalendar for households (RFC 5545), as Homechart offers: a secret feed
// URL per household that calendar applications subscribe to, and
// subscriptions to external iCalendar URLs whose events are imported.
//
//   - POST /api/v1/calendar/feeds {authHouseholdID} creates, or rotates, the
//     household's feed: a token of 32 random bytes (libsodium, base64url),
//     shown once in the URL /api/v1/calendar/feeds/<token>.ics, kept only
//     as its SHA-256 (calendar_feed, migrations/008_calendar_ical.up.sql);
//   - GET of that URL, with no other credential, answers the household's
//     CalendarEvents and its PlanTasks with a dueDate (all-day, on that day)
//     as text/calendar (apps/calendar/ical.hpp writes it), read on the pool;
//   - POST /api/v1/calendar/subscriptions {authHouseholdID, url, name}
//     subscribes the household to an external calendar (http, https or
//     webcal). It is fetched (http/client.hpp) and parsed (libical) at once
//     on the engine's handler threads (topic "calendar.subscription-added")
//     and then on calendarRefreshSchedule by the cron job
//     "calendar.refresh-subscriptions" (leader only); its events become
//     CalendarEvent rows with calendarSubscriptionID set, read-only to
//     clients (PUT/DELETE: 409), created, updated and deleted with their
//     change events like any other write;
//   - GET /api/v1/calendar/subscriptions lists the caller's subscriptions,
//     DELETE /api/v1/calendar/subscriptions/{id} removes one and its events.

#include <boost/describe.hpp>
#include <string>

#include "api/module.hpp"

namespace hearth::apps::calendar {

/// A subscription was created: import it now (the message of the
/// "calendar.subscription-added" topic).
struct subscription_added {
  std::string subscription_id;
};
BOOST_DESCRIBE_STRUCT(subscription_added, (), (subscription_id))

/// The calendar module (its name: "calendar").
api::module calendar_module();

}  // namespace hearth::apps::calendar
