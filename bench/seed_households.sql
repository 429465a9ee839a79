-- N benchmark households, each with its own account (owner) and a session
-- with a known key, straight into hearth's tables (signing up through
-- /auth/signup costs an Argon2id hash per account: minutes for thousands).
-- Run on a database hearth has migrated (bench/fanout.sh does):
--
--   psql -qAt -F' ' -v households=5000 -v prefix=benchkey -f bench/seed_households.sql URL
--
-- prints one `KEY HOUSEHOLD_ID` line per household (hearth_bench_fanout
-- --accounts), KEY = '<prefix>-<i>', i = 1..N.
-- Rows as storage/accounts.cpp and storage/households.cpp write them:
-- auth_session.key_hash = SHA-256 of the key's bytes as sent after
-- "Bearer " (raw 32 bytes, not hex), valid while expires > now();
-- auth_household_member.permissions 'owner'. The password hash is not an
-- Argon2id string, so these accounts cannot sign in: they only use the key.
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE bench_seed ON COMMIT DROP AS
  SELECT i, gen_random_uuid() AS account_id, gen_random_uuid() AS household_id,
         :'prefix' || '-' || i AS key
  FROM generate_series(1, :households) AS i;
INSERT INTO auth_account (id, email_address, name, password_hash)
  SELECT account_id, :'prefix' || '-' || i || '@bench.invalid', 'Bench ' || i, '!bench'
  FROM bench_seed;
INSERT INTO auth_household (id, name) SELECT household_id, 'Bench ' || i FROM bench_seed;
INSERT INTO auth_household_member (auth_household_id, auth_account_id, permissions)
  SELECT household_id, account_id, 'owner' FROM bench_seed;
INSERT INTO auth_session (auth_account_id, key_hash, expires)
  SELECT account_id, sha256(convert_to(key, 'UTF8')), now() + interval '1 day' FROM bench_seed;
SELECT key, household_id FROM bench_seed ORDER BY i;
COMMIT;
