#!/usr/bin/env bash
# Google Benchmark micro-benchmarks of hearth's hot pure pieces (bench/micro.cpp):
# routing, ShopItem JSON parse and envelope serialise, SSE change frame, CAF
# request/response and one-way send. Builds the release preset with
# HEARTH_BUILD_BENCH=ON, runs them (bounded: --benchmark_min_time per case),
# prints them and writes bench/results/micro.md. Run as `scripts/bench --micro`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
hearth_deps
cd "$HEARTH_ROOT"
cmake --preset release -DHEARTH_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j2 --target hearth_bench_micro
out="$(mktemp /tmp/hearth-micro.XXXXXX.json)"
trap 'rm -f "$out"' EXIT
load="$(cut -d' ' -f1-3 /proc/loadavg)"
build/release/bench/hearth_bench_micro --benchmark_min_time="${MICRO_MIN_TIME:-0.5}" \
  --benchmark_repetitions="${MICRO_REPETITIONS:-3}" --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json
mkdir -p bench/results
python3 - "$out" "$load" >bench/results/micro.md <<'PY'
import json, os, subprocess, sys
data = json.load(open(sys.argv[1]))
ctx = data["context"]
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
              if l.startswith("model name")), "?")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip()
print("# hearth micro-benchmarks (Google Benchmark)")
print()
print(f"{ctx.get('date', '')}, {model}, {os.cpu_count()} cores ({ctx.get('num_cpus')} seen by the "
      f"library, {ctx.get('mhz_per_cpu')} MHz), load average {sys.argv[2]} before the run; "
      f"release build; commit {commit}. Median of {ctx.get('repetitions', 3) or 3} repetitions "
      f"(CV = coefficient of variation across them).")
print()
print("| benchmark | time | CPU | rate | CV |")
print("|---|---:|---:|---:|---:|")
rows = {}
for b in data["benchmarks"]:
    name = b.get("run_name", b["name"])
    rows.setdefault(name, {})[b.get("aggregate_name", "")] = b
def t(ns):
    return f"{ns:.0f} ns" if ns < 10_000 else f"{ns / 1000:.1f} µs"
for name, aggs in rows.items():
    m = aggs.get("median") or next(iter(aggs.values()))
    unit = {"ns": 1, "us": 1e3, "ms": 1e6}[m.get("time_unit", "ns")]
    rate = ""
    if "items_per_second" in m:
        rate = (f"{m['items_per_second'] / 1e6:.2f} M items/s "
                f"({1e9 / m['items_per_second']:.0f} ns per item)")
    elif "bytes_per_second" in m:
        rate = f"{m['bytes_per_second'] / 2**20:.0f} MiB/s"
    else:
        rate = f"{1e9 / (m['real_time'] * unit) / 1e6:.2f} M/s"
    cv = aggs.get("cv")
    cvs = f"{cv['real_time'] * 100:.1f} %" if cv else ""
    print(f"| {name.replace('BM_', '')} | {t(m['real_time'] * unit)} | {t(m['cpu_time'] * unit)} | {rate} | {cvs} |")
print()
print("Notes: caf_send_change_event's time is per batch of 1000 one-way sends plus one request "
      "that waits until the actor handled them (rate: per message); caf_request_response is one round trip from a scoped_actor; "
      "sse_frame_per_subscriber_before is the per-subscriber work of the old path (JSON and cursor for every subscriber, before its CAF message and strand post); sse_encode_once_per_event is now done once per event; fanout_core_* run the fan-out core (http/fanout.hpp) over N streams of one household, one event per iteration (encode, one post, per stream the id line and a copy of the shared bytes, one corked write): an item is one stream x event, so ns per item = ns per stream per event (counting: a transport that only counts bytes; socketpair: one writev per stream per event, the kernel's cost included).")
PY
cat bench/results/micro.md
