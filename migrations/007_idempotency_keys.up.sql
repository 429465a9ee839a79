-- Idempotency keys (the Idempotency-Key request header, docs/api.md): the
-- first successful response of a keyed write, stored in the same
-- transaction as the write itself (storage/idempotency.hpp), so a retry
-- after a lost response (timeout, kill -9 between commit and response)
-- finds it and is answered with it instead of writing again. Keys are per
-- account; a key older than 24 h counts as unused and the cron job
-- engine.purge-idempotency-keys deletes it.

CREATE TABLE idempotency_key (
  auth_account_id uuid NOT NULL REFERENCES auth_account (id) ON DELETE CASCADE,
  key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  fingerprint     bytea NOT NULL,            -- SHA-256 of method, path and body
  status          smallint NOT NULL,         -- 0 while the claiming transaction runs
  data_type       text NOT NULL,             -- the envelope's dataType
  data_value      text NOT NULL,             -- the envelope's dataValue (a JSON array)
  created         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (auth_account_id, key)
);
CREATE INDEX idempotency_key_created ON idempotency_key (created);
