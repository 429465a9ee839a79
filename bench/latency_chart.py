#!/usr/bin/env python3
"""Latency percentiles chart (hand-written SVG, no libraries).

  latency_chart.py LATEST_MD FANOUT_RESULTS OUT_SVG

REST rows come from the first table of LATEST_MD (scripts/bench: columns
"p50 ms", optional "p90 ms", "p99 ms"); fan-out rows from the RESULT lines of
hearth_bench_fanout (bench/fanout.sh). Each server is one line from p50 to
p99 on a log-scale ms axis, with marks at p50 (circle), p90 (diamond) and
p99 (bar); a percentile that was not measured is left out.
"""
import math
import sys
from html import escape

COLOURS = {"hearth": "#d9480f", "hearth, cache off (database read path)": "#f59f00", "hearth, 3 nodes": "#a61e4d", "Fastify": "#1971c2",
           "Node broadcaster": "#1971c2", "nginx fixed JSON": "#2f9e44"}


def rest_rows(path):
    rows, cols, workload = [], None, ""
    for line in open(path):
        line = line.strip()
        if not line.startswith("|"):
            if cols and rows:
                break  # end of the first table
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cols is None:
            if "p50 ms" in cells:
                cols = cells
            continue
        if set(line) <= set("|-: "):
            continue
        rec = dict(zip(cols, cells))
        workload = rec.get("workload") or workload
        server = rec.get("server", "")
        vals = {}
        for q in ("p50", "p90", "p99"):
            try:
                vals[q] = float(rec.get(f"{q} ms", ""))
            except ValueError:
                pass
        if "p50" in vals:
            rows.append((workload, server, vals))
    return rows


def fanout_rows(path):
    runs = {}
    for line in open(path):
        if line.startswith("RESULT"):
            kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
            parts = kv.get("label", "?").split(":")
            if len(parts) == 2 and parts[0] in ("hearth", "node") and parts[1].isdigit():
                parts = [parts[0], "a", parts[1]]  # an older file: "hearth:N" is shape a
            runs[tuple(parts)] = kv
    rows = []
    names = (("hearth", "hearth"), ("node", "Node broadcaster"))
    sizes = sorted({int(k[2]) for k in runs if len(k) == 3 and k[1] == "a" and k[2].isdigit()})
    for n in sizes:
        for who, name in names:
            r = runs.get((who, "a", str(n)))
            if r and "p50_ms" in r:
                rows.append((f"SSE fan-out, {n} subscribers", name,
                             {q: float(r[q + "_ms"]) for q in ("p50", "p90", "p99")}))
    for k in sorted(runs):
        if k[0] == "cluster" and "p50_ms" in runs[k]:
            r = runs[k]
            rows.append((f"SSE fan-out, {k[1]} subscribers, 3-node cluster",
                         "hearth, 3 nodes", {q: float(r[q + "_ms"]) for q in ("p50", "p90", "p99")}))
    modes = {"keepalive": "keep-alive writes", "newconn": "a connection per write"}
    for shape, where in (("b", ""), ("c", ", 3-node cluster")):
        for mode in ("keepalive", "newconn"):
            for who, name in names:
                r = runs.get((who, shape, mode))
                if r and "p50_ms" in r:
                    if shape == "c" and who == "hearth":
                        name = "hearth, 3 nodes"
                    rows.append((f"SSE fan-out, shape {shape}: {r.get('households')} households"
                                 f"{where}, {modes[mode]}", name,
                                 {q: float(r[q + "_ms"]) for q in ("p50", "p90", "p99")}))
    return rows


def show(v):
    if v is None:
        return "–"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def main():
    rows = rest_rows(sys.argv[1]) + fanout_rows(sys.argv[2])
    values = [v for _, _, d in rows for v in d.values() if v > 0]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 0.1
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 1000
    left, right, top, row_h, group_gap = 300, 190, 70, 22, 10
    width = 1050
    decades = math.log10(hi) - math.log10(lo)
    plot_w = width - left - right
    groups = []
    for w, s, d in rows:
        if not groups or groups[-1][0] != w:
            groups.append((w, []))
        groups[-1][1].append((s, d))
    height = top + sum((len(g[1]) + 1) * row_h + group_gap for g in groups) + 60

    def x(v):
        return left + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_w

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         '<text x="20" y="24" font-size="16" font-weight="bold">hearth vs peers: latency '
         'percentiles (ms, log scale)</text>',
         '<text x="20" y="44" fill="#555">circle p50 · diamond p90 · bar p99; REST = wrk '
         'response time, SSE = POST sent → event received; right: p50 / p90 / p99 ms '
         '(– = not measured)</text>']
    # grid
    d = lo
    while d <= hi * 1.0001:
        for m in (1, 2, 5):
            v = d * m
            if v > hi * 1.0001 or v < lo:
                continue
            xx = x(v)
            o.append(f'<line x1="{xx:.1f}" y1="{top - 8}" x2="{xx:.1f}" y2="{height - 45}" '
                     f'stroke="{"#ccc" if m == 1 else "#eee"}"/>')
            if m == 1 or decades <= 4:
                o.append(f'<text x="{xx:.1f}" y="{height - 30}" text-anchor="middle" '
                         f'fill="#555">{v:g}</text>')
        d *= 10
    o.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 12}" text-anchor="middle">ms</text>')
    y = top
    for workload, servers in groups:
        o.append(f'<text x="20" y="{y + 15}" font-weight="bold">{escape(workload)}</text>')
        y += row_h
        for server, vals in servers:
            colour = COLOURS.get(server, "#495057")
            cy = y + row_h / 2
            o.append(f'<text x="{left - 12}" y="{cy + 4:.1f}" text-anchor="end" '
                     f'fill="{colour}">{escape(server)}</text>')
            if "p50" in vals and "p99" in vals and vals["p50"] > 0 and vals["p99"] > 0:
                o.append(f'<line x1="{x(vals["p50"]):.1f}" y1="{cy:.1f}" x2="{x(vals["p99"]):.1f}" '
                         f'y2="{cy:.1f}" stroke="{colour}" stroke-width="3" opacity="0.5"/>')
            if vals.get("p50", 0) > 0:
                o.append(f'<circle cx="{x(vals["p50"]):.1f}" cy="{cy:.1f}" r="5" fill="{colour}"/>')
            if vals.get("p90", 0) > 0:
                xx = x(vals["p90"])
                o.append(f'<path d="M{xx:.1f},{cy - 6:.1f} l6,6 l-6,6 l-6,-6 z" fill="{colour}"/>')
            if vals.get("p99", 0) > 0:
                xx = x(vals["p99"])
                o.append(f'<rect x="{xx - 1.5:.1f}" y="{cy - 8:.1f}" width="3" height="16" '
                         f'fill="{colour}"/>')
            o.append(f'<text x="{width - right + 10}" y="{cy + 4:.1f}" fill="#333" font-size="11">'
                     f'{" / ".join(show(vals.get(q)) for q in ("p50", "p90", "p99"))}</text>')
            y += row_h
        y += group_gap
    o.append("</svg>")
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()
