-- A cron tick is claimed, then started: two steps, so that a claim whose
-- commit the claimant never learnt of (lost in doubt when the connection
-- broke) can be told apart from a run that began. `run_at` is NULL while
-- the tick is claimed and not started; the claimant sets it, under its
-- fencing term, just before it runs the job. A later leader takes over a
-- claim that was never started (engine/scheduler.hpp) and runs it, so a
-- claim lost in doubt at a leader change is not a skipped tick. A started
-- tick is never run again (at most once per tick).
--
-- Rows from before this migration, and rows inserted by a node that does
-- not know the column yet (a rolling upgrade), count as started: the
-- default is the insertion time.
ALTER TABLE scheduler_run ADD COLUMN run_at timestamptz DEFAULT now();
UPDATE scheduler_run SET run_at = started_at;
