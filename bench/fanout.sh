#!/usr/bin/env bash
# SSE fan-out benchmark, hearth vs the Node SSE broadcaster
# (bench/peers/fastify/server.js), on loopback:
#   - fan-out at 1k/5k/10k subscribers of one household, a POST every 10 ms
#     (delivered events/s, write → delivery latency p50/p90/p99, lost events)
#   - memory per idle stream: (VmRSS after − before) / 10000 idle streams
#   - the same fan-out over a 3-node hearth cluster (subscribers spread over
#     the nodes, writes on node 0)
# then appends a markdown section to RESULTS (default bench/results/latest.md),
# keeps the raw results in bench/results/fanout.txt and draws
# bench/results/latency.svg (bench/latency_chart.py).
#
#   bench/fanout.sh [DATABASE_URL [RESULTS]]
# With DATABASE_URL (a superuser URL of a PostgreSQL on 127.0.0.1, as
# scripts/bench passes) it creates its own databases there; without, it
# starts a throwaway PostgreSQL on 127.0.0.1:55433. Its servers are its own:
# hearth on 3110, the Node peer on 3210, the cluster on 3120-3122 (cluster
# ports 4120-4122). Tunables: FANOUT_SIZES ("1000 5000 10000"),
# FANOUT_WRITES (500), FANOUT_IDLE (10000), FANOUT_CLUSTER (3000).
# Every wait and load is bounded; every server it starts is stopped on exit.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$HEARTH_ROOT"

sizes="${FANOUT_SIZES:-1000 5000 10000}"
writes="${FANOUT_WRITES:-500}"
idle="${FANOUT_IDLE:-10000}"
cluster_subs="${FANOUT_CLUSTER:-3000}"
results="${2:-bench/results/latest.md}"
unset FANOUT_SIZES FANOUT_WRITES FANOUT_IDLE FANOUT_CLUSTER

# Each process may hold ~10k sockets; the hard limit is what we may use.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < idle + 1000)); then
  hearth_log "open-file limit $(ulimit -n) < $((idle + 1000)): the 10k runs will fail (raise ulimit -Hn)"
fi

hearth_deps
cmake --preset release -DHEARTH_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j2 --target hearth hearth_bench_fanout >/dev/null
bin="$HEARTH_ROOT/build/release/hearth"
client="$HEARTH_ROOT/build/release/bench/hearth_bench_fanout"
peer="$HEARTH_ROOT/bench/peers/fastify"
if [[ ! -d "$peer/node_modules/fastify" ]]; then
  (cd "$peer" && npm install --no-audit --no-fund --silent)
fi

work="$(mktemp -d /tmp/hearth-fanout.XXXXXX)"
chmod 755 "$work"
pids=()
own_pg=""
stop_pid() {  # stop_pid PID: SIGTERM, ≤ 15 s, then SIGKILL
  local pid="$1" deadline=$((SECONDS + 15))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  if [[ -n "$own_pg" && -f "$work/pg/data/postmaster.pid" ]]; then
    as_pg /usr/lib/postgresql/*/bin/pg_ctl -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

base_url="${1:-}"
if [[ -z "$base_url" ]]; then
  own_pg=1
  mkdir -p "$work/pg"
  ((EUID == 0)) && chown postgres "$work/pg"
  as_pg /usr/lib/postgresql/*/bin/initdb -D "$work/pg/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >/dev/null
  as_pg /usr/lib/postgresql/*/bin/pg_ctl -D "$work/pg/data" -w -l "$work/pg/log" \
    -o "-k $work/pg -p 55433 -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  base_url="postgresql://postgres@127.0.0.1:55433/postgres"
fi
# A fresh database per deployment (hearths on one database form a cluster).
new_db() {
  local name="$1"
  psql "$base_url" -qAtc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  printf '%s\n' "${base_url%/*}/$name"
}

wait_http() {
  local deadline=$((SECONDS + 60))
  until curl -s -o /dev/null "$1"; do
    ((SECONDS < deadline)) || { hearth_log "$1 did not come up"; exit 1; }
    sleep 0.2
  done
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['dataValue'][0]['$1'])"; }
# account PORT → "KEY HOUSEHOLD" (a new account with one household)
account() {
  local b="http://127.0.0.1:$1/api/v1" key
  curl -s -X POST "$b/auth/signup" -H 'content-type: application/json' \
    -d '{"emailAddress":"fanout@example.com","password":"benchmark pw","name":"Fanout"}' >/dev/null
  key="$(curl -s -X POST "$b/auth/signin" -H 'content-type: application/json' \
    -d '{"emailAddress":"fanout@example.com","password":"benchmark pw"}' | field key)"
  printf '%s %s\n' "$key" "$(curl -s -X POST "$b/auth/households" -H 'content-type: application/json' \
    -H "Authorization: Bearer $key" -d '{"name":"Fanout"}' | field id)"
}
# hearth serve with raised limits (10k streams + the writer > the 10k default).
start_hearth() {  # start_hearth URL HTTP_PORT [NODE_ID CLUSTER_PORT]
  local -a env=(HEARTH_DATABASE_URL="$1" HEARTH_HTTP_ADDR="127.0.0.1:$2" HEARTH_LOG_LEVEL=warn
    HEARTH_MAX_CONNECTIONS=30000)
  [[ -n "${3:-}" ]] && env+=(HEARTH_NODE_ID="$3" HEARTH_CLUSTER_ADDR="127.0.0.1:$4")
  env "${env[@]}" "$bin" serve >>"$work/hearth-$2.log" 2>&1 &
  pids+=("$!")
  last_pid=$!
}
# run LABEL ARGS... → appends the RESULT line to $work/results (and prints it)
run() {
  local label="$1" line
  shift
  hearth_log "fan-out: $label"
  if ! line="$("$client" --label "$label" "$@" | grep '^RESULT')"; then
    [[ -n "${line:-}" ]] || line="RESULT label=$label error=1"
  fi
  line+=" load1=$(cut -d' ' -f1 /proc/loadavg)"  # this shared machine's load after the run
  printf '%s\n' "$line" | tee -a "$work/results" >&2
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# 1. hearth (one node) and the Node SSE broadcaster, side by side on one
# database (same key and household); their runs alternate, so both see the
# same background load of this shared machine.
url="$(new_db hearth_fanout)"
start_hearth "$url" 3110
hearth_pid=$last_pid
wait_http http://127.0.0.1:3110/api/v1/health
read -r key household < <(account 3110)
node "$peer/server.js" 3210 "$url" >"$work/node.log" 2>&1 &
pids+=("$!")
node_pid=$!
wait_http http://127.0.0.1:3210/api/v1/shop/items
common=(--key "$key" --household "$household" --writes "$writes")
run "hearth:idle" --mode idle --sse 3110 --key "$key" --subscribers "$idle" --pid "$hearth_pid"
run "node:idle" --mode idle --sse 3210 --key "$key" --subscribers "$idle" --pid "$node_pid"
for n in $sizes; do
  run "hearth:$n" --mode fanout --sse 3110 --write 3110 --subscribers "$n" --pid "$hearth_pid" \
    "${common[@]}"
  run "node:$n" --mode fanout --sse 3210 --write 3210 --subscribers "$n" --pid "$node_pid" \
    "${common[@]}"
done
stop_pid "$hearth_pid"
stop_pid "$node_pid"

# 3. A 3-node hearth cluster on its own database; writes on node 0.
curl_linked() {  # all 3 nodes see both peers up
  local p
  for p in 3120 3121 3122; do
    curl -s "http://127.0.0.1:$p/api/v1/health" | python3 -c '
import json, sys
h = json.load(sys.stdin)
peers = h["dataValue"][0]["cluster"]["peers"]
sys.exit(0 if sum(1 for x in peers if x.get("link") == "up") >= 2 else 1)' || return 1
  done
}
url="$(new_db hearth_fanout_cluster)"
cluster_pids=()
for i in 0 1 2; do
  start_hearth "$url" $((3120 + i)) "node-$i" $((4120 + i))
  cluster_pids+=("$last_pid")
  wait_http "http://127.0.0.1:$((3120 + i))/api/v1/health"
done
deadline=$((SECONDS + 60))
until curl_linked 2>/dev/null; do
  ((SECONDS < deadline)) || { hearth_log "the cluster did not link in 60 s"; break; }
  sleep 0.5
done
read -r ckey chousehold < <(account 3120)
run "cluster:$cluster_subs" --mode fanout --sse 3120,3121,3122 --write 3120 \
  --subscribers "$cluster_subs" --key "$ckey" --household "$chousehold" --writes "$writes" \
  --pid "$(IFS=,; echo "${cluster_pids[*]}")"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# The markdown section and the chart.
python3 bench/fanout_report.py "$work/results" "$writes" "$load_before" "$load_after" >>"$results"
mkdir -p bench/results
cp "$work/results" bench/results/fanout.txt  # the raw RESULT lines
python3 bench/latency_chart.py "$results" bench/results/fanout.txt bench/results/latency.svg
hearth_log "fan-out section appended to $results; chart: bench/results/latency.svg"
