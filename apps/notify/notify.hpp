#pragma once
// Notifications: a PlanTask's due date arriving, a CalendarEvent about to
// start. An application on the engine (api/module.hpp, engine/pubsub.hpp),
// like the uptime monitor in apps/uptime.
//
//   - the cron job "notify.due" (notificationSchedule, on the leader, once
//     per tick) finds, in ONE transaction: tasks not done whose due moment
//     (the due date at taskDueHourUTC in the household's time zone) has
//     come, and events whose start minus calendarReminderLeadMinutes has
//     come and that have not ended,
//     both at most 48 h in the past; records each source occurrence once
//     (notification_source), one `notification` row per member of the
//     household with a channel on, the change event of each in-app row on
//     the household's outbox (SSE), and one "notification.email" message
//     per e-mail recipient. Unique keys (source occurrence; account +
//     source occurrence) make a rerun of the tick by anyone insert nothing;
//     the transaction also re-checks the leader's term (FOR SHARE), so a
//     deposed leader's tick cannot commit;
//   - the subscription "smtp" sends each e-mail through the relay of
//     smtpURL (libcurl; retried with backoff, dead-lettered after
//     notificationEmailMaxRetries) and marks the row emailed; a redelivery
//     of a marked row sends nothing. The window left: a crash after the
//     relay accepted the e-mail and before the mark commits sends it again
//     (with the same Message-ID);
//   - routes under /api/v1/notifications (the caller's list, dismiss,
//     channel preferences).

#include <boost/describe.hpp>
#include <string>

#include "api/module.hpp"

namespace hearth::apps::notify {

/// The message of the "notification.email" topic: the notification to send
/// by e-mail (its row has everything else).
struct email_message {
  std::string notification_id;
};
BOOST_DESCRIBE_STRUCT(email_message, (), (notification_id))

/// Notifications as a hearth module (its name: "notify").
api::module notify_module();

}  // namespace hearth::apps::notify
