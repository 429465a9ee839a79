#!/usr/bin/env bash
# Idle CPU of one hearth node: what a node with nothing to do costs.
#   1. no clients at all;
#   2. IDLE_STREAMS (1000) idle SSE streams open (GET /api/v1/sse with a
#      bearer key; they only get the ':' heartbeat every sseHeartbeatMs);
#   3. the floor: the same streams on bench/floor.cpp, which only writes
#      the same heartbeat chunk on the same schedule (hearth/floor printed).
# Each phase measures the hearth process's utime+stime over IDLE_SECONDS
# (10) from /proc/PID/task/*/stat and prints it as % of one core, with a
# per-thread breakdown (thread name → % of a core, and its context
# switches per second, i.e. how often it woke up).
#
#   bench/idle.sh [DATABASE_URL [RESULTS]]
# With DATABASE_URL (a superuser URL of a PostgreSQL on 127.0.0.1) it creates
# its own database there (hearth_idle); without (or with "") it starts a
# throwaway PostgreSQL on 127.0.0.1:$IDLE_PG_PORT (55443). With RESULTS it
# appends a markdown section to that file. hearth listens on
# 127.0.0.1:$IDLE_HTTP_PORT (3130). Tunables: IDLE_STREAMS (1000),
# IDLE_SECONDS (10), IDLE_SETTLE (5 s before the first measurement),
# IDLE_STREAM_SETTLE (12 s between opening the streams and measuring: each
# stream's 10 s subscribe request timeout still fires once in CAF 0.17, a
# one-off burst of 1000 timer events that is not idle cost), IDLE_BUILD=0
# (use build/release/hearth as it is), IDLE_BIN (another hearth binary, e.g.
# a copy of an older build, to compare; not built), IDLE_LABEL (words added
# to the RESULTS section's title, e.g. "before: build of cce9649"), IDLE_PERF
# (a file: perf record -g of hearth over the streams phase's measurement,
# for `perf report -i FILE`), IDLE_FLOOR=0 (no floor phase: by default the
# floor, bench/floor.cpp with a 15 000 ms heartbeat, gets the same streams
# on 127.0.0.1:$IDLE_FLOOR_PORT (3131) and its CPU is the third phase, with
# hearth/floor printed). The PostgreSQL server's
# CPU is not counted: only the hearth process's.
# Every wait is bounded; everything it starts is stopped on exit.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HEARTH_ROOT"

streams="${IDLE_STREAMS:-1000}"
seconds="${IDLE_SECONDS:-10}"
settle="${IDLE_SETTLE:-5}"
stream_settle="${IDLE_STREAM_SETTLE:-12}"
pg_port="${IDLE_PG_PORT:-55443}"
http_port="${IDLE_HTTP_PORT:-3130}"
build="${IDLE_BUILD:-1}"
bin="${IDLE_BIN:-$HEARTH_ROOT/build/release/hearth}"
label="${IDLE_LABEL:-}"
floor_on="${IDLE_FLOOR:-1}"
floor_port="${IDLE_FLOOR_PORT:-3131}"
floor="$HEARTH_ROOT/build/release/bench/hearth_bench_floor"
perf_out="${IDLE_PERF:-}"
[[ -n "${IDLE_BIN:-}" ]] && build=0
base_url="${1:-}"
results="${2:-}"
unset IDLE_STREAMS IDLE_SECONDS IDLE_SETTLE IDLE_STREAM_SETTLE IDLE_PG_PORT IDLE_HTTP_PORT IDLE_BUILD IDLE_BIN IDLE_LABEL IDLE_PERF IDLE_FLOOR IDLE_FLOOR_PORT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < streams + 200)); then
  hearth_log "open-file limit $(ulimit -n) < $((streams + 200)): lower IDLE_STREAMS or raise ulimit -Hn"
  exit 1
fi

if ((build)); then
  HEARTH_SKIP_DEPS="${HEARTH_SKIP_DEPS:-1}" hearth_deps
  hearth_build release hearth >/dev/null
fi
if ((floor_on)); then
  cmake --build --preset release -j2 --target hearth_bench_floor >/dev/null
fi
[[ -x "$bin" ]] || { hearth_log "no $bin"; exit 1; }

work="$(mktemp -d /tmp/hearth-idle.XXXXXX)"
chmod 755 "$work"  # the postgres user must reach its data directory
pids=()
own_pg=""
cleanup() { bench_cleanup; }
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -n "$base_url" ]] || bench_postgres "$pg_port"
psql "$base_url" -qAtc "DROP DATABASE IF EXISTS hearth_idle" -c "CREATE DATABASE hearth_idle" >/dev/null
url="${base_url%/*}/hearth_idle"

# Per-thread CPU of a process over a window: utime+stime (clock ticks) and
# voluntary+involuntary context switches, from /proc/PID/task/*/.
cat >"$work/measure.py" <<'EOF'
import os, sys, time

def sample(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/stat") as f:
                stat = f.read()
            with open(f"{base}/status") as f:
                status = f.read()
            try:  # nanoseconds on a CPU (exact, not tick-sampled)
                with open(f"{base}/schedstat") as f:
                    ns = int(f.read().split()[0])
            except OSError:
                ns = 0
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
        switches = sum(int(l.split()[1]) for l in status.splitlines()
                       if l.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        out[tid] = (name, ticks, switches, ns)
    return out

pid, seconds, label = sys.argv[1], float(sys.argv[2]), sys.argv[3]
hz = os.sysconf("SC_CLK_TCK")
a = sample(pid)
t0 = time.monotonic()
time.sleep(seconds)
b = sample(pid)
elapsed = time.monotonic() - t0
by_name, by_tid = {}, []
total = total_ns = 0
for tid, (name, ticks, sw, ns) in b.items():
    _, t_a, sw_a, ns_a = a.get(tid, (name, 0, 0, 0))
    d = by_name.setdefault(name, [0, 0, 0, 0])
    delta = (ticks - t_a, sw - sw_a, ns - ns_a)
    d[0] += 1
    for i in range(3):
        d[i + 1] += delta[i]
    by_tid.append((name, tid) + delta)
    total += delta[0]
    total_ns += delta[2]
pct = lambda ticks: 100.0 * ticks / hz / elapsed
pct_ns = lambda ns: 100.0 * ns / 1e9 / elapsed
# cpu_pct: utime+stime (what top and the issue count); sched_pct: the
# scheduler's exact on-CPU time, which also sees short wake-ups that tick
# sampling misses; wakeups_per_s: context switches per second.
print(f"IDLE label={label} cpu_pct={pct(total):.2f} sched_pct={pct_ns(total_ns):.2f} "
      f"seconds={elapsed:.1f}")
key = lambda v: (-v[1], -v[3], -v[2])
for name, (n, ticks, sw, ns) in sorted(by_name.items(), key=lambda kv: key(kv[1])):
    print(f"THREAD label={label} name={name} threads={n} cpu_pct={pct(ticks):.2f} "
          f"sched_pct={pct_ns(ns):.2f} wakeups_per_s={sw / elapsed:.1f}")
for name, tid, ticks, sw, ns in sorted(by_tid, key=lambda v: (-v[4], v[0])):
    if by_name[name][0] > 1 and (ticks or sw >= elapsed):  # the busy members of a group
        print(f"TID label={label} name={name} tid={tid} cpu_pct={pct(ticks):.2f} "
              f"sched_pct={pct_ns(ns):.2f} wakeups_per_s={sw / elapsed:.1f}")
EOF

# N idle SSE streams: connects them, prints "ready N" once every response
# header arrived, then reads and discards until killed (or IDLE_CLIENT_MAX s).
cat >"$work/streams.py" <<'EOF'
import asyncio, sys

port, key, n, lifetime = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
request = (f"GET /api/v1/sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n").encode()

async def stream(ready):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    ready.append(writer)
    while await reader.read(65536):
        pass
    raise RuntimeError("stream closed by the server")

async def main():
    ready = []
    tasks = []
    for i in range(n):  # in batches of 50, so the listen backlog never overflows
        tasks.append(asyncio.ensure_future(stream(ready)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    deadline = asyncio.get_event_loop().time() + 60
    while len(ready) < n:
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            print(f"error {failed[0].exception()!r}", flush=True)
            return 1
        if asyncio.get_event_loop().time() > deadline:
            print(f"error only {len(ready)} of {n} streams opened in 60 s", flush=True)
            return 1
        await asyncio.sleep(0.1)
    print(f"ready {len(ready)}", flush=True)
    done, _ = await asyncio.wait(tasks, timeout=lifetime, return_when=asyncio.FIRST_EXCEPTION)
    closed = [t for t in done if t.exception()]
    if closed:
        print(f"error {len(closed)} streams ended: {closed[0].exception()!r}", flush=True)
        return 1
    return 0

sys.exit(asyncio.run(main()))
EOF


# Every stream of the bench comes from one account on 127.0.0.1: no limits.
env HEARTH_DATABASE_URL="$url" HEARTH_HTTP_ADDR="127.0.0.1:$http_port" HEARTH_LOG_LEVEL=warn \
  HEARTH_MAX_CONNECTIONS=$((streams + 1000)) "${bench_no_limits[@]}" \
  "$bin" serve >>"$work/hearth.log" 2>&1 &
hearth_pid=$!
pids+=("$hearth_pid")
wait_http "http://127.0.0.1:$http_port/api/v1/health"
read -r key _household < <(account "$http_port" idle)
[[ -n "$key" ]] || { hearth_log "no key"; exit 1; }

measure() {  # measure LABEL [PID (hearth's)]
  python3 "$work/measure.py" "${2:-$hearth_pid}" "$seconds" "$1" | tee -a "$work/results"
}

hearth_log "idle: settling ${settle} s, then measuring ${seconds} s with no streams"
sleep "$settle"
measure "no-streams"

# open_streams PORT KEY OUT: the stream client against PORT; returns once
# every stream is open (exits the script when they do not open).
open_streams() {
  python3 "$work/streams.py" "$1" "$2" "$streams" $((stream_settle + seconds + 120)) \
    >"$3" 2>&1 &
  client_pid=$!
  pids+=("$client_pid")
  local deadline=$((SECONDS + 90))
  until grep -q '^ready\|^error' "$3" 2>/dev/null; do
    if ! kill -0 "$client_pid" 2>/dev/null || ((SECONDS >= deadline)); then
      hearth_log "the stream client did not get ready: $(cat "$3")"
      exit 1
    fi
    sleep 0.2
  done
  if grep -q '^error' "$3"; then
    hearth_log "stream client: $(cat "$3")"
    exit 1
  fi
}

hearth_log "idle: opening $streams SSE streams"
open_streams "$http_port" "$key" "$work/streams.out"
hearth_log "idle: $(cat "$work/streams.out") streams open; settling ${stream_settle} s, then measuring ${seconds} s"
sleep "$stream_settle"
if [[ -n "$perf_out" ]]; then  # a profile of the streams phase, beside the measurement
  perf record -g -F 999 -o "$perf_out" -p "$hearth_pid" -- sleep "$seconds" >/dev/null 2>&1 &
  pids+=("$!")
fi
measure "$streams-streams"
if grep -q '^error' "$work/streams.out" || ! kill -0 "$client_pid" 2>/dev/null; then
  hearth_log "streams ended during the measurement: $(cat "$work/streams.out")"
  exit 1
fi
stop_pid "$client_pid"

# The floor (bench/floor.cpp with a heartbeat): the same streams get the
# same heartbeat chunk on hearth's schedule from a program that does
# nothing else. Most of both is the kernel's loopback send (and, on
# loopback, the receiving side's TCP work, charged to the sender).
if ((floor_on)); then
  "$floor" "$floor_port" 15000 >>"$work/floor.log" 2>&1 &
  floor_pid=$!
  pids+=("$floor_pid")
  hearth_log "idle: the floor, $streams streams with a 15 000 ms heartbeat"
  open_streams "$floor_port" none "$work/floor-streams.out"
  sleep "$stream_settle"
  measure "floor-$streams-streams" "$floor_pid"
  stop_pid "$client_pid"
  stop_pid "$floor_pid"
  ratio="$(awk -v s="$streams" '$1 == "IDLE" { for (i = 2; i <= NF; ++i) { split($i, kv, "=");
      v[kv[1]] = kv[2] } c[v["label"]] = v["cpu_pct"] }
    END { f = c["floor-" s "-streams"]; h = c[s "-streams"];
      if (f > 0) printf "%.2f", h / f; else print "n/a" }' "$work/results")"
  echo "RATIO hearth/floor=$ratio" | tee -a "$work/results"
fi
if grep -qiE 'error|critical' "$work/hearth.log"; then
  hearth_log "hearth logged errors:"
  grep -iE 'error|critical' "$work/hearth.log" | head -5 >&2
fi

if [[ -n "$results" ]]; then
  python3 - "$work/results" "$(git rev-parse --short HEAD)${label:+, $label}$([[ "$bin" == "$HEARTH_ROOT/build/release/hearth" ]] || echo ", binary $bin")" "$seconds" "$streams" >>"$results" <<'EOF'
import sys
path, commit, seconds, streams = sys.argv[1:]
totals, threads, ratio = {}, {}, None
for line in open(path):
    kind, *kv = line.split()
    d = dict(x.split("=", 1) for x in kv)
    if kind == "IDLE":
        totals[d["label"]] = (d["cpu_pct"], d["sched_pct"])
    elif kind == "THREAD":
        threads.setdefault(d["label"], []).append(d)
    elif kind == "RATIO":
        ratio = d["hearth/floor"]
labels = list(totals)
print(f"\n## Idle CPU (bench/idle.sh at {commit})\n")
print(f"hearth process utime+stime over {seconds} s, % of one core "
      f"(the PostgreSQL server's CPU is not counted).\n")
print("| phase | hearth CPU % (utime+stime) | on-CPU % (schedstat) |")
print("| --- | ---: | ---: |")
for l in labels:
    print(f"| {l} | {totals[l][0]} | {totals[l][1]} |")
if ratio:
    print(f"\nhearth / floor with {streams} streams (utime+stime): **{ratio}** "
          f"(the floor, bench/floor.cpp, writes the same heartbeat chunk to the same "
          f"sockets on the same schedule and does nothing else)")
print("\nPer thread name: % of a core (utime+stime) / context switches per second\n")
names = []
for l in labels:
    for d in threads.get(l, []):
        if d["name"] not in names:
            names.append(d["name"])
print("| thread (count) | " + " | ".join(labels) + " |")
print("| --- |" + " ---: |" * len(labels))
for n in names:
    row = []
    count = ""
    for l in labels:
        d = next((d for d in threads.get(l, []) if d["name"] == n), None)
        if d:
            count = d["threads"]
            row.append(f"{d['cpu_pct']} / {d['wakeups_per_s']}")
        else:
            row.append("–")
    print(f"| {n} ({count}) | " + " | ".join(row) + " |")
EOF
  hearth_log "idle section appended to $results"
fi
