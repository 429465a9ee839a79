#!/usr/bin/env bash
# The fixed cost of a lone write: one client POSTs shop items to one
# household one after another on one keep-alive connection (wrk -t1 -c1), as
# a household does, with no stream open. Beside it, pgbench runs the same
# transaction from one client. Reports, per write: hearth's CPU
# (utime+stime from /proc), the PostgreSQL cluster's CPU (every process of
# the throwaway cluster: the backends, the WAL writer, ...), the client's
# latency, and for pgbench the same PostgreSQL CPU and pgbench's own CPU.
#
#   bench/lone_write.sh [seconds]        (default 10)
#   LONE_WRITE_STRACE=1 bench/lone_write.sh   also counts hearth's system
#                                             calls per POST (strace -c)
#
# Needs the release build (scripts/run builds it), wrk and PostgreSQL.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$HEARTH_ROOT/bench/lib.sh"

seconds="${1:-10}"
bin="${BENCH_BIN:-$HEARTH_ROOT/build/release/hearth}"  # BENCH_BIN: another build to measure
[[ -x "$bin" ]] || { hearth_log "build the release preset first (scripts/run or hearth_build release)"; exit 1; }
command -v wrk >/dev/null || { HEARTH_PACKAGES=(wrk); hearth_deps; }

work="$(mktemp -d /tmp/hearth-lone.XXXXXX)"
chmod 755 "$work"  # the postgres user must reach its data directory
pids=()
own_pg=""
trap bench_cleanup EXIT
bench_postgres 55442
url="$base_url"
postmaster="$(head -1 "$work/pg/data/postmaster.pid")"

HEARTH_DATABASE_URL="$url" HEARTH_HTTP_ADDR=127.0.0.1:3190 HEARTH_LOG_LEVEL=warn \
  "$bin" serve >"$work/hearth.log" 2>&1 &
pids+=("$!")
hearth_pid="$!"
wait_http http://127.0.0.1:3190/api/v1/health
read -r key household < <(account 3190 lone)

# utime+stime, clock ticks: of one process, and of the PostgreSQL cluster
# (the postmaster, its live children, and its children that exited: a
# backend of pgbench ends before the run is read).
pg_ticks() {
  local sum p
  sum="$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")"
  for p in $(pgrep -P "$postmaster"); do
    [[ -r "/proc/$p/stat" ]] && sum=$((sum + $(ticks "$p")))
  done
  echo "$sum"
}

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
wrk.body = '{"authHouseholdID":"$household","name":"lone write"}'
LUA
# Warm up (prepared statements, the pool's connections, caches).
wrk -t1 -c1 -d2s -s "$work/post.lua" http://127.0.0.1:3190/api/v1/shop/items >/dev/null

# What hearth and PostgreSQL spend with no write (heartbeats, election,
# sweeps), per second: part of the figures below, shown apart.
h0="$(ticks "$hearth_pid")" p0="$(pg_ticks)"
sleep 5
h1="$(ticks "$hearth_pid")" p1="$(pg_ticks)"
idle_h="$(python3 -c "print(f'{($h1 - $h0) / $tck / 5 * 100:.2f}')")"
idle_p="$(python3 -c "print(f'{($p1 - $p0) / $tck / 5 * 100:.2f}')")"

strace_pid=""
if [[ "${LONE_WRITE_STRACE:-0}" == 1 ]]; then
  command -v strace >/dev/null || { HEARTH_PACKAGES=(strace); hearth_deps; }
  strace -f -c -p "$hearth_pid" -o "$work/strace.txt" 2>/dev/null &
  strace_pid="$!"
  sleep 1
fi
h0="$(ticks "$hearth_pid")" p0="$(pg_ticks)"
out="$(wrk -t1 -c1 -d"${seconds}s" --latency -s "$work/post.lua" http://127.0.0.1:3190/api/v1/shop/items)"
h1="$(ticks "$hearth_pid")" p1="$(pg_ticks)"
requests="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")"
p50="$(sed -n 's/^ *50% *\(.*\)$/\1/p' <<<"$out")"
p99="$(sed -n 's/^ *99% *\(.*\)$/\1/p' <<<"$out")"
bad="$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\)/\1/p' <<<"$out")"
if [[ -n "$strace_pid" ]]; then
  kill -INT "$strace_pid"
  wait "$strace_pid" 2>/dev/null || true
fi

# pgbench, one client, the same transaction as the write path's statements.
account_id="$(psql "$url" -Atc "SELECT id FROM auth_account LIMIT 1")"
cat >"$work/txn.sql" <<SQL
BEGIN;
SELECT permissions FROM auth_household_member WHERE auth_household_id = '$household' AND auth_account_id = '$account_id';
WITH r AS (INSERT INTO shop_item (auth_household_id, name) VALUES ('$household', 'pgbench') RETURNING id, updated),
     s AS (UPDATE auth_household SET event_seq = event_seq + 1 WHERE id = '$household' RETURNING event_seq)
INSERT INTO change_event (auth_household_id, seq, table_name, row_id, operation, updated)
  SELECT '$household', s.event_seq, 'shop_item', r.id, 'create', r.updated FROM r, s;
COMMIT;
SQL
pgbench=(/usr/lib/postgresql/*/bin/pgbench)
count_pgbench() { psql "$url" -Atc "SELECT count(*) FROM shop_item WHERE name = 'pgbench'"; }
# pgbench runs 2 s longer than the window measured, which starts once its
# backend is up (a backend that has exited can no longer be read).
"${pgbench[@]}" -n -c 1 -j 1 -M prepared -T "$((seconds + 2))" -f "$work/txn.sql" "$url" \
  >"$work/pgbench.log" 2>&1 &
pgbench_pid="$!"
sleep 1
n0="$(count_pgbench)" q0="$(pg_ticks)" b0="$(ticks "$pgbench_pid")"
sleep "$seconds"
n1="$(count_pgbench)" q1="$(pg_ticks)" b1="$(ticks "$pgbench_pid")"
wait "$pgbench_pid" || true
pg_tx=$((n1 - n0))
pg_lat="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$work/pgbench.log")"

echo "## Lone write: one client, one household, one POST after another ($seconds s)"
echo
echo "| | writes | hearth CPU per write | PostgreSQL CPU per write | client CPU per write | latency |"
echo "|---|---:|---:|---:|---:|---|"
echo "| hearth (wrk -t1 -c1, keep-alive) | $requests | $(us_per "$requests" "$h1 - $h0") µs | $(us_per "$requests" "$p1 - $p0") µs | | p50 $p50, p99 $p99 |"
echo "| pgbench -c1 -M prepared, same transaction | $pg_tx | | $(us_per "$pg_tx" "$q1 - $q0") µs | $(us_per "$pg_tx" "$b1 - $b0") µs | avg $pg_lat ms |"
echo
echo "With no write: hearth $idle_h % of a core, PostgreSQL $idle_p % (included above)."
[[ -n "$bad" ]] && echo && echo "non-2xx answers: $bad"
if [[ -s "$work/strace.txt" ]]; then
  echo
  echo "System calls of hearth per POST (strace -f -c, while the run above was traced):"
  echo
  echo '```'
  python3 - "$work/strace.txt" "$requests" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
n = max(int(sys.argv[2]), 1)
total = 0
for l in lines:
    f = l.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        calls = int(f[3])
        total += calls
        if calls / n >= 0.5:
            print(f"{f[-1]:>16} {calls / n:6.1f}")
print(f"{'all':>16} {total / n:6.1f}")
PY
  echo '```'
fi
