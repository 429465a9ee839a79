-- Accounts, sign-in sessions, households with their members, the two first
-- household tables (shop_item, plan_task) and the change_event outbox.

CREATE FUNCTION hearth_ts(t timestamptz) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

CREATE TABLE auth_account (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email_address text NOT NULL,
  name          text NOT NULL,
  password_hash text NOT NULL,
  created       timestamptz NOT NULL DEFAULT now(),
  updated       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX auth_account_email_address ON auth_account (lower(email_address));

-- The key itself is never stored: only its SHA-256, so a database leak
-- yields no usable sessions.
CREATE TABLE auth_session (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_account_id uuid NOT NULL REFERENCES auth_account (id) ON DELETE CASCADE,
  key_hash        bytea NOT NULL UNIQUE,
  expires         timestamptz NOT NULL,
  created         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_session_expires ON auth_session (expires);

-- event_seq: the last change_event sequence number of this household. A
-- write takes the row lock by incrementing it, so sequence order is commit
-- order within a household.
CREATE TABLE auth_household (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name      text NOT NULL,
  event_seq bigint NOT NULL DEFAULT 0,
  created   timestamptz NOT NULL DEFAULT now(),
  updated   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_household_member (
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  auth_account_id   uuid NOT NULL REFERENCES auth_account (id) ON DELETE CASCADE,
  permissions       text NOT NULL CHECK (permissions IN ('owner', 'edit', 'view')),
  created           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (auth_household_id, auth_account_id)
);
CREATE INDEX auth_household_member_account ON auth_household_member (auth_account_id);

CREATE TABLE shop_item (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  name              text NOT NULL,
  done              boolean NOT NULL DEFAULT false,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shop_item_household ON shop_item (auth_household_id, created);

CREATE TABLE plan_task (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  name              text NOT NULL,
  done              boolean NOT NULL DEFAULT false,
  due_date          date,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plan_task_household ON plan_task (auth_household_id, created);

-- The outbox: one row per committed change, written in the same transaction
-- as the change. SSE replay (Last-Event-ID) and gap backfill read it.
CREATE TABLE change_event (
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  seq               bigint NOT NULL,
  table_name        text NOT NULL,
  row_id            uuid NOT NULL,
  operation         text NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
  updated           timestamptz NOT NULL,
  created           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (auth_household_id, seq)
);
CREATE INDEX change_event_created ON change_event (created);
