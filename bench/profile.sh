#!/usr/bin/env bash
# A CPU profile of one hearth node under shape b (bench/fanout.sh: realistic
# households, each its own account, K streams each, writes spread
# uniformly): perf record with call graphs (cpu-clock) of the node over the
# write window, then the breakdown by thread (I/O threads = the HTTP and SSE
# engine, hearth.db = the storage pool, caf.* = actors), by kernel/user, and
# the hottest symbols.
#   bench/profile.sh [OUT_DIR]
# Tunables: PROFILE_HOUSEHOLDS (2000), PROFILE_PER_HOUSEHOLD (4), PROFILE_RATE
# (500 writes/s), PROFILE_SECONDS (20). A throwaway PostgreSQL on
# 127.0.0.1:55463, hearth on 127.0.0.1:3400. OUT_DIR (default
# bench/results/profile) gets perf.data and report.txt.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HEARTH_ROOT"
households="${PROFILE_HOUSEHOLDS:-2000}"
per="${PROFILE_PER_HOUSEHOLD:-4}"
rate="${PROFILE_RATE:-500}"
seconds="${PROFILE_SECONDS:-20}"
out="${1:-bench/results/profile}"
unset PROFILE_HOUSEHOLDS PROFILE_PER_HOUSEHOLD PROFILE_RATE PROFILE_SECONDS
need=$((households * per + 2000))
if (($(ulimit -Hn) < need)); then ulimit -Hn "$need" 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

hearth_deps
command -v perf >/dev/null || { hearth_log "perf missing (Debian: linux-perf)"; exit 1; }
cmake --preset release -DHEARTH_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j2 --target hearth hearth_bench_fanout >/dev/null
bin="$HEARTH_ROOT/build/release/hearth"
client="$HEARTH_ROOT/build/release/bench/hearth_bench_fanout"
mkdir -p "$out"

work="$(mktemp -d /tmp/hearth-profile.XXXXXX)"
chmod 755 "$work"
pids=()
own_pg=""
trap bench_cleanup EXIT
bench_postgres 55463
psql "$base_url" -qAtc "CREATE DATABASE hearth_profile" >/dev/null
url="${base_url%/*}/hearth_profile"
env HEARTH_DATABASE_URL="$url" HEARTH_HTTP_ADDR=127.0.0.1:3400 HEARTH_LOG_LEVEL=warn \
  HEARTH_MAX_CONNECTIONS=30000 "${bench_no_limits[@]}" \
  "$bin" serve >>"$work/hearth.log" 2>&1 &
hearth_pid=$!
pids+=("$hearth_pid")
wait_http http://127.0.0.1:3400/api/v1/health
psql "$url" -qAt -F' ' -v households="$households" -v prefix=profkey \
  -f bench/seed_households.sql >"$work/accounts"

"$client" --label "profile:b" --mode fanout --accounts "$work/accounts" \
  --streams-per-household "$per" --rate "$rate" --writes $((rate * seconds)) --writers 64 \
  --connect-s 180 --deadline-s $((seconds + 45)) --sse 3400 --write 3400 --pid "$hearth_pid" \
  >"$work/client.log" 2>&1 &
client_pid=$!
# The writes start once every stream is connected: profile from then on.
deadline=$((SECONDS + 180))
until grep -q "connected in" "$work/client.log" 2>/dev/null; do
  ((SECONDS < deadline)) || { hearth_log "streams did not connect"; exit 1; }
  sleep 0.2
done
perf record -e cpu-clock -F 499 -g -p "$hearth_pid" -o "$out/perf.data" -- sleep "$seconds" \
  2>"$work/perf.log"
wait "$client_pid" || true
grep '^RESULT' "$work/client.log" >"$out/result.txt" || true
# perf report lines (no call graphs), percentages of all samples.
report() {
  perf report -i "$out/perf.data" --stdio --no-children -g none --percentage relative "$@" \
    2>/dev/null | grep -E '^ +[0-9]' || true
}
{
  echo "# hearth under shape b: $households households x $per streams, $rate writes/s, ${seconds} s"
  echo "## by thread"
  report --sort comm | awk 'NR <= 12'
  echo "## kernel / user"
  report --sort dso | awk 'NR <= 12'
  echo "## hottest symbols"
  report --sort comm,sym | awk 'NR <= 40'
  echo "## hottest symbols of hearth itself"
  report --sort comm,sym --dsos hearth | awk 'NR <= 25'
  echo "## client"
  cat "$out/result.txt"
} >"$out/report.txt"
hearth_log "profile: $out/report.txt"
