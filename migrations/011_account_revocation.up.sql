-- Durable revocations. Every change that shrinks an account's grants (a
-- sign-out, a member removed or its role changed, a household deleted)
-- records the account here, in the same transaction as the change. The
-- node that made the change ends the account's streams and cached grants
-- at once and tells its linked peers; a node that was not linked then (a
-- lost or frozen cluster link) reads what it missed from this table at its
-- next sweep (every 5 s) or link change (storage/revocations.hpp,
-- actors/notifier.cpp). Rows older than a day are purged by
-- engine.expire-sessions.
CREATE TABLE account_revocation (
  seq bigserial PRIMARY KEY,
  account_id uuid NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX account_revocation_revoked_at ON account_revocation (revoked_at);
