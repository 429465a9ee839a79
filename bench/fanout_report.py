#!/usr/bin/env python3
"""Markdown section of the SSE fan-out benchmark (bench/fanout.sh).

  fanout_report.py RESULTS_FILE WRITES LOAD_BEFORE LOAD_AFTER  > section.md

RESULTS_FILE holds the `RESULT key=value ...` lines of hearth_bench_fanout,
labelled SERVER:SHAPE:CONFIG (SERVER hearth or node; shape a: CONFIG = the
number of subscribers of one household, shapes b and c: CONFIG = keepalive
or newconn), "hearth:idle", "node:idle" and "cluster:N" (older files:
"hearth:N", "node:N" = shape a). One table per shape, hearth and Node side by
side, with the ratio hearth/Node of server CPU per delivered event.
"""
import os
import subprocess
import sys

SHAPES = {
    "a": "Shape a: one household, N subscribers, 100 writes/s",
    "b": "Shape b: realistic households on one hearth node",
    "c": "Shape c: shape b on a 3-node hearth cluster (one PostgreSQL) vs one Node process",
}
MODES = {"keepalive": "writes on keep-alive connections",
         "newconn": "a new TCP connection per write"}


def parse(path):
    runs = {}
    for line in open(path):
        if not line.startswith("RESULT"):
            continue
        kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
        parts = kv.get("label", "?").split(":")
        if len(parts) == 2 and parts[0] in ("hearth", "node") and parts[1].isdigit():
            parts = [parts[0], "a", parts[1]]  # an older file
        runs[tuple(parts)] = kv
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


def us(v):
    """Microseconds: 2 decimals below 10, 1 below 100, none above."""
    return fmt(v, 2 if v is not None and v < 10 else 1 if v is not None and v < 100 else 0)


def client_cell(r):
    """Client CPU: µs per event, % of one core (busiest thread %)."""
    if num(r, "client_cpu_pct") is None:
        return "–"
    return (f"{us(num(r, 'client_cpu_us_per_event'))} µs, {fmt(num(r, 'client_cpu_pct'))} % "
            f"({fmt(num(r, 'client_thread_max_pct'))} %)")


def notes(who, r):
    """Why a run's figures may be the client's or the machine's, not the server's."""
    out = []
    if not r:
        return out
    if r.get("error"):
        return [f"{who}: no result"]
    if r.get("client_bound") == "1":
        out.append(f"{who}: client-bound (a client thread {fmt(num(r, 'client_thread_max_pct'))} % "
                   f"busy)")
    asked, got = num(r, "rate_asked"), num(r, "write_rate")
    if asked and got is not None and got < 0.9 * asked:
        out.append(f"{who}: {fmt(got)} writes/s of {fmt(asked)} asked")
    if (num(r, "failed") or 0) > 0:
        out.append(f"{who}: {fmt(num(r, 'failed'))} streams failed to open")
    if (num(r, "write_failures") or 0) > 0:
        out.append(f"{who}: {fmt(num(r, 'write_failures'))} writes failed")
    if (num(r, "foreign") or 0) > 0:
        out.append(f"{who}: {fmt(num(r, 'foreign'))} events of other households")
    idle = num(r, "server_idle_cpu_pct")
    if idle is not None and idle >= 5:
        out.append(f"{who}: server {fmt(idle)} % of a core busy with the streams open and no "
                   f"writes")
    if (num(r, "machine_busy_pct") or 0) > 95:
        out.append(f"{who}: machine {fmt(num(r, 'machine_busy_pct'))} % busy")
    return out


def shape_table(p, runs, shape, configs):
    p("| run | server CPU µs/event hearth | Node | hearth/Node | µs/write hearth | Node | "
      "events/s hearth | Node | "
      "writes/s hearth | Node | p50 / p99 ms hearth | Node | lost / dup / dropped hearth | Node | "
      "client CPU hearth run | Node run | notes |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for config in configs:
        h, n = runs.get(("hearth", shape, config), {}), runs.get(("node", shape, config), {})
        any_run = h or n
        if shape == "a":
            name = f"{int(config) // 1000}k subscribers" if int(config) % 1000 == 0 else \
                f"{config} subscribers"
        else:
            r = any_run
            name = (f"{fmt(num(r, 'subscribers'))} streams / {fmt(num(r, 'households'))} "
                    f"households, {MODES.get(config, config)}")
        hc, nc = num(h, "cpu_us_per_event"), num(n, "cpu_us_per_event")

        def lat(r):
            return f"{fmt(num(r, 'p50_ms'), 2)} / {fmt(num(r, 'p99_ms'), 2)}"

        def loss(r):
            return f"{fmt(num(r, 'lost'))} / {fmt(num(r, 'duplicates'))} / {fmt(num(r, 'closed'))}"

        rate = f" of {fmt(num(any_run, 'rate_asked'))}" if num(any_run, "rate_asked") else ""
        p(f"| {name} | {us(hc)} | {us(nc)} | {ratio(hc, nc)} | "
          f"{fmt(num(h, 'cpu_us_per_write'))} | {fmt(num(n, 'cpu_us_per_write'))} | "
          f"{fmt(num(h, 'events_per_s'))} | {fmt(num(n, 'events_per_s'))} | "
          f"{fmt(num(h, 'write_rate'))}{rate} | {fmt(num(n, 'write_rate'))} | {lat(h)} | {lat(n)} | "
          f"{loss(h)} | {loss(n)} | {client_cell(h)} | {client_cell(n)} | "
          f"{'; '.join(notes('hearth', h) + notes('Node', n))} |")


def shape_a_extras(p, runs, checks):
    """The floor, idle-stream memory and the one-household cluster run (hearth only)."""
    floors = sorted((k for k in runs if k[0] == "floor" and len(k) == 3 and k[1] == "a"),
                    key=lambda k: int(k[2]) if k[2].isdigit() else 0)
    if floors:
        p("")
        p("The floor (bench/floor.cpp): one thread that writes the same frame bytes to the same N "
          "sockets, one write(2) each, with no database or per-stream work; hearth's CPU per "
          "event as a ratio to it (target ≤ 1.2×):")
        p("")
        p("| subscribers | floor CPU µs/event | hearth | hearth/floor | floor lost |")
        p("|---|---:|---:|---:|---:|")
        for k in floors:
            f, h = runs[k], runs.get(("hearth", "a", k[2]), {})
            fc, hc = num(f, "cpu_us_per_event"), num(h, "cpu_us_per_event")
            p(f"| {k[2]} | {us(fc)} | {us(hc)} | {ratio(hc, fc)} | {fmt(num(f, 'lost'))} |")
            if fc and hc:
                checks.append(f"| fan-out CPU per event ≤ 1.2× the floor, a/{k[2]} | "
                              f"{ratio(hc, fc)}× ({us(hc)} vs {us(fc)} µs) | "
                              f"{'met' if hc <= 1.2 * fc else 'not met'} |")
    hi, ni = runs.get(("hearth", "idle"), {}), runs.get(("node", "idle"), {})
    if hi or ni:
        hk, nk = num(hi, "kib_per_stream"), num(ni, "kib_per_stream")
        p("")
        p(f"Idle streams ({fmt(num(hi, 'streams'))}): KiB of RSS per stream: hearth {fmt(hk, 1)}, "
          f"Node {fmt(nk, 1)} (ratio {ratio(hk, nk)}).")
        checks.append(f"| memory per idle stream ≤ 4 KiB (hearth) | {fmt(hk, 1)} KiB | "
                      f"{'met' if hk is not None and hk <= 4 else 'not met'} |")
    clusters = sorted(k for k in runs if k[0] == "cluster")
    if clusters:
        p("")
        p("Shape a on a 3-node hearth cluster (one PostgreSQL, subscribers round-robin over the 3 "
          "nodes, writes on node-0; hearth only):")
        p("")
        p("| workload | events/s | writes/s | p50 ms | p90 ms | p99 ms | max ms | lost | dropped "
          "| CPU µs/event (3 nodes) | client CPU |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in clusters:
            c = runs[k]
            p(f"| {k[1]} subscribers on 3 nodes | {fmt(num(c, 'events_per_s'))} | "
              f"{fmt(num(c, 'write_rate'))} | {fmt(num(c, 'p50_ms'), 2)} | "
              f"{fmt(num(c, 'p90_ms'), 2)} | {fmt(num(c, 'p99_ms'), 2)} | "
              f"{fmt(num(c, 'max_ms'), 1)} | {fmt(num(c, 'lost'))} | {fmt(num(c, 'closed'))} | "
              f"{fmt(num(c, 'cpu_us_per_event'), 1)} | {client_cell(c)} |")


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "not met")


def target_checks(runs, checks):
    """The targets of the fan-out issue, each against this run's figures."""
    def both(shape, config):
        return runs.get(("hearth", shape, config), {}), runs.get(("node", shape, config), {})

    def cpu_check(shape, config, limit, what, times_node=None):
        h, n = both(shape, config)
        hc, nc = num(h, "cpu_us_per_event"), num(n, "cpu_us_per_event")
        if hc is None:
            return
        ok = hc <= limit and (times_node is None or (nc is not None and hc * times_node <= nc))
        extra = f", Node {fmt(nc, 2)} µs ({ratio(nc, hc, 1)}× hearth)" if nc is not None else ""
        checks.append(f"| CPU per delivered event ≤ {limit} µs at {what}"
                      f"{f', ≥ {times_node}× better than Node' if times_node else ''} | "
                      f"{fmt(hc, 2)} µs{extra} | {verdict(ok)} |")

    cpu_check("a", "1000", 3, "a/1k", times_node=5)
    cpu_check("a", "10000", 1.5, "a/10k")
    for mode in MODES:
        cpu_check("b", mode, 4, f"b ({mode})")
    for key in sorted(k for k in runs if k[0] == "hearth" and len(k) == 3):
        h, n = both(key[1], key[2])
        hp, np_ = num(h, "p99_ms"), num(n, "p99_ms")
        if hp is None or np_ is None:
            continue
        limit = " and ≤ 20 ms" if key[1:] == ("a", "1000") else ""
        ok = hp <= np_ and (not limit or hp <= 20)
        checks.append(f"| p99 write→event ≤ Node's{limit} at {key[1]}/{key[2]} | "
                      f"{fmt(hp, 1)} vs {fmt(np_, 1)} ms | {verdict(ok)} |")
    for key in [("a", "1000"), ("a", "5000"), ("b", "keepalive"), ("b", "newconn")]:
        h = runs.get(("hearth",) + key)
        if not h:
            continue
        lost, dup, dropped = num(h, "lost"), num(h, "duplicates"), num(h, "closed")
        ok = lost == 0 and dup == 0 and dropped == 0
        checks.append(f"| 0 lost, 0 duplicates, 0 streams dropped at {key[0]}/{key[1]} | "
                      f"{fmt(lost)} / {fmt(dup)} / {fmt(dropped)} | {verdict(ok)} |")


def main():
    runs = parse(sys.argv[1])
    writes, load_before, load_after = sys.argv[2], sys.argv[3], sys.argv[4]
    model, cores = cpu()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    out = []
    p = out.append
    p("")
    p("## SSE fan-out (bench/fanout.sh)")
    p("")
    p(f"CPU: {model}, {cores} cores; load average {load_before} before, {load_after} after "
      f"(1/5/15 min). Commit {commit}.")
    p("The client (hearth_bench_fanout, one process) and the servers share these cores: its own "
      "CPU is shown per run (µs per event, % of one core, and its busiest thread's %); a run "
      "whose client thread was > 90 % busy is marked client-bound (the client, not the server, "
      "set the pace). Latency = POST sent (connection set-up included) → event read by each "
      "stream (one steady clock); events/s = events received by all streams / (first POST → "
      "last event). Server CPU = utime+stime of the server process(es) from the first POST to "
      "the end of the drain, / events delivered. hearth: release build, default config except "
      "maxConnections 30000; Node: bench/peers/fastify/server.js (Fastify, one process). "
      "Columns: hearth, then Node; µs/write = the same server CPU / successful writes (in shapes b "
      "and c a write reaches only its household's few streams, so the write path weighs in "
      "the CPU per event). Notes name a server's CPU with the streams open and nothing written "
      "(2 s before the first POST) when ≥ 5 % of a core: that baseline is inside its CPU per "
      "event.")
    checks = []
    by_shape = {}
    for key in runs:
        if len(key) == 3 and key[0] in ("hearth", "node"):
            by_shape.setdefault(key[1], set()).add(key[2])
    extras_done = False
    for shape in ("a", "b", "c"):
        configs = by_shape.get(shape)
        if not configs:
            continue
        p("")
        p(f"### {SHAPES[shape]}")
        p("")
        if shape == "a":
            configs = sorted(configs, key=lambda c: int(c) if c.isdigit() else 0)
            p(f"One household, N subscribers, a POST of a shop item every 10 ms ({writes} writes, "
              f"open loop, ≤ 4 in flight, keep-alive).")
        else:
            configs = [m for m in MODES if m in configs] + sorted(configs - set(MODES))
            r = next(iter(runs.get((s, shape, c)) for s in ("hearth", "node") for c in configs
                          if runs.get((s, shape, c))))
            p(f"{fmt(num(r, 'households'))} households, each its own account and key (seeded by "
              f"bench/seed_households.sql), {fmt(num(r, 'subscribers'))} SSE streams (each "
              f"subscribed to its own household only), {fmt(num(r, 'rate_asked'))} writes/s asked "
              f"spread uniformly over the households (write n → household n mod H; "
              f"{fmt(num(r, 'writes'))} writes, open loop, ≤ {fmt(num(r, 'writers'))} in flight)."
              + (" hearth streams round-robin over the 3 nodes, writes round-robin over the "
                 "nodes; server CPU summed over the 3 nodes." if shape == "c" else ""))
        p("")
        shape_table(p, runs, shape, configs)
        if shape == "a":
            shape_a_extras(p, runs, checks)
            extras_done = True
    if not extras_done:
        shape_a_extras(p, runs, checks)
    target_checks(runs, checks)
    p("")
    p("Lost = (stream, successful write of its household) pairs never delivered, even after "
      "reconnecting: like a browser's EventSource, a stream the server ends is reopened 250 ms "
      "later with Last-Event-ID (at most 20 times). Dropped = streams the server ended during the "
      "run (hearth drops a stream whose unsent bytes pass sseBufferBytes = 256 KiB or whose socket "
      "takes nothing for sseStallMs = 10 s; the Node peer buffers without bound). Client CPU = utime+stime of the client over the same "
      "window: µs per delivered event, % of one core (busiest thread % of a core). Writes are cut "
      "off 35 s before the client's deadline (85 s after the first in shape a).")
    if checks:
        p("")
        p("| target | measured | |")
        p("|---|---:|---|")
        out.extend(checks)
    errors = [":".join(k) for k, v in runs.items() if v.get("error")]
    if errors:
        p("")
        p("Failed runs (no result): " + ", ".join(sorted(errors)) + ".")
    p("")
    p("![latency percentiles](latency.svg)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
