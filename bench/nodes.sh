#!/usr/bin/env bash
# Cost as nodes are added: the same total load (shape b of bench/fanout.sh:
# realistic households, each its own account, K streams each, writes spread
# uniformly) on clusters of 1, 3, 6 and 12 hearth nodes of this machine, twice
# per size:
#   affinity: each household's streams and writes on one node (household h
#     on node h mod N: what a balancer hashing the account gives, as
#     deploy/haproxy.cfg does);
#   spread: streams and writes round-robin over all nodes.
# Per run: summed server CPU per write (all nodes), inter-node messages per
# commit (hearth_cluster_events_forwarded_total / hearth_cluster_commits_total,
# summed over the nodes), p99 write → event, lost and duplicate events, and
# the PostgreSQL server's CPU per write. Per size, before the load: the
# cluster's idle CPU per node (no streams, linked, 10 s).
#
#   bench/nodes.sh [RESULTS]
# Appends a markdown section to RESULTS (default bench/results/latest.md).
# It starts a throwaway PostgreSQL on 127.0.0.1:55453 and nodes on
# 127.0.0.1:3300+i (cluster ports 4300+i). Tunables: NODES_SIZES ("1 3 6 12"),
# NODES_HOUSEHOLDS (2000), NODES_PER_HOUSEHOLD (4), NODES_RATE (500 writes/s),
# NODES_SECONDS (15), NODES_WRITERS (64), NODES_IDLE_SECONDS (10).
# Every wait and load is bounded; everything it starts is stopped on exit.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HEARTH_ROOT"
sizes="${NODES_SIZES:-1 3 6 12}"
households="${NODES_HOUSEHOLDS:-2000}"
per="${NODES_PER_HOUSEHOLD:-4}"
rate="${NODES_RATE:-500}"
seconds="${NODES_SECONDS:-15}"
writers="${NODES_WRITERS:-64}"
idle_seconds="${NODES_IDLE_SECONDS:-10}"
results="${1:-bench/results/latest.md}"
unset NODES_SIZES NODES_HOUSEHOLDS NODES_PER_HOUSEHOLD NODES_RATE NODES_SECONDS NODES_WRITERS \
  NODES_IDLE_SECONDS
writes=$((rate * seconds))
need=$((households * per + writers + 2000))
if (($(ulimit -Hn) < need)); then ulimit -Hn "$need" 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < need)); then
  hearth_log "open-file limit $(ulimit -n) < $need: lower NODES_HOUSEHOLDS"
  exit 1
fi

hearth_deps
cmake --preset release -DHEARTH_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j2 --target hearth hearth_bench_fanout >/dev/null
bin="$HEARTH_ROOT/build/release/hearth"
client="$HEARTH_ROOT/build/release/bench/hearth_bench_fanout"

work="$(mktemp -d /tmp/hearth-nodes.XXXXXX)"
chmod 755 "$work"
pids=()
own_pg=""
trap bench_cleanup EXIT
bench_postgres 55453
psql "$base_url" -qAtc "DROP DATABASE IF EXISTS hearth_nodes" -c "CREATE DATABASE hearth_nodes" \
  >/dev/null
url="${base_url%/*}/hearth_nodes"

# utime+stime (s) of the given pids, summed.
cpu_of() {
  local sum=0 p t
  for p in "$@"; do
    t="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
    sum=$((sum + t))
  done
  python3 -c "import os; print($sum / os.sysconf('SC_CLK_TCK'))"
}
# The PostgreSQL server's processes (the postmaster and its children).
pg_pids() { pgrep -f "postgres.*55453" || true; pgrep -P "$(pgrep -f -o "postgres.*55453")" || true; }
# Sum of a counter over the nodes' /metrics.
metric_sum() {
  local name="$1" sum=0 p v
  shift
  for p in "$@"; do
    v="$(curl -s -m 5 "http://127.0.0.1:$p/metrics" | awk -v n="$name" '$1 == n {print $2}')"
    sum="$(python3 -c "print(${sum} + ${v:-0})")"
  done
  printf '%s\n' "$sum"
}
start_nodes() {  # start_nodes N → node_pids, node_ports
  local n="$1" i
  node_pids=()
  node_ports=()
  for ((i = 0; i < n; i++)); do
    env HEARTH_DATABASE_URL="$url" HEARTH_HTTP_ADDR="127.0.0.1:$((3300 + i))" \
      HEARTH_NODE_ID="node-$i" HEARTH_CLUSTER_ADDR="127.0.0.1:$((4300 + i))" \
      HEARTH_LOG_LEVEL=warn HEARTH_MAX_CONNECTIONS=30000 "${bench_no_limits[@]}" \
      "$bin" serve >>"$work/node-$i.log" 2>&1 &
    pids+=("$!")
    node_pids+=("$!")
    node_ports+=("$((3300 + i))")
    wait_http "http://127.0.0.1:$((3300 + i))/api/v1/health"
  done
  local deadline=$((SECONDS + 90)) p up
  while ((SECONDS < deadline)); do
    up=1
    for p in "${node_ports[@]}"; do
      curl -s "http://127.0.0.1:$p/api/v1/health" | python3 -c "
import json, sys
peers = json.load(sys.stdin)['dataValue'][0]['cluster']['peers']
sys.exit(0 if sum(1 for x in peers if x.get('link') == 'up') >= $n - 1 else 1)" || up=0
    done
    ((up)) && return 0
    sleep 0.5
  done
  hearth_log "the $n nodes did not link in 90 s"
  return 1
}

hearth_log "seeding $households households"
start_nodes 1  # migrates the database
psql "$url" -qAt -F' ' -v households="$households" -v prefix=nodeskey \
  -f bench/seed_households.sql >"$work/accounts"
for p in "${node_pids[@]}"; do stop_pid "$p"; done

: >"$work/rows"
for n in $sizes; do
  start_nodes "$n"
  sleep 3  # let start-up work (first election rounds, migrations check) pass
  # Idle: linked, no streams.
  before="$(cpu_of "${node_pids[@]}")"
  sleep "$idle_seconds"
  after="$(cpu_of "${node_pids[@]}")"
  idle_pct="$(python3 -c "print(f'{($after - $before) / $idle_seconds / $n * 100:.2f}')")"
  ports="$(IFS=,; echo "${node_ports[*]}")"
  cpids="$(IFS=,; echo "${node_pids[*]}")"
  for mode in affinity spread; do
    extra=()
    [[ "$mode" == affinity ]] && extra=(--affinity)
    commits0="$(metric_sum hearth_cluster_commits_total "${node_ports[@]}")"
    fwd0="$(metric_sum hearth_cluster_events_forwarded_total "${node_ports[@]}")"
    mapfile -t pg < <(pg_pids | sort -u)
    pg0="$(cpu_of "${pg[@]}")"
    hearth_log "nodes: $n nodes, $mode"
    line="$("$client" --label "nodes:$n:$mode" --mode fanout --accounts "$work/accounts" \
      --streams-per-household "$per" --rate "$rate" --writes "$writes" --writers "$writers" \
      --connect-s 180 --deadline-s $((seconds + 45)) --sse "$ports" --write "$ports" \
      --pid "$cpids" "${extra[@]}" | grep '^RESULT' || echo "RESULT error=1")"
    pg1="$(cpu_of "${pg[@]}")"
    commits1="$(metric_sum hearth_cluster_commits_total "${node_ports[@]}")"
    fwd1="$(metric_sum hearth_cluster_events_forwarded_total "${node_ports[@]}")"
    printf '%s nodes=%s affinity_mode=%s idle_pct_per_node=%s commits=%s forwards=%s pg_cpu_s=%s\n' \
      "$line" "$n" "$mode" "$idle_pct" "$(python3 -c "print($commits1 - $commits0)")" \
      "$(python3 -c "print($fwd1 - $fwd0)")" "$(python3 -c "print(f'{$pg1 - $pg0:.2f}')")" |
      tee -a "$work/rows" >&2
  done
  for p in "${node_pids[@]}"; do stop_pid "$p"; done
done

python3 - "$work/rows" "$households" "$per" "$rate" "$seconds" >>"$results" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
    rows.append(kv)
def f(kv, k, default=0.0):
    try:
        return float(kv.get(k, default))
    except ValueError:
        return default
base = {}
for kv in rows:
    if kv.get("nodes") == "1":
        base[kv.get("affinity_mode")] = f(kv, "cpu_us_per_write")
print(f"\n## Cost as nodes are added (bench/nodes.sh)\n")
print(f"Shape b scaled: {sys.argv[2]} households × {sys.argv[3]} streams, {sys.argv[4]} writes/s "
      f"for {sys.argv[5]} s, the same total load on every cluster size. All nodes and the "
      "client share this machine's 2 cores. CPU per write is summed over the nodes.\n")
print("| nodes | routing | hearth CPU/write (µs) | × 1 node | inter-node messages/commit | "
      "PostgreSQL CPU/write (µs) | p99 write→event (ms) | lost | duplicates | idle CPU per node (% core) |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for kv in rows:
    cpu = f(kv, "cpu_us_per_write")
    mode = kv.get("affinity_mode", "?")
    ratio = cpu / base[mode] if base.get(mode) else 0
    commits = f(kv, "commits")
    msgs = f(kv, "forwards") / commits if commits else 0
    writes = f(kv, "writes")
    pg = f(kv, "pg_cpu_s") * 1e6 / writes if writes else 0
    print(f"| {kv.get('nodes')} | {mode} | {cpu:.0f} | {ratio:.2f} | {msgs:.2f} | {pg:.0f} | "
          f"{f(kv, 'p99_ms'):.1f} | {kv.get('lost', '?')} | {kv.get('duplicates', '?')} | "
          f"{kv.get('idle_pct_per_node', '?')} |")
EOF
hearth_log "nodes section appended to $results (raw rows: $work/rows)"
cp "$work/rows" bench/results/nodes.txt
