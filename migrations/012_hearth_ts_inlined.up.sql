-- hearth_ts(t), the RFC 3339 text of a timestamp in every answer, becomes
-- STABLE so that PostgreSQL inlines it into the calling query. Declared
-- IMMUTABLE (001_init), its body (to_char, which is STABLE) was more
-- volatile than the declaration, and PostgreSQL refuses to inline such a
-- SQL function: every statement that called it parsed and planned the
-- body again at each execution (fmgr_sql). With four calls, a one-row
-- prepared SELECT took 180 µs instead of 61 µs (pgbench -M prepared), and
-- a lone write's statement cost the database about twice what the same
-- statements without it cost (bench/lone_write.sh). Nothing indexes on
-- it, so IMMUTABLE bought nothing.
CREATE OR REPLACE FUNCTION hearth_ts(t timestamptz) RETURNS text
  LANGUAGE sql STABLE STRICT PARALLEL SAFE
  AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
