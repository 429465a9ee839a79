# shellcheck shell=bash
# Helpers shared by the benchmark scripts (bench/fanout.sh, bench/idle.sh).
# Source it after scripts/lib.sh. The caller owns `work` (a scratch folder),
# `pids` (servers to stop on exit), `own_pg` (set when it started its own
# PostgreSQL under $work/pg) and calls bench_cleanup from its EXIT trap.

# as_pg CMD...: run as the postgres user when we are root.
as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

# The per-client limits off (env assignments for hearth serve): every stream
# of a benchmark comes from 127.0.0.1, many from one account.
# shellcheck disable=SC2034  # used by the scripts that source this file
bench_no_limits=(HEARTH_MAX_CONNECTIONS_PER_ADDRESS=0 HEARTH_MAX_STREAMS_PER_ACCOUNT=0
  HEARTH_MAX_STREAMS_PER_ADDRESS=0)

# ticks PID: utime+stime of one process, in clock ticks (tck per second).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck="$(getconf CLK_TCK)"
# us_per N TICKS: microseconds per unit for TICKS clock ticks over N units.
us_per() { python3 -c "print(f'{($2)/$tck*1e6/max($1,1):.1f}')"; }

# stop_pid PID: SIGTERM, ≤ 15 s, then SIGKILL.
stop_pid() {
  local pid="$1" deadline=$((SECONDS + 15))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Stops every server in `pids`, the own PostgreSQL, and removes $work.
bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  if [[ -n "$own_pg" && -f "$work/pg/data/postmaster.pid" ]]; then
    as_pg /usr/lib/postgresql/*/bin/pg_ctl -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}

# wait_http URL: until it answers, ≤ 60 s (exits the script otherwise).
wait_http() {
  local deadline=$((SECONDS + 60))
  until curl -s -o /dev/null "$1"; do
    ((SECONDS < deadline)) || { hearth_log "$1 did not come up"; exit 1; }
    sleep 0.2
  done
}

# field NAME: dataValue[0].NAME of the envelope on stdin.
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['dataValue'][0]['$1'])"; }

# account PORT NAME → "KEY HOUSEHOLD": a new account <name>@example.com with one household.
account() {
  local b="http://127.0.0.1:$1/api/v1" name="$2" key
  curl -s -X POST "$b/auth/signup" -H 'content-type: application/json' \
    -d "{\"emailAddress\":\"$name@example.com\",\"password\":\"benchmark pw\",\"name\":\"$name\"}" \
    >/dev/null
  key="$(curl -s -X POST "$b/auth/signin" -H 'content-type: application/json' \
    -d "{\"emailAddress\":\"$name@example.com\",\"password\":\"benchmark pw\"}" | field key)"
  printf '%s %s\n' "$key" "$(curl -s -X POST "$b/auth/households" -H 'content-type: application/json' \
    -H "Authorization: Bearer $key" -d "{\"name\":\"$name\"}" | field id)"
}

# bench_postgres PORT: a throwaway PostgreSQL under $work/pg on 127.0.0.1:PORT
# (unix socket in $work/pg, up to 200 connections); sets own_pg and
# base_url (a superuser URL).
bench_postgres() {
  own_pg=1
  mkdir -p "$work/pg"
  ((EUID == 0)) && chown postgres "$work/pg"
  as_pg /usr/lib/postgresql/*/bin/initdb -D "$work/pg/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >/dev/null
  as_pg /usr/lib/postgresql/*/bin/pg_ctl -D "$work/pg/data" -w -t 60 -l "$work/pg/log" \
    -o "-k $work/pg -p $1 -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  base_url="postgresql://postgres@127.0.0.1:$1/postgres"
}
