#!/usr/bin/env python3
"""Summarize one benchmark run directory (bench/results/<timestamp>/).

Reads <scenario>.jsonl (one JSON line per round and server, written by bench/run.sh), computes
per-metric medians for each server and the ratio switchboard / node, checks the project's
targets, and writes summary.json, summary.md and ratios.svg into the same directory.
Python 3.11 standard library only.

    python3 bench/summarize.py bench/results/<timestamp>
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

SERVERS = ("switchboard", "node")

# (scenario, key path, label, better, kind); kind "value" gets a ratio, "count" (must be 0)
# is summed over rounds and gets no ratio.
METRICS = [
    ("connect", "bytes_per_conn", "server memory per idle WebSocket conn (bytes)", "lower", "value"),
    ("connect", "bytes_per_polling_conn", "server memory per idle polling conn (bytes)", "lower", "value"),
    ("connect", "connect_failed", "WebSocket clients that failed to connect", "lower", "count"),
    ("connect", "polling_connect_failed", "polling clients that failed to connect", "lower", "count"),
    ("connect", "connects_per_s", "WebSocket connects/s (handshake + Socket.IO connect)", "higher", "value"),
    ("fanout", "deliveries_per_s", "deliveries/s (one room, max rate)", "higher", "value"),
    ("fanout", "sends_per_s", "acked sends/s", "higher", "value"),
    ("fanout", "server_cpu_us_per_delivery", "server CPU per delivery (µs)", "lower", "value"),
    ("fanout", "loadgen_cpu_s", "load generator CPU during the run (s)", "n/a", "info"),
    ("fanout", "latency.p50_ms", "latency p50 (ms)", "lower", "value"),
    ("fanout", "latency.p99_ms", "latency p99 (ms)", "lower", "value"),
    ("fanout", "latency.max_ms", "latency max (ms)", "lower", "value"),
    ("fanout", "connect_failed", "clients that failed to connect", "lower", "count"),
    ("fanout", "lost", "lost deliveries", "lower", "count"),
    ("fanout", "duplicates", "duplicate deliveries", "lower", "count"),
    ("fanout", "disconnected", "clients disconnected by the server", "lower", "count"),
    ("rooms", "deliveries_per_s", "deliveries/s (1 msg/s per client)", "higher", "value"),
    ("rooms", "server_cpu_us_per_delivery", "server CPU per delivery (µs)", "lower", "value"),
    ("rooms", "latency.p50_ms", "latency p50 (ms)", "lower", "value"),
    ("rooms", "latency.p99_ms", "latency p99 (ms)", "lower", "value"),
    ("rooms", "latency.max_ms", "latency max (ms)", "lower", "value"),
    ("rooms", "connect_failed", "clients that failed to connect", "lower", "count"),
    ("rooms", "lost", "lost deliveries", "lower", "count"),
    ("rooms", "duplicates", "duplicate deliveries", "lower", "count"),
    ("recovery", "catchup_ms", "time until all caught up (ms)", "lower", "value"),
    ("recovery", "rejoin_s", "time until all rejoined (s)", "lower", "value"),
    ("recovery", "connect_failed", "clients that failed to connect", "lower", "count"),
    ("recovery", "gaps", "gaps (missing seqs)", "lower", "count"),
    ("recovery", "duplicates", "duplicate seqs", "lower", "count"),
]

# (id, description, scenario, key, ratio bound, "<=" or ">=", zero-count key or None)
TARGETS = [
    ("memory", "memory per idle WebSocket conn <= 0.5x Node, every client connected", "connect", "bytes_per_conn", 0.5, "<=", "connect_failed"),
    ("fanout", "fan-out deliveries/s >= 5x Node, zero lost", "fanout", "deliveries_per_s", 5.0, ">=", "lost"),
    ("rooms", "rooms p99 latency <= Node, zero lost", "rooms", "latency.p99_ms", 1.0, "<=", "lost"),
]


def get(obj: dict, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj if isinstance(obj, (int, float)) and not isinstance(obj, bool) else None


def load(run: Path) -> dict:
    rows: dict = {}
    for f in sorted(run.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows.setdefault(r.get("scenario", f.stem), {}).setdefault(r.get("server", "?"), []).append(r)
    return rows


def summarize(run: Path) -> dict:
    rows = load(run)
    meta = {}
    if (run / "meta.json").exists():
        meta = json.loads((run / "meta.json").read_text())
    metrics = []
    for scenario, key, label, better, kind in METRICS:
        if scenario not in rows:
            continue
        entry = {"scenario": scenario, "metric": key, "label": label, "better": better, "kind": kind}
        for server in SERVERS:
            runs = sorted(rows[scenario].get(server, []), key=lambda r: r.get("round", 0))
            ok = [r for r in runs if r.get("ok")]
            values = [get(r, key) for r in ok]
            present = [v for v in values if v is not None]
            entry[server] = {
                "values": values,
                "rounds_ok": len(ok),
                "rounds_failed": len(runs) - len(ok),
                "median": statistics.median(present) if present else None,
                "total": sum(present) if present else None,
            }
        sb, nd = entry["switchboard"]["median"], entry["node"]["median"]
        if kind == "value" and sb is not None and nd not in (None, 0):
            ratio = sb / nd
            entry["ratio"] = ratio
            if abs(ratio - 1) < 0.02:
                entry["switchboard_better"] = None  # within 2%: the same
            else:
                entry["switchboard_better"] = ratio > 1 if better == "higher" else ratio < 1
        else:
            entry["ratio"] = None
            if kind == "count":
                st, nt = entry["switchboard"]["total"], entry["node"]["total"]
                entry["switchboard_better"] = None if st is None or nt is None else st <= nt
        metrics.append(entry)

    targets = []
    by_key = {(m["scenario"], m["metric"]): m for m in metrics}
    for tid, desc, scenario, key, bound, op, zero_key in TARGETS:
        m = by_key.get((scenario, key))
        ratio = m["ratio"] if m else None
        met = None
        if ratio is not None:
            met = ratio <= bound if op == "<=" else ratio >= bound
        zero_total = None
        if zero_key:
            z = by_key.get((scenario, zero_key))
            zero_total = z["switchboard"]["total"] if z else None
            if met is not None:
                met = met and zero_total == 0
        targets.append(
            {"id": tid, "target": desc, "ratio": ratio, "bound": bound, "op": op,
             "switchboard_" + (zero_key or "none"): zero_total, "met": met}
        )

    errors = []
    for scenario, per_server in rows.items():
        for server, runs in per_server.items():
            for r in runs:
                if not r.get("ok"):
                    errors.append({"scenario": scenario, "server": server, "round": r.get("round"),
                                   "error": r.get("error")})
    return {"run": run.name, "meta": meta, "metrics": metrics, "targets": targets, "errors": errors}


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != 0 and abs(v) < 10:
            return f"{v:.2f}"
        return f"{v:,.0f}"
    return f"{v:,}"


def markdown(s: dict) -> str:
    meta = s["meta"]
    out = [f"# Switchboard vs Node socket.io: run {s['run']}", ""]
    if meta:
        out.append(
            f"Mode **{meta.get('mode')}**, {meta.get('rounds')} rounds per server (alternating, fresh "
            f"server each round), git `{meta.get('git_rev')}`, {meta.get('nproc')} cores, "
            f"Node {meta.get('node')} + socket.io {meta.get('socket_io')}, {meta.get('rustc')}."
        )
        args = meta.get("args", {})
        if args:
            out.append("")
            out.append("Scenario sizes: " + "; ".join(f"`{k}` {v}" for k, v in args.items()) + ".")
        out.append("")
    out.append("Medians over rounds; ratio = switchboard / node. Counts (lost, duplicates, gaps, "
               "disconnected) are totals over all rounds and must be 0.")
    out.append("")
    out.append("| scenario | metric | better | switchboard | node | ratio | |")
    out.append("|---|---|---|---:|---:|---:|---|")
    for m in s["metrics"]:
        if m["kind"] == "count":
            sb, nd, ratio = m["switchboard"]["total"], m["node"]["total"], "–"
        else:
            sb, nd = m["switchboard"]["median"], m["node"]["median"]
            ratio = "–" if m["ratio"] is None else f"{m['ratio']:.2f}x"
        verdict = {True: "switchboard better", False: "node better", None: ""}[m.get("switchboard_better")]
        if m["kind"] == "value" and m["ratio"] is not None and m.get("switchboard_better") is None:
            verdict = "same (within 2%)"
        if m["kind"] == "count" and sb == nd == 0:
            verdict = "both 0"
        out.append(f"| {m['scenario']} | {m['label']} | {m['better']} | {fmt(sb)} | {fmt(nd)} | {ratio} | {verdict} |")
    out.append("")
    out.append("## Targets")
    out.append("")
    out.append("| target | ratio | met |")
    out.append("|---|---:|---|")
    for t in s["targets"]:
        ratio = "–" if t["ratio"] is None else f"{t['ratio']:.2f}x"
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        out.append(f"| {t['target']} | {ratio} | {met} |")
    out.append("")
    out.append("## Per-round values")
    out.append("")
    out.append("| scenario | metric | switchboard | node |")
    out.append("|---|---|---|---|")
    for m in s["metrics"]:
        sb = ", ".join(fmt(v) for v in m["switchboard"]["values"])
        nd = ", ".join(fmt(v) for v in m["node"]["values"])
        out.append(f"| {m['scenario']} | {m['label']} | {sb} | {nd} |")
    if s["errors"]:
        out.append("")
        out.append("## Failed rounds")
        out.append("")
        for e in s["errors"]:
            out.append(f"- {e['scenario']} / {e['server']} round {e['round']}: {e['error']}")
    out.append("")
    out.append("![ratios](ratios.svg)")
    out.append("")
    return "\n".join(out)


def esc(t: str) -> str:
    return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg(s: dict) -> str:
    """Horizontal bars of log2(ratio) around 1x; green where switchboard is better."""
    rows = [m for m in s["metrics"] if m["ratio"] is not None and m["ratio"] > 0]
    targets = {("connect", "bytes_per_conn"): 0.5, ("fanout", "deliveries_per_s"): 5.0,
               ("rooms", "latency.p99_ms"): 1.0}
    lim = 5  # log2 range shown: 1/32x .. 32x
    width, left, right, top, row_h = 980, 380, 110, 70, 26
    plot_w = width - left - right
    height = top + row_h * len(rows) + 60

    def x(ratio: float) -> float:
        v = max(-lim, min(lim, math.log2(ratio)))
        return left + (v + lim) / (2 * lim) * plot_w

    p = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
         f'Switchboard / Node socket.io (median ratio, log scale) — run {esc(s["run"])}</text>',
         f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#555">green: switchboard better '
         f'(higher-is-better metric above 1x, lower-is-better below 1x); red: node better; '
         f'| target</text>']
    for k in range(-lim, lim + 1):
        gx = x(2.0 ** k)
        label = f"{2 ** k}x" if k >= 0 else f"1/{2 ** -k}x"
        p.append(f'<line x1="{gx:.1f}" y1="{top - 8}" x2="{gx:.1f}" y2="{top + row_h * len(rows)}" '
                 f'stroke="{"#333" if k == 0 else "#ddd"}" stroke-width="{1.5 if k == 0 else 1}"/>')
        p.append(f'<text x="{gx:.1f}" y="{top + row_h * len(rows) + 16}" text-anchor="middle" '
                 f'fill="#555">{label}</text>')
    for i, m in enumerate(rows):
        y = top + i * row_h
        r = m["ratio"]
        x0, x1 = x(1.0), x(r)
        better = m.get("switchboard_better")
        color = "#2e9d4a" if better else ("#888888" if better is None else "#d0463b")
        arrow = "↑" if m["better"] == "higher" else "↓"
        p.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">'
                 f'{esc(m["scenario"])}: {esc(m["label"])} {arrow}</text>')
        p.append(f'<rect x="{min(x0, x1):.1f}" y="{y + 5}" width="{max(abs(x1 - x0), 1.5):.1f}" '
                 f'height="{row_h - 10}" fill="{color}"/>')
        p.append(f'<text x="{width - right + 8}" y="{y + 16}">{r:.2f}x</text>')
        t = targets.get((m["scenario"], m["metric"]))
        if t is not None:
            tx = x(t)
            p.append(f'<line x1="{tx:.1f}" y1="{y + 1}" x2="{tx:.1f}" y2="{y + row_h - 1}" '
                     f'stroke="#1f4fbf" stroke-width="3"/>')
    p.append(f'<text x="{left}" y="{height - 12}" fill="#555">↑ higher is better, ↓ lower is better; '
             f'blue tick: the project target for that metric</text>')
    p.append("</svg>")
    return "\n".join(p) + "\n"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run = Path(sys.argv[1])
    s = summarize(run)
    (run / "summary.json").write_text(json.dumps(s, indent=2) + "\n")
    (run / "summary.md").write_text(markdown(s))
    (run / "ratios.svg").write_text(svg(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
