#!/usr/bin/env python3
"""Markdown section of the SSE fan-out benchmark (bench/fanout.sh).

  fanout_report.py RESULTS_FILE WRITES LOAD_BEFORE LOAD_AFTER  > section.md

RESULTS_FILE holds the `RESULT key=value ...` lines of hearth_bench_fanout,
labelled "hearth:N", "node:N", "hearth:idle", "node:idle", "cluster:N".
"""
import os
import subprocess
import sys


def parse(path):
    runs = {}
    for line in open(path):
        if not line.startswith("RESULT"):
            continue
        kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
        runs[kv.get("label", "?").replace(":", " ")] = kv
    return runs


def num(run, key):
    try:
        return float(run[key])
    except (KeyError, TypeError, ValueError):
        return None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}".replace(",", " ")


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{digits}f}"


def cpu():
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return model, os.cpu_count()


def main():
    runs = parse(sys.argv[1])
    writes, load_before, load_after = sys.argv[2], sys.argv[3], sys.argv[4]
    model, cores = cpu()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    sizes = sorted({int(k.split()[1]) for k in runs if k.split()[0] in ("hearth", "node")
                    and k.split()[1].isdigit()})
    out = []
    p = out.append
    p("")
    p("## SSE fan-out (bench/fanout.sh)")
    p("")
    p(f"CPU: {model}, {cores} cores; load average {load_before} before, {load_after} after "
      f"(1/5/15 min). Commit {commit}.")
    p(f"One household, N subscribers on loopback (one client process, one thread), a POST of a "
      f"shop item every 10 ms ({writes} writes, open loop, ≤ 4 in flight); latency = POST sent "
      f"→ event read by each subscriber (one steady clock); events/s = events received by all "
      f"subscribers / (first POST → last event). hearth: release build, default config except "
      f"maxConnections 30000; Node: bench/peers/fastify/server.js (Fastify, one process).")
    p("")
    p("| workload | hearth | Node broadcaster | ratio hearth/Node |")
    p("|---|---:|---:|---:|")
    checks = []
    for n in sizes:
        h, nd = runs.get(f"hearth {n}", {}), runs.get(f"node {n}", {})
        label = f"{n // 1000}k" if n % 1000 == 0 else str(n)
        he, ne = num(h, "events_per_s"), num(nd, "events_per_s")
        p(f"| fan-out {label} subscribers: delivered events/s | {fmt(he)} | {fmt(ne)} | {ratio(he, ne)} |")
        p(f"| fan-out {label}: write rate achieved (writes/s) | {fmt(num(h, 'write_rate'))} | "
          f"{fmt(num(nd, 'write_rate'))} | {ratio(num(h, 'write_rate'), num(nd, 'write_rate'))} |")
        for q in ("p50", "p90", "p99"):
            hv, nv = num(h, q + "_ms"), num(nd, q + "_ms")
            p(f"| fan-out {label}: latency {q} ms | {fmt(hv, 2)} | {fmt(nv, 2)} | {ratio(hv, nv)} |")
        hc, nc = num(h, "cpu_us_per_event"), num(nd, "cpu_us_per_event")
        p(f"| fan-out {label}: server CPU µs per delivered event | {fmt(hc, 1)} | {fmt(nc, 1)} | "
          f"{ratio(hc, nc)} |")
        p(f"| fan-out {label}: load average (1 min) after the run | {fmt(num(h, 'load1'), 2)} | "
          f"{fmt(num(nd, 'load1'), 2)} | |")
        p(f"| fan-out {label}: lost / duplicate events, streams dropped | "
          f"{fmt(num(h, 'lost'))} / {fmt(num(h, 'duplicates'))}, {fmt(num(h, 'closed'))} | "
          f"{fmt(num(nd, 'lost'))} / {fmt(num(nd, 'duplicates'))}, {fmt(num(nd, 'closed'))} | |")
        hp, np_ = num(h, "p99_ms"), num(nd, "p99_ms")
        met = he is not None and ne and he >= 3 * ne and hp is not None and np_ is not None and hp < np_
        checks.append(f"| fan-out {label}: events/s ≥ 3× Node with lower p99 | "
                      f"{ratio(he, ne)}×, p99 {fmt(hp, 1)} vs {fmt(np_, 1)} ms | "
                      f"{'met' if met else 'not met'} |")
    hi, ni = runs.get("hearth idle", {}), runs.get("node idle", {})
    hk, nk = num(hi, "kib_per_stream"), num(ni, "kib_per_stream")
    p(f"| idle streams ({fmt(num(hi, 'streams'))}): KiB of RSS per stream | {fmt(hk, 1)} | "
      f"{fmt(nk, 1)} | {ratio(hk, nk)} |")
    checks.append(f"| memory per idle stream ≤ 16 KiB (hearth) | {fmt(hk, 1)} KiB | "
                  f"{'met' if hk is not None and hk <= 16 else 'not met'} |")
    clusters = [k for k in runs if k.startswith("cluster")]
    if clusters:
        p("")
        p("3-node hearth cluster (one PostgreSQL, subscribers round-robin over the 3 nodes, "
          "writes on node-0):")
        p("")
        p("| workload | events/s | writes/s | p50 ms | p90 ms | p99 ms | max ms | lost | dropped "
          "| CPU µs/event (3 nodes) |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in sorted(clusters):
            c = runs[k]
            p(f"| {k.split()[1]} subscribers on 3 nodes | {fmt(num(c, 'events_per_s'))} | "
              f"{fmt(num(c, 'write_rate'))} | {fmt(num(c, 'p50_ms'), 2)} | {fmt(num(c, 'p90_ms'), 2)} | "
              f"{fmt(num(c, 'p99_ms'), 2)} | {fmt(num(c, 'max_ms'), 1)} | {fmt(num(c, 'lost'))} | "
              f"{fmt(num(c, 'closed'))} | {fmt(num(c, 'cpu_us_per_event'), 1)} |")
    p("")
    p("Lost = (subscriber, successful write) pairs never delivered, even after reconnecting: "
      "like a browser's EventSource, a subscriber whose stream the server ends reopens it "
      "250 ms later with Last-Event-ID (at most 20 times). Streams dropped = streams the "
      "server ended during the run (hearth closes a stream once more than sseQueueLimit = 256 "
      "frames wait for it; the Node peer buffers without bound). Server CPU = utime+stime of the "
      "server process(es) from the first POST to the end of the drain, / events delivered. "
      "Writes are cut off 85 s after the first (the 10k runs may send fewer than asked).")
    p("")
    p("| target | measured | |")
    p("|---|---:|---|")
    out.extend(checks)
    errors = [k for k, v in runs.items() if v.get("error")]
    if errors:
        p("")
        p("Failed runs (no result): " + ", ".join(sorted(errors)) + ".")
    p("")
    p("![latency percentiles](latency.svg)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
