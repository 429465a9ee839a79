-- Notifications (apps/notify): a PlanTask's due date arriving, a
-- CalendarEvent about to start. The cron job notify.due runs once per tick on
-- the leader and, in ONE transaction, records each source occurrence it
-- handles (notification_source), one notification row per member of its
-- household, the change events of the in-app ones and one notification.email
-- Pub/Sub message per e-mail recipient. The unique keys make a rerun of a
-- tick (a second leader, a retry after a crash) insert nothing.

-- Each member's channels. NULL = the default (in-app: on; e-mail: the
-- operator's notificationEmailDefault).
CREATE TABLE notification_preference (
  auth_account_id uuid PRIMARY KEY REFERENCES auth_account (id) ON DELETE CASCADE,
  in_app          boolean,
  email           boolean,
  updated         timestamptz NOT NULL DEFAULT now()
);

-- A source occurrence notify.due has handled: a task's due moment, an
-- event's start. A moved due date or start time is a new occurrence. The
-- members to notify are those of the household when it is handled.
CREATE TABLE notification_source (
  source_table      text NOT NULL CHECK (source_table IN ('plan_task', 'calendar_event')),
  source_id         uuid NOT NULL,
  occurrence        timestamptz NOT NULL,
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  created           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_table, source_id, occurrence)
);
CREATE INDEX notification_source_occurrence ON notification_source (occurrence);

-- One per member and source occurrence. in_app = false: the member has the
-- in-app channel off; the row exists only to carry the e-mail (never listed,
-- no change event). emailed_at: set after the SMTP relay accepted the
-- e-mail (a redelivered message finds it set and sends nothing).
CREATE TABLE notification (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_account_id   uuid NOT NULL REFERENCES auth_account (id) ON DELETE CASCADE,
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  source_table      text NOT NULL,
  source_id         uuid NOT NULL,
  occurrence        timestamptz NOT NULL,
  kind              text NOT NULL CHECK (kind IN ('task.due', 'event.starting')),
  title             text NOT NULL,
  in_app            boolean NOT NULL,
  email             boolean NOT NULL,
  emailed_at        timestamptz,
  dismissed_at      timestamptz,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notification_once UNIQUE (auth_account_id, source_table, source_id, occurrence)
);
CREATE INDEX notification_account_created ON notification (auth_account_id, created DESC, id DESC)
  WHERE in_app;

-- What notify.due scans every tick: tasks by due date, events by start.
CREATE INDEX plan_task_due_date ON plan_task (due_date) WHERE due_date IS NOT NULL AND NOT done;
CREATE INDEX calendar_event_starts_at ON calendar_event (starts_at);
