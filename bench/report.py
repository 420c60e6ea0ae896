#!/usr/bin/env python3
"""Turn bench/results/<run>/metrics.jsonl (written by bench/run.sh) into the markdown results table.

Usage: python3 bench/report.py bench/results/latest
"""
import json
import os
import sys

# Targets from the issue (2-core machine, gateway pinned to one core).
T_JSON_CPU_US = 30.0  # gateway CPU per JSON request
T_SSE_CPU_US = 60.0  # gateway CPU per 20-event SSE stream
T_ADDED_P50_US = 100.0  # added p50 at concurrency 1
T_IDLE_RSS_MIB = 30.0  # idle RSS
FLAT_MIB = 1.0
NOISY_PCT = float(os.environ.get("NOISY_PCT", 7))  # other processes' share of the machine that taints a run  # "flat": idle RSS after the 3rd JSON run within this much of the 1st


def load(run_dir):
    rows = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    machine = {}
    mpath = os.path.join(run_dir, "machine.json")
    if os.path.exists(mpath):
        with open(mpath) as f:
            machine = json.load(f)
    return rows, machine


def get(rows, scenario, target):
    for r in rows:
        if r["scenario"] == scenario and r["target"] == target:
            return r
    return None


def mib(kb):
    return kb / 1024.0


def yes(ok):
    return "yes" if ok else "**NO**"


def split(r):
    """ " (user U + sys S)" for the gateway's CPU per request, when recorded."""
    if "gw_user_us_per_req" not in r:
        return ""
    return f" (user {r['gw_user_us_per_req']:.0f} + sys {r['gw_sys_us_per_req']:.0f})"


def errors(r):
    if r is None:
        return 0
    if "err_status" in r:
        return sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    return r.get("errors", 0) + r.get("bad_status", 0)


def main():
    run_dir = sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest"
    rows, m = load(run_dir)
    out = []
    p = out.append

    jd, jg = get(rows, "json", "direct"), get(rows, "json", "gateway")
    cd, cg = get(rows, "json-c1", "direct"), get(rows, "json-c1", "gateway")
    sd, sg = get(rows, "sse", "direct"), get(rows, "sse", "gateway")
    td, tg = get(rows, "ttfe", "direct"), get(rows, "ttfe", "gateway")
    bd, bg = get(rows, "ttfe-b2b", "direct"), get(rows, "ttfe-b2b", "gateway")
    idle = {r["scenario"]: r for r in rows if r["scenario"].startswith("idle-")}

    conns = m.get("conns", "?")
    p(f"Machine: {m.get('cpu_model', '?')}, {m.get('cpus', '?')} vCPUs"
      f"{' (' + m['hypervisor'] + ' guest)' if m.get('hypervisor') else ''}, kernel {m.get('kernel', '?')}, "
      f"{m.get('mem_total', '?')}; {m.get('wrk', 'wrk')}; {m.get('rustc', '')}; "
      f"checkout {m.get('git', '?')}, gateway binary {m.get('gateway_bin', '?')} built {m.get('gateway_bin_mtime', '?')}; "
      f"machine {m.get('busy_before_pct', '?')}% busy before the run.")
    p(f"Gateway on core 0 with `--threads 1`; gemini-sim, wrk and the TTFE client on core 1. "
      f"Access log: {'on (LOG_LEVEL=info)' if m.get('access_log') else 'off (LOG_LEVEL=warn)'}. "
      f"wrk runs: {m.get('duration_s', '?')} s each; TTFE: {m.get('ttfe_streams', '?')} streams per path, "
      f"events {m.get('ttfe_interval_ms', '?')} ms apart.")
    if m.get("busy_before_pct", 0) > 10:
        p(f"**Warning: the machine was {m['busy_before_pct']}% busy with other work before this run; "
          f"these numbers are not clean.**")
    p("")
    p("| Measure | Direct (sim) | Via gateway | Gateway vs direct | Target | Met |")
    p("|---|---:|---:|---:|---|---|")

    if jd and jg:
        p(f"| JSON generateContent throughput, c={conns} (req/s) | {jd['rps']:,.0f} | {jg['rps']:,.0f} "
          f"| ×{jg['rps'] / jd['rps']:.2f} | — | — |")
        p(f"| JSON: gateway CPU per request (µs) | {jd['sim_cpu_us_per_req']:.1f} (sim's own) "
          f"| **{jg['gw_cpu_us_per_req']:.1f}**{split(jg)} | ×{jg['gw_cpu_us_per_req'] / jd['sim_cpu_us_per_req']:.2f} of the sim's "
          f"| ≤ {T_JSON_CPU_US:.0f} µs | {yes(jg['gw_cpu_us_per_req'] <= T_JSON_CPU_US)} |")
        p(f"| JSON: whole-machine CPU per request (µs) | {jd['machine_cpu_us_per_req']:.1f} "
          f"| {jg['machine_cpu_us_per_req']:.1f} | ×{jg['machine_cpu_us_per_req'] / jd['machine_cpu_us_per_req']:.2f} | — | — |")
    if cd and cg:
        a50 = cg["lat_p50_us"] - cd["lat_p50_us"]
        a99 = cg["lat_p99_us"] - cd["lat_p99_us"]
        p(f"| JSON latency c=1, p50 (µs) | {cd['lat_p50_us']} | {cg['lat_p50_us']} | **{a50:+d}** "
          f"| added ≤ {T_ADDED_P50_US:.0f} µs | {yes(a50 <= T_ADDED_P50_US)} |")
        p(f"| JSON latency c=1, p99 (µs) | {cd['lat_p99_us']} | {cg['lat_p99_us']} | {a99:+d} | — | — |")
        p(f"| JSON c=1: gateway CPU per request (µs) | {cd['sim_cpu_us_per_req']:.1f} (sim's own) "
          f"| {cg['gw_cpu_us_per_req']:.1f}{split(cg)} | ×{cg['gw_cpu_us_per_req'] / cd['sim_cpu_us_per_req']:.2f} of the sim's | — | — |")
    if sd and sg:
        p(f"| SSE 20 events, throughput c={conns} (streams/s) | {sd['rps']:,.0f} | {sg['rps']:,.0f} "
          f"| ×{sg['rps'] / sd['rps']:.2f} | — | — |")
        p(f"| SSE: gateway CPU per stream (µs) | {sd['sim_cpu_us_per_req']:.1f} (sim's own) "
          f"| **{sg['gw_cpu_us_per_req']:.1f}**{split(sg)} | ×{sg['gw_cpu_us_per_req'] / sd['sim_cpu_us_per_req']:.2f} of the sim's "
          f"| ≤ {T_SSE_CPU_US:.0f} µs | {yes(sg['gw_cpu_us_per_req'] <= T_SSE_CPU_US)} |")
        p(f"| SSE: whole-machine CPU per stream (µs) | {sd['machine_cpu_us_per_req']:.1f} "
          f"| {sg['machine_cpu_us_per_req']:.1f} | ×{sg['machine_cpu_us_per_req'] / sd['machine_cpu_us_per_req']:.2f} | — | — |")
    for (a, b, what) in ((td, tg, f"events {m.get('ttfe_interval_ms', '?')} ms apart"),
                         (bd, bg, "streams back to back")):
        if a and b:
            p(f"| SSE time to first event, {what}, p50 (µs) | {a['ttfe_p50_us']:.0f} | {b['ttfe_p50_us']:.0f} "
              f"| {b['ttfe_p50_us'] - a['ttfe_p50_us']:+.0f} | — | — |")
            p(f"| SSE time to first event, {what}, p99 (µs) | {a['ttfe_p99_us']:.0f} | {b['ttfe_p99_us']:.0f} "
              f"| {b['ttfe_p99_us'] - a['ttfe_p99_us']:+.0f} | — | — |")

    start = idle.get("idle-start")
    if start:
        v = mib(start["gw_rss_kb"])
        p(f"| Gateway idle RSS after start (MiB) | | {v:.1f} | | ≤ {T_IDLE_RSS_MIB:.0f} MB | {yes(v <= T_IDLE_RSS_MIB)} |")
    first = idle.get("idle-after-json")
    reps = [idle[k] for k in sorted((k for k in idle if k.startswith("idle-after-repeat-")),
                                    key=lambda k: int(k.rsplit("-", 1)[1]))]
    if len(reps) >= 2:
        vals = [mib(r["gw_rss_kb"]) for r in reps]
        grow = vals[-1] - vals[0]
        worst = max(vals)
        lead = f"{mib(first['gw_rss_kb']):.1f} ⇒ " if first else ""
        p(f"| Gateway idle RSS after the JSON scenario{' (first run) ⇒' if first else ''} after {len(reps)} more runs (MiB) "
          f"| | {lead}{' / '.join(f'{v:.1f}' for v in vals)} "
          f"| {grow:+.2f} from repeat 1 to {len(reps)} | ≤ {T_IDLE_RSS_MIB:.0f} MB and flat (±{FLAT_MIB:.0f} MiB) "
          f"| {yes(worst <= T_IDLE_RSS_MIB and abs(grow) <= FLAT_MIB)} |")
        if "gw_anon_kb" in reps[0]:
            av = [mib(r["gw_anon_kb"]) for r in reps]
            lead = f"{mib(first['gw_anon_kb']):.1f} ⇒ " if first and "gw_anon_kb" in first else ""
            p(f"| Gateway idle anonymous memory (RssAnon) after the same runs (MiB) | | {lead}"
              f"{' / '.join(f'{v:.1f}' for v in av)} | {av[-1] - av[0]:+.2f} from repeat 1 to {len(reps)} | — | — |")
    peaks = []
    for name, label in (("json", "JSON c8"), ("json-c1", "JSON c1"), ("sse", "SSE c8"),
                        ("ttfe", "TTFE"), ("ttfe-b2b", "TTFE b2b")) + tuple(
            (f"json-repeat-{i}", f"JSON repeat {i}") for i in range(len(reps), len(reps) + 1) if reps):
        r = get(rows, name, "gateway")
        if r:
            peaks.append(f"{label} {mib(r['gw_hwm_kb']):.1f}")
    if peaks:
        p(f"| Gateway peak RSS (VmHWM) after each scenario (MiB) | | {' → '.join(peaks)} | | — | — |")

    refs = [(name, label, get(rows, "json", name), get(rows, "json-c1", name), get(rows, "sse", name))
            for name, label in (("nginx", "nginx hop"), ("floor", "Pingora floor"))]
    refs = [r for r in refs if r[2]]
    if refs and jg and jd:
        p("")
        p("Reference hops, same harness and pinning, in place of the gateway: "
          + "; ".join({"nginx": "a plain nginx reverse proxy (one process, keep-alive upstream, "
                                "`proxy_buffering off`, no access log)",
                       "floor": "the smallest Pingora proxy doing the same rewrite (`examples/pingora_floor.rs`: "
                                "Pingora's own proxy loop, path and key rewrite, no pipeline)"}[r[0]] for r in refs) + ".")
        p("")
        p("| Measure | " + " | ".join(r[1] for r in refs) + " | gemini-gateway | "
          + " | ".join(f"Gateway / {r[1]}" for r in refs) + " |")
        p("|---|" + "---:|" * (2 * len(refs) + 1))
        p("| JSON: proxy CPU per request (µs) | " + " | ".join(f"{r[2]['gw_cpu_us_per_req']:.1f}{split(r[2])}" for r in refs)
          + f" | {jg['gw_cpu_us_per_req']:.1f}{split(jg)} | "
          + " | ".join(f"×{jg['gw_cpu_us_per_req'] / r[2]['gw_cpu_us_per_req']:.2f}" for r in refs) + " |")
        if sg and all(r[4] for r in refs):
            p("| SSE 20 events: proxy CPU per stream (µs) | " + " | ".join(f"{r[4]['gw_cpu_us_per_req']:.1f}{split(r[4])}" for r in refs)
              + f" | {sg['gw_cpu_us_per_req']:.1f}{split(sg)} | "
              + " | ".join(f"×{sg['gw_cpu_us_per_req'] / r[4]['gw_cpu_us_per_req']:.2f}" for r in refs) + " |")
        p(f"| JSON throughput, c={conns} (req/s) | " + " | ".join(f"{r[2]['rps']:,.0f}" for r in refs)
          + f" | {jg['rps']:,.0f} | " + " | ".join(f"×{jg['rps'] / r[2]['rps']:.2f}" for r in refs) + " |")
        if cg and cd and all(r[3] for r in refs):
            p("| JSON c=1: added p50 / p99 over direct (µs) | "
              + " | ".join(f"{r[3]['lat_p50_us'] - cd['lat_p50_us']:+d} / {r[3]['lat_p99_us'] - cd['lat_p99_us']:+d}" for r in refs)
              + f" | {cg['lat_p50_us'] - cd['lat_p50_us']:+d} / {cg['lat_p99_us'] - cd['lat_p99_us']:+d} |" + " |" * len(refs))

    od, og = get(rows, "oai-json", "direct"), get(rows, "oai-json", "gateway")
    osd, osg = get(rows, "oai-sse", "direct"), get(rows, "oai-sse", "gateway")
    otd, otg = get(rows, "oai-ttfe", "direct"), get(rows, "oai-ttfe", "gateway")
    if od and og and osd and osg:
        p("")
        p("OpenAI surface: `/v1/chat/completions` through the gateway (translated both ways) vs the native call to the simulator directly.")
        p("")
        p("| Measure | Direct (sim, native) | Via gateway (/v1) | Gateway vs direct | Target | Met |")
        p("|---|---:|---:|---:|---|---|")
        p(f"| JSON chat throughput, c={conns} (req/s) | {od['rps']:,.0f} | {og['rps']:,.0f} | ×{og['rps'] / od['rps']:.2f} | — | — |")
        p(f"| JSON chat: gateway CPU per request (µs) | {od['sim_cpu_us_per_req']:.1f} (sim's own) | **{og['gw_cpu_us_per_req']:.1f}**{split(og)} | | ≤ 60 µs | {yes(og['gw_cpu_us_per_req'] <= 60)} |")
        p(f"| Streamed chat, {m.get('sse_events', 20)} events: throughput c={conns} (streams/s) | {osd['rps']:,.0f} | {osg['rps']:,.0f} | ×{osg['rps'] / osd['rps']:.2f} | — | — |")
        p(f"| Streamed chat: gateway CPU per stream (µs) | {osd['sim_cpu_us_per_req']:.1f} (sim's own) | **{osg['gw_cpu_us_per_req']:.1f}**{split(osg)} | | ≤ 120 µs | {yes(osg['gw_cpu_us_per_req'] <= 120)} |")
        if otd and otg:
            added = otg["ttfe_p50_us"] - otd["ttfe_p50_us"]
            p(f"| Time to first event p50 / p99 (µs) | {otd['ttfe_p50_us']:.0f} / {otd['ttfe_p99_us']:.0f} | {otg['ttfe_p50_us']:.0f} / {otg['ttfe_p99_us']:.0f} | +{added:.0f} p50 | added ≤ 300 µs | {yes(added <= 300)} |")
            if otd.get("gap_p99_us") is not None and otg.get("gap_p99_us") is not None:
                dg = otg["gap_p99_us"] - otd["gap_p99_us"]
                p(f"| Inter-event gap p50 / p99 (µs) | {otd['gap_p50_us']:.0f} / {otd['gap_p99_us']:.0f} | {otg['gap_p50_us']:.0f} / {otg['gap_p99_us']:.0f} | {dg:+.0f} p99 | p99 within 100 µs | {yes(abs(dg) <= 100)} |")

    noisy = [(r["scenario"], r["target"], r["foreign_cpu_pct"]) for r in rows
             if r.get("foreign_cpu_pct", 0) > NOISY_PCT and not r["scenario"].startswith(("perf", "strace"))]
    if noisy:
        p("")
        p("**Other processes or kernel threads used the machine during: " + ", ".join(f"{s}/{t} ({v:.0f}% of 2 cores)" for s, t, v in noisy)
          + "; those numbers are suspect.**")
    bad = [(r["scenario"], r["target"], errors(r)) for r in rows if errors(r)]
    p("")
    if bad:
        p("Errors: " + ", ".join(f"{s}/{t}: {n}" for s, t, n in bad) + " (results of those runs are suspect).")
    else:
        p("No transport errors or non-2xx answers in any run.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
