#!/usr/bin/env bash
# SSE fan-out benchmark, hearth vs the Node SSE broadcaster
# (bench/peers/fastify/server.js), on loopback; every hearth run is next to a
# Node run on the same database with the same accounts. Shapes (FANOUT_SHAPES,
# default "a b c"):
#   a: one household × 1k/5k/10k subscribers, a POST every 10 ms (delivered
#      events/s, write → delivery latency p50/p90/p99, lost events), memory
#      per idle stream ((VmRSS after − before) / 10000 idle streams), and the
#      same fan-out over a 3-node hearth cluster (subscribers spread over the
#      nodes, writes on node 0; hearth only); and the floor (bench/floor.cpp:
#      the same frame bytes written to the same sockets, one write each, by
#      a program that does nothing else), hearth's CPU per event as a ratio
#      to it
#   b: realistic households: 20k streams over 5k households (4 per
#      household, each household its own account and key, seeded by
#      bench/seed_households.sql), 1k writes/s spread uniformly over the
#      households; once with the writes on keep-alive connections, once with
#      a new TCP connection per write
#   c: shape b on a 3-node hearth cluster (streams round-robin over the nodes,
#      writes round-robin over the nodes) vs one Node process
# Per run: server CPU µs per delivered event (primary), events/s, p50/p99,
# lost, duplicates, streams dropped, and the client's own CPU (the client and
# the servers share this machine's cores). It then appends a markdown section
# (one table per shape) to RESULTS (default bench/results/latest.md), keeps
# the raw results in bench/results/fanout.txt and draws
# bench/results/latency.svg (bench/latency_chart.py).
#
#   bench/fanout.sh [DATABASE_URL [RESULTS]]
# With DATABASE_URL (a superuser URL of a PostgreSQL on 127.0.0.1, as
# scripts/bench passes) it creates its own databases there; without, it
# starts a throwaway PostgreSQL on 127.0.0.1:55433. Its servers are its own:
# hearth on 3110, the Node peer on 3210, the cluster on 3120-3122 (cluster
# ports 4120-4122). Tunables:
#   FANOUT_SHAPES ("a b c")
#   shape a: FANOUT_SIZES ("1000 5000 10000"), FANOUT_WRITES (500),
#     FANOUT_IDLE (10000; 0 = no idle-memory run), FANOUT_CLUSTER (3000;
#     0 = no one-household cluster run)
#   shapes b and c: FANOUT_B_HOUSEHOLDS (5000), FANOUT_B_PER_HOUSEHOLD (4),
#     FANOUT_B_RATE (1000 writes/s), FANOUT_B_SECONDS (30 s of writes),
#     FANOUT_B_WRITERS (64 writes in flight at most),
#     FANOUT_B_MODES ("keepalive newconn")
#   FANOUT_CLIENT_THREADS (1: the client's reader threads)
# A small run: FANOUT_SHAPES="b c" FANOUT_B_HOUSEHOLDS=100
#   FANOUT_B_PER_HOUSEHOLD=2 FANOUT_B_RATE=100 FANOUT_B_SECONDS=5 bench/fanout.sh
# Every wait and load is bounded; every server it starts is stopped on exit.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HEARTH_ROOT"

shapes=" ${FANOUT_SHAPES:-a b c} "
sizes="${FANOUT_SIZES:-1000 5000 10000}"
writes="${FANOUT_WRITES:-500}"
idle="${FANOUT_IDLE:-10000}"
cluster_subs="${FANOUT_CLUSTER:-3000}"
b_households="${FANOUT_B_HOUSEHOLDS:-5000}"
b_per="${FANOUT_B_PER_HOUSEHOLD:-4}"
b_rate="${FANOUT_B_RATE:-1000}"
b_seconds="${FANOUT_B_SECONDS:-30}"
b_writers="${FANOUT_B_WRITERS:-64}"
b_modes="${FANOUT_B_MODES:-keepalive newconn}"
client_threads="${FANOUT_CLIENT_THREADS:-1}"
results="${2:-bench/results/latest.md}"
unset FANOUT_SHAPES FANOUT_SIZES FANOUT_WRITES FANOUT_IDLE FANOUT_CLUSTER FANOUT_B_HOUSEHOLDS \
  FANOUT_B_PER_HOUSEHOLD FANOUT_B_RATE FANOUT_B_SECONDS FANOUT_B_WRITERS FANOUT_B_MODES \
  FANOUT_CLIENT_THREADS
has() { [[ "$shapes" == *" $1 "* ]]; }
b_streams=$((b_households * b_per))
b_writes=$((b_rate * b_seconds))

# One process (client or server) may hold every stream at once, plus writers
# and database connections: raise the hard limit when we may (root), then
# the soft one to it.
need=$((idle > b_streams ? idle : b_streams))
need=$((need + b_writers + 2000))
if (($(ulimit -Hn) < need)); then ulimit -Hn "$need" 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < need)); then
  # This machine's hard limit cannot be raised (no CAP_SYS_RESOURCE): shape
  # b keeps its shape (streams per household, write rate) over as many
  # households as fit, and the report says so.
  fit=$((($(ulimit -n) - b_writers - 2000) / b_per))
  if ((fit < b_households)); then
    hearth_log "open-file limit $(ulimit -n) < $need: shape b scaled to $fit households ($((fit * b_per)) streams)"
    b_households=$fit
    b_streams=$((b_households * b_per))
  fi
  if ((idle + 2000 > $(ulimit -n))); then
    idle=$(($(ulimit -n) - 2000))
    hearth_log "idle-memory run scaled to $idle streams"
  fi
fi

hearth_deps
cmake --preset release -DHEARTH_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j2 --target hearth hearth_bench_fanout hearth_bench_floor >/dev/null
bin="${BENCH_BIN:-$HEARTH_ROOT/build/release/hearth}"  # BENCH_BIN: another build to measure (A/B)
client="$HEARTH_ROOT/build/release/bench/hearth_bench_fanout"
floor="$HEARTH_ROOT/build/release/bench/hearth_bench_floor"
peer="$HEARTH_ROOT/bench/peers/fastify"
if [[ ! -d "$peer/node_modules/fastify" ]]; then
  (cd "$peer" && npm install --no-audit --no-fund --silent)
fi

work="$(mktemp -d /tmp/hearth-fanout.XXXXXX)"
chmod 755 "$work"
pids=()
own_pg=""
cleanup() { bench_cleanup; }
trap cleanup EXIT

base_url="${1:-}"
[[ -n "$base_url" ]] || bench_postgres 55433
# A fresh database per deployment (hearths on one database form a cluster).
new_db() {
  local name="$1"
  psql "$base_url" -qAtc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  printf '%s\n' "${base_url%/*}/$name"
}

# seed URL N PREFIX → FILE of "KEY HOUSEHOLD" lines (bench/seed_households.sql)
seed() {
  psql "$1" -qAt -F' ' -v households="$2" -v prefix="$3" -f bench/seed_households.sql >"$4"
  (($(wc -l <"$4") == $2)) || { hearth_log "seeding $2 households failed"; exit 1; }
}
# check_key PORT KEY: the seeded key is a session there (a 200 listing items)
check_key() {
  local code
  code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" \
    "http://127.0.0.1:$1/api/v1/shop/items")"
  [[ "$code" == 200 ]] || { hearth_log "seeded key refused by :$1 (HTTP $code)"; exit 1; }
}
# hearth serve with raised limits (20k streams + the writers > the 10k default).
start_hearth() {  # start_hearth URL HTTP_PORT [NODE_ID CLUSTER_PORT]
  local -a env=(HEARTH_DATABASE_URL="$1" HEARTH_HTTP_ADDR="127.0.0.1:$2" HEARTH_LOG_LEVEL=warn
    HEARTH_MAX_CONNECTIONS=30000 "${bench_no_limits[@]}")
  [[ -n "${3:-}" ]] && env+=(HEARTH_NODE_ID="$3" HEARTH_CLUSTER_ADDR="127.0.0.1:$4")
  env "${env[@]}" "$bin" serve >>"$work/hearth-$2.log" 2>&1 &
  pids+=("$!")
  last_pid=$!
}
# The Node peer: one process, no connection limit of its own (Node's http
# server has maxConnections unset; its sockets are bounded by ulimit -n).
start_node() {  # start_node URL PORT
  node "$peer/server.js" "$2" "$1" >>"$work/node-$2.log" 2>&1 &
  pids+=("$!")
  last_pid=$!
}
# run LABEL ARGS... → appends the RESULT line to $work/results (and prints it)
run() {
  local label="$1" line
  shift
  hearth_log "fan-out: $label"
  if ! line="$("$client" --label "$label" --threads "$client_threads" "$@" | grep '^RESULT')"; then
    [[ -n "${line:-}" ]] || line="RESULT label=$label error=1"
  fi
  line+=" load1=$(cut -d' ' -f1 /proc/loadavg)"  # this shared machine's load after the run
  printf '%s\n' "$line" | tee -a "$work/results" >&2
}
# run_b SHAPE HEARTH_PIDS SSE_PORTS WRITE_PORTS NODE_PID: shape b (or c) for
# every write mode, hearth then Node, on the accounts in $work/accounts-SHAPE
run_b() {
  local shape="$1" hpids="$2" hsse="$3" hwrite="$4" npid="$5" mode
  local -a common=(--mode fanout --accounts "$work/accounts-$shape" --streams-per-household "$b_per"
    --rate "$b_rate" --writes "$b_writes" --writers "$b_writers" --connect-s 180
    --deadline-s $((b_seconds + 45)))
  for mode in $b_modes; do
    local -a extra=()
    [[ "$mode" == newconn ]] && extra=(--new-connection-per-write)
    run "hearth:$shape:$mode" "${common[@]}" "${extra[@]}" --sse "$hsse" --write "$hwrite" \
      --pid "$hpids"
    run "node:$shape:$mode" "${common[@]}" "${extra[@]}" --sse 3210 --write 3210 --pid "$npid"
  done
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/results"

# 1. hearth (one node) and the Node SSE broadcaster, side by side on one
# database (same keys and households); their runs alternate, so both see the
# same background load of this shared machine.
if has a || has b; then
  url="$(new_db hearth_fanout)"
  start_hearth "$url" 3110
  hearth_pid=$last_pid
  wait_http http://127.0.0.1:3110/api/v1/health  # migrated
  start_node "$url" 3210
  node_pid=$last_pid
  wait_http http://127.0.0.1:3210/api/v1/shop/items
  if has a; then
    read -r key household < <(account 3110 fanout)
    common=(--key "$key" --household "$household" --writes "$writes")
    if ((idle > 0)); then
      run "hearth:idle" --mode idle --sse 3110 --key "$key" --subscribers "$idle" --pid "$hearth_pid"
      run "node:idle" --mode idle --sse 3210 --key "$key" --subscribers "$idle" --pid "$node_pid"
    fi
    # The floor (bench/floor.cpp): the same frames to the same sockets, one
    # write each, nothing else; hearth's CPU per event is reported against it.
    "$floor" 3310 >>"$work/floor.log" 2>&1 &
    pids+=("$!")
    floor_pid=$!
    wait_http http://127.0.0.1:3310/
    for n in $sizes; do
      run "hearth:a:$n" --mode fanout --sse 3110 --write 3110 --subscribers "$n" \
        --pid "$hearth_pid" "${common[@]}"
      run "node:a:$n" --mode fanout --sse 3210 --write 3210 --subscribers "$n" --pid "$node_pid" \
        "${common[@]}"
      run "floor:a:$n" --mode fanout --sse 3310 --write 3310 --subscribers "$n" \
        --pid "$floor_pid" "${common[@]}"
    done
    stop_pid "$floor_pid"
  fi
  if has b; then
    hearth_log "seeding $b_households households (accounts, sessions, members)"
    seed "$url" "$b_households" benchkey "$work/accounts-b"
    read -r key _ <"$work/accounts-b"
    check_key 3110 "$key"
    check_key 3210 "$key"
    run_b b "$hearth_pid" 3110 3110 "$node_pid"
  fi
  stop_pid "$hearth_pid"
  stop_pid "$node_pid"
fi

# 2. A 3-node hearth cluster on its own database: shape a's one household
# (writes on node 0), and shape c (shape b over the 3 nodes) next to one Node
# process on the same database.
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
if has c || { has a && ((cluster_subs > 0)); }; then
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
  cpids="$(IFS=,; echo "${cluster_pids[*]}")"
  if has a && ((cluster_subs > 0)); then
    read -r ckey chousehold < <(account 3120 fanout)
    run "cluster:$cluster_subs" --mode fanout --sse 3120,3121,3122 --write 3120 \
      --subscribers "$cluster_subs" --key "$ckey" --household "$chousehold" --writes "$writes" \
      --pid "$cpids"
  fi
  if has c; then
    start_node "$url" 3210
    node_pid=$last_pid
    wait_http http://127.0.0.1:3210/api/v1/shop/items
    hearth_log "seeding $b_households households on the cluster's database"
    seed "$url" "$b_households" benchkey "$work/accounts-c"
    read -r key _ <"$work/accounts-c"
    for p in 3120 3121 3122 3210; do check_key "$p" "$key"; done
    run_b c "$cpids" 3120,3121,3122 3120,3121,3122 "$node_pid"
    stop_pid "$node_pid"
  fi
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# The markdown section and the chart.
python3 bench/fanout_report.py "$work/results" "$writes" "$load_before" "$load_after" >>"$results"
mkdir -p bench/results
cp "$work/results" bench/results/fanout.txt  # the raw RESULT lines
python3 bench/latency_chart.py "$results" bench/results/fanout.txt bench/results/latency.svg
hearth_log "fan-out section appended to $results; chart: bench/results/latency.svg"
