-- The uptime monitor (apps/uptime): the monitored sites and every check.
--
-- uptime_site.state is the state of the latest check ('up' or 'down'; NULL
-- until the first check). A check that changes it publishes a
-- site.transition message in the same transaction (engine/pubsub.hpp).

CREATE TABLE uptime_site (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  url          text NOT NULL UNIQUE,
  state        text CHECK (state IN ('up', 'down')),
  last_checked timestamptz,
  created      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE uptime_check (
  id          bigserial PRIMARY KEY,
  site_id     uuid NOT NULL REFERENCES uptime_site (id) ON DELETE CASCADE,
  checked_at  timestamptz NOT NULL DEFAULT now(),
  up          boolean NOT NULL,
  status      integer,  -- the HTTP status; NULL when no response came
  error       text,     -- 'timeout', 'connection refused', ...; NULL when a response came
  duration_ms integer NOT NULL
);
CREATE INDEX uptime_check_site ON uptime_check (site_id, checked_at);
