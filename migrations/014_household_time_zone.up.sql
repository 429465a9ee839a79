-- A household's IANA time zone (docs/api.md, "Households"): its members'
-- local clock. A task's due reminder comes at the configured hour
-- (taskDueHourUTC, now the household's local hour) of its due date in this
-- zone, with daylight saving time as the zone has it.
ALTER TABLE auth_household ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';

-- The moment a task due on `d` is reminded: `hour`:00 of that day in `tz`.
-- STABLE, not IMMUTABLE: the zone's rules are PostgreSQL's tz database.
CREATE FUNCTION hearth_due_at(d date, hour int, tz text) RETURNS timestamptz
  LANGUAGE sql STABLE STRICT PARALLEL SAFE
  AS $$ SELECT (d + make_interval(hours => hour)) AT TIME ZONE tz $$;
