-- Cluster membership, leader terms and the fenced record of scheduled runs.

-- One row per live node, upserted by its heartbeat (every
-- clusterHeartbeatMs) on its dedicated election connection; db_pid is that
-- connection's backend, which holds the leader advisory lock while the node
-- leads. app_name: the application_name all its sessions carry
-- ("hearth/<node>/<incarnation>"), so a silent node can be fenced off by
-- terminating every session it has (its pool may hold row locks).
-- links: the node's view of its peer links ({"node-b": "up", ...}).
-- A clean stop deletes the row; a dead node's row goes stale and is purged.
CREATE TABLE cluster_node (
  node_id      text PRIMARY KEY,
  cluster_addr text NOT NULL,
  http_addr    text NOT NULL,
  db_pid       integer NOT NULL,
  app_name     text NOT NULL DEFAULT '',  -- application_name of every session of this process
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  links        jsonb NOT NULL DEFAULT '{}'
);

-- The current leadership term. A node that takes the leader lock increments
-- term (the fencing number) before running anything.
CREATE TABLE cluster_leader (
  id         integer PRIMARY KEY CHECK (id = 1),
  term       bigint NOT NULL,
  node_id    text NOT NULL,
  elected_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cluster_leader (id, term, node_id) VALUES (1, 0, '');

-- Every scheduled run: at most one per (task, tick) across the cluster, and
-- only inserted while `term` is still the current term (a stale leader's run
-- is refused).
CREATE TABLE scheduler_run (
  task        text NOT NULL,
  tick        bigint NOT NULL,
  term        bigint NOT NULL,
  node_id     text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  outcome     text,
  PRIMARY KEY (task, tick)
);
CREATE INDEX scheduler_run_term ON scheduler_run (term);
