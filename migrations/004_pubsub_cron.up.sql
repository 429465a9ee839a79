-- Durable Pub/Sub (engine/pubsub.hpp) and the engine's housekeeping tables.
--
-- pubsub_message: the outbox of published messages, written in the
-- publisher's transaction. pubsub_delivery: one row per (subscription,
-- message), claimed by a node (locked_until = ack deadline) with FOR UPDATE
-- SKIP LOCKED, acknowledged (delivered_at) or rescheduled with backoff
-- (next_attempt_at, last_error). After max retries the row moves to
-- pubsub_dead_letter with the message and its last error.

CREATE TABLE pubsub_message (
  id           bigserial PRIMARY KEY,
  topic        text NOT NULL,
  payload      jsonb NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pubsub_message_published ON pubsub_message (published_at);

CREATE TABLE pubsub_delivery (
  subscription    text NOT NULL,
  message_id      bigint NOT NULL REFERENCES pubsub_message (id) ON DELETE CASCADE,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_until    timestamptz,
  locked_by       text,
  last_error      text,
  delivered_at    timestamptz,
  PRIMARY KEY (subscription, message_id)
);
CREATE INDEX pubsub_delivery_due ON pubsub_delivery (subscription, next_attempt_at)
  WHERE delivered_at IS NULL;

CREATE TABLE pubsub_dead_letter (
  subscription text NOT NULL,
  message_id   bigint NOT NULL,
  topic        text NOT NULL,
  payload      jsonb NOT NULL,
  attempts     integer NOT NULL,
  last_error   text NOT NULL,
  failed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subscription, message_id)
);

-- Daily counts per household (the engine's rollup cron job, as Homechart's
-- task runner keeps statistics): rows per household table and the changes
-- recorded that day (UTC).
CREATE TABLE household_daily_rollup (
  day               date NOT NULL,
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  table_name        text NOT NULL,
  row_count         bigint NOT NULL,
  changes           bigint NOT NULL,
  computed_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (day, auth_household_id, table_name)
);

CREATE INDEX change_event_household_created ON change_event (auth_household_id, created);
