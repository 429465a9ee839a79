-- iCalendar (RFC 5545), apps/calendar: each household's secret feed URL,
-- and subscriptions to external iCalendar URLs whose events are imported
-- into calendar_event, read-only.

-- One feed per household. The URL's token (32 random bytes, base64url) is
-- shown once; only its SHA-256 is kept. Rotating replaces the row.
CREATE TABLE calendar_feed (
  auth_household_id uuid PRIMARY KEY REFERENCES auth_household (id) ON DELETE CASCADE,
  token_hash        bytea NOT NULL UNIQUE,
  created           timestamptz NOT NULL DEFAULT now()
);

-- An external calendar a household subscribes to. last_fetched: the last
-- attempt; last_error: why it failed (NULL after a success).
CREATE TABLE calendar_subscription (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  url               text NOT NULL,
  name              text NOT NULL DEFAULT '',
  last_fetched      timestamptz,
  last_error        text,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now(),
  UNIQUE (auth_household_id, url)
);

-- Imported events: the subscription they come from and their key in it
-- (UID, plus RECURRENCE-ID or the occurrence's start for recurring events).
-- Rows with a subscription are read-only to clients (domain/tables.cpp).
ALTER TABLE calendar_event
  ADD COLUMN calendar_subscription_id uuid REFERENCES calendar_subscription (id) ON DELETE CASCADE,
  ADD COLUMN external_uid text;
CREATE UNIQUE INDEX calendar_event_imported ON calendar_event (calendar_subscription_id, external_uid)
  WHERE calendar_subscription_id IS NOT NULL;
