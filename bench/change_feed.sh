#!/usr/bin/env bash
# The cost of catching up after one change in a big household, the offline
# client's case (docs/api.md, "The change feed"): a household of ROWS shop
# items (default 50 000, inserted in SQL), one change after a cursor, then
# GET /api/v1/changes?cursor=<it> one request after another (wrk -t1 -c1,
# keep-alive). Beside it, the differential list read the same client would
# otherwise make: GET /api/v1/shop/items?updatedAfter=<before the change>,
# whose dataIDs list every row. Reports bytes per answer, latency and
# hearth's CPU per request (utime+stime from /proc).
#
#   bench/change_feed.sh [seconds] (default 5)   ROWS=50000
#
# Needs the release build, wrk and PostgreSQL (installed when missing).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$HEARTH_ROOT/bench/lib.sh"

seconds="${1:-5}"
rows="${ROWS:-50000}"
bin="${BENCH_BIN:-$HEARTH_ROOT/build/release/hearth}"
[[ -x "$bin" ]] || { hearth_log "build the release preset first (scripts/run or hearth_build release)"; exit 1; }
command -v wrk >/dev/null || { HEARTH_PACKAGES=(wrk); hearth_deps; }

work="$(mktemp -d /tmp/hearth-feed.XXXXXX)"
chmod 755 "$work"
pids=()
own_pg=""
trap bench_cleanup EXIT
bench_postgres 55443
HEARTH_DATABASE_URL="$base_url" HEARTH_HTTP_ADDR=127.0.0.1:3191 HEARTH_LOG_LEVEL=warn \
  "$bin" serve >"$work/hearth.log" 2>&1 &
pids+=("$!")
hearth_pid="$!"
wait_http http://127.0.0.1:3191/api/v1/health
read -r key household < <(account 3191 feed)
b=http://127.0.0.1:3191/api/v1
psql "$base_url" -q -c "INSERT INTO shop_item (auth_household_id, name) \
  SELECT '$household', 'row ' || g FROM generate_series(1, $rows) g" >/dev/null
cursor="$(curl -s "$b/changes" -H "Authorization: Bearer $key" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["cursor"])')"
since="$(psql "$base_url" -Atc "SELECT hearth_ts(now())")"
curl -s -o /dev/null -X POST "$b/shop/items" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d "{\"authHouseholdID\":\"$household\",\"name\":\"one more\"}"

# run NAME URL: one wrk run; prints a table row.
run() {
  local name="$1" url="$2" bytes h0 h1 out requests p50 p99
  bytes="$(curl -s "$url" -H "Authorization: Bearer $key" | wc -c)"
  wrk -t1 -c1 -d1s -H "Authorization: Bearer $key" "$url" >/dev/null  # warm
  h0="$(ticks "$hearth_pid")"
  out="$(wrk -t1 -c1 -d"${seconds}s" --latency -H "Authorization: Bearer $key" "$url")"
  h1="$(ticks "$hearth_pid")"
  requests="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")"
  p50="$(sed -n 's/^ *50% *\(.*\)$/\1/p' <<<"$out")"
  p99="$(sed -n 's/^ *99% *\(.*\)$/\1/p' <<<"$out")"
  echo "| $name | $bytes | $p50 | $p99 | $(us_per "$requests" "$h1 - $h0") µs |"
}
echo "## Catching up after one change in a household of $rows rows ($seconds s each)"
echo
echo "| read | bytes per answer | p50 | p99 | hearth CPU per request |"
echo "|---|---:|---:|---:|---:|"
run "GET /api/v1/changes?cursor=" "$b/changes?cursor=$cursor"
run "GET /api/v1/shop/items?updatedAfter= (dataIDs of every row)" \
  "$b/shop/items?authHouseholdID=$household&updatedAfter=$since"
