// Notifications (apps/notify/notify.hpp): the cron job notify.due, the
// notification.email topic and its "smtp" subscription. The API is in
// apps/notify/routes.cpp.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <pqxx/pqxx>
#include <stdexcept>
#include <vector>

#include "apps/notify/notify_impl.hpp"
#include "config/logging.hpp"
#include "storage/account_tokens.hpp"
#include "storage/events.hpp"
#include "storage/pool.hpp"

namespace hearth::apps::notify {
namespace detail {
namespace {

using namespace std::chrono_literals;

// The fence of the tick's transaction: the leader's term, locked FOR SHARE
// (a new leader's term increment waits for this transaction to end).
constexpr const char* kLockTerm = "SELECT term FROM cluster_leader WHERE id = 1 FOR SHARE";

// The whole tick in one statement (data-modifying CTEs):
//   due  — tasks not done whose due moment (due date at $1 h UTC) has come,
//          events whose start minus $2 minutes has come and that have not
//          ended; both at most 48 h in the past (older ones are not
//          announced late: a task created with a past date, an outage;
//          48 h, not 24, so that a task due today and created in the
//          day's last minute is still seen by the next tick);
//   src  — the source occurrences not handled before (ON CONFLICT: a rerun,
//          or a second leader, waits for the first one's commit and skips);
//   then one notification per member with a channel on ($3: the e-mail
//   default, $4: the e-mail channel exists), again at most once per member
//   and source occurrence. Returns the rows inserted.
constexpr const char* kDue = R"sql(
WITH due AS (
  SELECT 'plan_task'::text AS source_table, t.id AS source_id, t.auth_household_id,
         hearth_due_at(t.due_date, $1::int, h.time_zone) AS occurrence,
         'task.due'::text AS kind, t.name AS title
  FROM plan_task t JOIN auth_household h ON h.id = t.auth_household_id
  WHERE t.due_date IS NOT NULL AND NOT t.done
    -- a local date is at most a day off the UTC date (zones span -12..+14 h)
    AND t.due_date BETWEEN ((now() - interval '4 days') AT TIME ZONE 'UTC')::date
                       AND ((now() + interval '1 day') AT TIME ZONE 'UTC')::date
    AND hearth_due_at(t.due_date, $1::int, h.time_zone) <= now()
    AND hearth_due_at(t.due_date, $1::int, h.time_zone) > now() - interval '48 hours'
  UNION ALL
  SELECT 'calendar_event', e.id, e.auth_household_id, e.starts_at, 'event.starting', e.name
  FROM calendar_event e
  WHERE e.starts_at <= now() + make_interval(mins => $2::int)
    AND e.starts_at > now() - interval '48 hours'
    AND e.ends_at >= now()
), src AS (
  INSERT INTO notification_source (source_table, source_id, occurrence, auth_household_id)
  SELECT source_table, source_id, occurrence, auth_household_id FROM due
  ON CONFLICT DO NOTHING
  RETURNING source_table, source_id, occurrence
)
INSERT INTO notification (auth_account_id, auth_household_id, source_table, source_id,
                          occurrence, kind, title, in_app, email)
SELECT m.auth_account_id, d.auth_household_id, d.source_table, d.source_id, d.occurrence,
       d.kind, d.title, coalesce(p.in_app, true), coalesce(p.email, $3::boolean) AND $4::boolean
FROM src
JOIN due d USING (source_table, source_id, occurrence)
JOIN auth_household_member m ON m.auth_household_id = d.auth_household_id
LEFT JOIN notification_preference p ON p.auth_account_id = m.auth_account_id
WHERE coalesce(p.in_app, true) OR (coalesce(p.email, $3::boolean) AND $4::boolean)
ON CONFLICT ON CONSTRAINT notification_once DO NOTHING
RETURNING id::text, auth_household_id::text, in_app, email, hearth_ts(updated)
)sql";

// Handled occurrences older than the look-back can never be due again.
constexpr const char* kPurgeSources =
    "DELETE FROM notification_source WHERE occurrence < now() - interval '4 days'";

constexpr const char* kLoadEmail =
    "SELECT n.emailed_at IS NOT NULL, a.email_address, a.name, h.name, n.kind, n.title, "
    "  to_char(n.occurrence AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
    "  to_char(n.occurrence AT TIME ZONE 'UTC', 'HH24:MI') "
    "FROM notification n JOIN auth_account a ON a.id = n.auth_account_id "
    "JOIN auth_household h ON h.id = n.auth_household_id WHERE n.id = $1 AND n.email";
constexpr const char* kMarkEmailed =
    "UPDATE notification SET emailed_at = now() WHERE id = $1 AND emailed_at IS NULL";

struct inserted {
  std::string id;
  std::string household;
  bool in_app = false;
  bool email = false;
  std::string updated;
};

std::string plural(std::size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// Sends `out` through the relay, its From and Date set here. A refusal is
// logged at warn as "<what> (message <id>, attempt <n>): <reason>" and
// rethrown: the delivery retries it.
void send_through(const smtp_settings& relay, mail& out, const std::string& what,
                  const engine::message_info& m) {
  out.from = relay.from;
  out.date = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  try {
    send_mail(relay, out);
  } catch (const smtp_error& failure) {
    log::warn("{} (message {}, attempt {}): {}", what, m.id, m.attempt, failure.what());
    throw;
  }
}

}  // namespace

notifier::~notifier() {
  if (probe_.joinable()) probe_.join();
}

settings settings::from_config(const config::config& cfg) {
  settings s;
  s.schedule = cfg.notification_schedule;
  s.lead_minutes = cfg.calendar_reminder_lead_minutes;
  s.due_hour = cfg.task_due_hour_utc;
  if (cfg.notification_email_default == "on")
    s.email_default = true;
  else if (cfg.notification_email_default != "off")
    throw config::config_error("notificationEmailDefault: must be on or off");
  s.smtp = smtp_settings::from_config(cfg);
  s.delivery.max_retries = static_cast<int>(cfg.notification_email_max_retries);
  s.delivery.min_backoff = std::chrono::milliseconds(cfg.notification_email_min_backoff_ms);
  s.delivery.max_backoff = std::chrono::milliseconds(cfg.notification_email_max_backoff_ms);
  if (s.delivery.max_backoff < s.delivery.min_backoff)
    throw config::config_error(
        "notificationEmailMaxBackoffMs: must not be below notificationEmailMinBackoffMs");
  // A send takes at most the timeout (libcurl's CURLOPT_TIMEOUT_MS); the
  // database reads around it a little more.
  s.delivery.ack_deadline = std::chrono::milliseconds(cfg.smtp_timeout_ms) + 5s;
  s.delivery.max_concurrency = 4;
  return s;
}

void notifier::declare(engine::registry& r, const config::config& cfg, storage::pool& db) {
  db_ = &db;
  settings_ = settings::from_config(cfg);
  if (settings_.smtp) {
    init_curl();
    // A relay that would refuse every e-mail is said at start, not after
    // each e-mail's last retry (the usual case: a local sink without TLS
    // while smtpStartTLS is required).
    probe_ = std::thread([relay = *settings_.smtp] {
      auto why = probe_relay(relay, std::min<std::chrono::milliseconds>(relay.timeout, 5s));
      if (why.empty())
        log::info("notifications: the SMTP relay answers");
      else
        log::warn("notifications: the SMTP relay would not take mail now: {}", why);
    });
  } else {
    log::info("notifications: no smtpURL, the e-mail channel is off");
  }

  emails_ = r.declare_topic<email_message>("notification.email");
  r.subscribe<email_message>(
      emails_, "smtp", settings_.delivery,
      [self = shared_from_this()](const engine::message_info& m, const email_message& e) {
        self->send_email(m, e);
      });
  // The account routes' e-mails (password reset, address confirmation),
  // delivered like the notifications' (api/account_mail.hpp).
  account_mails_ = r.declare_topic<api::account_mail>(api::kAccountMailTopic);
  r.subscribe<api::account_mail>(
      account_mails_, "account-smtp", settings_.delivery,
      [self = shared_from_this()](const engine::message_info& m, const api::account_mail& a) {
        self->send_account_mail(m, a);
      });
  r.cron("notify.due", settings_.schedule,
         [self = shared_from_this()](const engine::cron_tick& t) { return self->run_due(t); });
}

std::string notifier::run_due(const engine::cron_tick& tick) {
  std::size_t rows = 0, emails = 0, events = 0;
  // Before the routes are served there is no one to publish to (the
  // notifier's sweep finds the events in the outbox).
  const auto* publish = publish_.load();
  const storage::event_sink none;
  storage::run_sync(*db_, [&](storage::connection& conn) {
    rows = emails = events = 0;
    storage::change_transaction change(conn, publish ? *publish : none);
    auto& tx = change.tx();
    if (tick.term > 0) {
      auto term = tx.exec1(kLockTerm)[0].as<std::int64_t>();
      if (term != tick.term)
        throw std::runtime_error(
            fmt::format("term {} is no longer current ({}): not run", tick.term, term));
    }
    std::vector<inserted> fresh;
    for (const auto& row : tx.exec_params(kDue, static_cast<int>(settings_.due_hour),
                                          static_cast<int>(settings_.lead_minutes),
                                          settings_.email_default, settings_.smtp.has_value()))
      fresh.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<bool>(),
                       row[3].as<bool>(), row[4].as<std::string>()});
    // Households in id order, as the group commit locks them
    // (storage/group_commit.cpp): two transactions never wait on each other
    // in a cycle.
    std::sort(fresh.begin(), fresh.end(), [](const inserted& a, const inserted& b) {
      return std::tie(a.household, a.id) < std::tie(b.household, b.id);
    });
    for (const auto& n : fresh) {
      // Only the in-app rows are shown, so only they have change events.
      // The event carries the row's id only: every member of the household
      // sees it, and only the recipient can read the row.
      if (n.in_app) change.record(n.household, kTable, n.id, "create", n.updated);
      if (n.email) {
        emails_.publish(tx, email_message{n.id});
        ++emails;
      }
    }
    tx.exec0(kPurgeSources);
    change.commit();  // publishes the in-app rows' events
    rows = fresh.size();
    events = change.events().size();
  });
  return fmt::format("{} ({} in-app, {})", plural(rows, "notification", "notifications"), events,
                     plural(emails, "e-mail", "e-mails"));
}

void notifier::send_email(const engine::message_info& m, const email_message& e) {
  if (!settings_.smtp) {
    std::call_once(no_smtp_logged_, [] {
      log::warn("notifications: an e-mail to send but no smtpURL on this node: dropped");
    });
    return;
  }
  struct loaded {
    bool sent = false;
    std::string to, name, household, kind, title, day, time;
  };
  auto row = storage::run_sync(*db_, [&](storage::connection& conn) -> std::optional<loaded> {
    pqxx::read_transaction tx(conn);
    auto r = tx.exec_params(kLoadEmail, e.notification_id);
    if (r.empty()) return std::nullopt;
    loaded l;
    const auto& f = r[0];
    l.sent = f[0].as<bool>();
    l.to = f[1].as<std::string>();
    l.name = f[2].as<std::string>();
    l.household = f[3].as<std::string>();
    l.kind = f[4].as<std::string>();
    l.title = f[5].as<std::string>();
    l.day = f[6].as<std::string>();
    l.time = f[7].as<std::string>();
    return l;
  });
  if (!row) {  // the account or household was deleted meanwhile
    log::debug("notifications: e-mail of {} (message {}): the notification is gone",
               e.notification_id, m.id);
    return;
  }
  if (row->sent) {  // a redelivery after the mark committed
    log::info("notifications: e-mail of {} (message {}, attempt {}) was already sent",
              e.notification_id, m.id, m.attempt);
    return;
  }
  if (!sendable_address(row->to)) {
    log::warn("notifications: e-mail of {}: the account's address cannot be sent to (not ASCII)",
              e.notification_id);
    return;
  }
  const auto& relay = *settings_.smtp;
  mail out;
  out.to = row->to;
  out.message_id = "<notification-" + e.notification_id + "@" + domain_of(relay.from) + ">";
  if (row->kind == "task.due") {
    out.subject = "Due: " + row->title;
    out.body = fmt::format("Hello {},\n\nthe task \"{}\" in {} is due on {}.\n", row->name,
                           row->title, row->household, row->day);
  } else {
    out.subject = fmt::format("At {} UTC: {}", row->time, row->title);
    out.body = fmt::format("Hello {},\n\nthe event \"{}\" in {} starts on {} at {} UTC.\n",
                           row->name, row->title, row->household, row->day, row->time);
  }
  out.body +=
      "\n-- \nhearth. You get these e-mails because e-mail notifications are on for your "
      "account: PUT /api/v1/notifications/preferences {\"email\": false} turns them off.\n";
  send_through(relay, out, "notifications: e-mail of " + e.notification_id, m);
  // The relay has it. A crash before this commits is the one window left:
  // the redelivery sends it again (same Message-ID).
  storage::run_sync(*db_, [&](storage::connection& conn) {
    pqxx::work tx(conn);
    tx.exec_params0(kMarkEmailed, e.notification_id);
    tx.commit();
  });
  log::info("notifications: e-mail of {} sent (message {}, attempt {})", e.notification_id, m.id,
            m.attempt);
}

void notifier::send_account_mail(const engine::message_info& m, const api::account_mail& a) {
  if (!settings_.smtp) {
    log::warn("account e-mail of request {}: no smtpURL, not sent", a.token_request);
    return;
  }
  const auto issued = storage::run_sync(
      *db_, [&](storage::connection& conn) { return storage::issue_token(conn, a.token_request); });
  if (!issued) {
    log::info(
        "account e-mail of request {}: the request is gone (used, expired or its account "
        "deleted), not sent",
        a.token_request);
    return;
  }
  if (!sendable_address(issued->to)) {
    log::warn("account e-mail of request {}: the address cannot be sent to (not ASCII)",
              a.token_request);
    return;
  }
  const auto& relay = *settings_.smtp;
  mail out;
  out.to = issued->to;
  // Each attempt carries a new token: a new message.
  out.message_id =
      fmt::format("<account-{}-{}@{}>", a.token_request, m.attempt, domain_of(relay.from));
  if (issued->purpose == storage::token_purpose::password_reset) {
    out.subject = "Reset your hearth password";
    out.body = fmt::format(
        "Hello {},\n\nsomeone asked to reset the password of the hearth account of this address. "
        "To choose a new one, open this link before {}:\n\n{}/#reset-password={}\n\nIt works "
        "once, and signs out every device. If you did not ask for it, ignore this e-mail: your "
        "password stays as it is.\n",
        issued->name, issued->expires, a.base_url, issued->token);
  } else if (issued->purpose == storage::token_purpose::invitation) {
    out.subject = fmt::format("{} invites you to {} on hearth", issued->name, issued->household);
    out.body = fmt::format(
        "Hello,\n\n{} invites you to the household \"{}\" on hearth, as {}. Sign in, or "
        "create an account, then open this link before {}:\n\n{}/#invitation={}\n\nIt works "
        "once. If you do not know {}, ignore this e-mail.\n",
        issued->name, issued->household, issued->permissions, issued->expires, a.base_url,
        issued->token, issued->name);
  } else {
    out.subject = "Confirm your new hearth e-mail address";
    out.body = fmt::format(
        "Hello {},\n\nto make this the e-mail address of your hearth account, open this link "
        "before {}:\n\n{}/#confirm-email={}\n\nIt works once. If you did not ask for it, ignore "
        "this e-mail: nothing changes.\n",
        issued->name, issued->expires, a.base_url, issued->token);
  }
  send_through(relay, out, "account e-mail of request " + a.token_request, m);
  log::info("account e-mail of request {} sent (message {}, attempt {})", a.token_request, m.id,
            m.attempt);
}

}  // namespace detail

api::module notify_module() {
  auto n = std::make_shared<detail::notifier>();
  return {.name = "notify",
          .declare = [n](engine::registry& r, const config::config& cfg,
                         storage::pool& db) { n->declare(r, cfg, db); },
          .routes =
              [n](http::route_group& api, http::route_group&, api::services& s) {
                n->attach(s.writes.publisher());
                detail::routes(api, s, n->options());
              }};
}

}  // namespace hearth::apps::notify
