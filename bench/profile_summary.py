#!/usr/bin/env python3
"""Summarise the `bench/run.sh --perf` profile of the gateway: where its CPU goes (perf samples grouped
by area and crate) and system calls per request (perf stat on syscall tracepoints) of the gateway next to the simulator's.

Usage: python3 bench/profile_summary.py bench/results/latest
"""
import collections
import json
import os
import re
import sys

LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*(?:-\s+-\s*)?$")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def area(dso, sym):
    if dso.startswith("[kernel"):
        return "kernel (syscalls, loopback TCP, epoll, scheduler)"
    if dso.startswith("libc"):
        if re.search(r"malloc|free|realloc|calloc|_int_|tcache|consolidate|arena", sym):
            return "libc malloc/free"
        if re.search(r"mem(move|cpy|set|cmp)|str", sym):
            return "libc memmove/memcpy/memset"
        return "libc other"
    if dso == "[vdso]":
        return "vdso (clock_gettime)"
    if dso.startswith("gemini-gateway"):
        s = sym.lstrip("<&*").replace("dyn ", "")
        m = IDENT.match(s)
        crate = m.group(0) if m else "?"
        if len(crate) == 1:
            crate = "generic impls (<T as ...>)"
        elif crate in ("core", "alloc", "std"):
            crate = "core/alloc/std (drops, clones, formatting)"
        elif crate.startswith("pingora"):
            crate = "pingora_* (" + crate + ")"
        return "gateway binary: " + crate
    return dso


def perf_summary(path):
    by_area = collections.Counter()
    top = []
    with open(path, errors="replace") as f:
        for ln in f:
            if ln.startswith("#"):
                continue
            m = LINE.match(ln)
            if not m:
                continue
            pct, dso, _kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
            by_area[area(dso, sym)] += pct
            top.append((pct, dso, sym))
    return by_area, top[:15]


def syscall_counts(path):
    """Counts from `perf stat -e syscalls:sys_enter_*` output: {name: count}."""
    counts = {}
    with open(path, errors="replace") as f:
        for ln in f:
            t = ln.split()
            if len(t) >= 2 and t[1].startswith("syscalls:sys_enter_"):
                try:
                    counts[t[1][len("syscalls:sys_enter_"):]] = int(t[0].replace(",", ""))
                except ValueError:
                    pass  # "<not counted>"
    return counts


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest"
    rows = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        rows = [json.loads(x) for x in f if x.strip()]
    reqs = {(r["scenario"], r["target"]): r.get("requests", 0) for r in rows}
    cpu = {(r["scenario"], r["target"]): r for r in rows}
    out = []
    p = out.append
    for kind, label in (("json", "JSON generateContent"), ("sse", "SSE, 20 events")):
        p(f"### {label}")
        p("")
        pr = os.path.join(run, f"perf-{kind}.txt")
        if os.path.exists(pr):
            by_area, top = perf_summary(pr)
            r = cpu.get((f"perf-{kind}", "gateway"))
            us = r["gw_cpu_us_per_req"] if r else None
            p(f"Gateway CPU by area (perf, {kind}, c=8"
              + (f"; {us:.1f} µs per request during the profiled run" if us else "") + "):")
            p("")
            p("| Area | Share of gateway CPU | ≈ µs per request |")
            p("|---|---:|---:|")
            for a, v in by_area.most_common():
                if v < 0.5:
                    continue
                p(f"| {a} | {v:.1f}% | {us * v / 100:.1f} |" if us else f"| {a} | {v:.1f}% | |")
            p("")
            p("Top symbols:")
            p("")
            p("| % | Object | Symbol |")
            p("|---:|---|---|")
            for pct, dso, sym in top:
                sym = sym if len(sym) < 110 else sym[:107] + "..."
                p(f"| {pct:.2f} | {dso} | `{sym}` |")
            p("")
        cols = []
        for target, label in (("direct", "sim, serving directly"), ("gateway", "gateway"), ("nginx", "nginx hop"), ("floor", "Pingora floor")):
            path = os.path.join(run, f"syscalls-{kind}-{target}.txt")
            n = reqs.get((f"syscalls-{kind}", target), 0)
            if os.path.exists(path) and n:
                cols.append((label, syscall_counts(path), n))
        if cols:
            p(f"System calls per {'request' if kind == 'json' else 'stream'} (perf stat on syscall tracepoints, "
              f"c=8, one process each):")
            p("")
            p("| Syscall | " + " | ".join(c[0] for c in cols) + " |")
            p("|---|" + "---:|" * len(cols))
            names = sorted({k for c in cols for k in c[1]}, key=lambda k: -max(c[1].get(k, 0) / c[2] for c in cols))
            for name in names:
                vals = [c[1].get(name, 0) / c[2] for c in cols]
                if max(vals) < 0.01:
                    continue
                p(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
            p("| **total** | " + " | ".join(f"{sum(c[1].values()) / c[2]:.2f}" for c in cols) + " |")
            p("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
