#!/usr/bin/env python3
"""A/B benchmark: two gateway builds against one simulator, interleaved, in one run.

    python3 bench/ab.py --a /path/before/gemini-gateway --b target/release/gemini-gateway \
        [--sim target/release/gemini-sim] [--rounds 5] [--duration 8]

Machines drift (CPU frequency, a neighbour's load on a VM) more between two runs of
bench/run.sh than the few per cent a change is judged by. Here the builds alternate (A B, then
B A, ...) over the same simulator, and each scenario's gateway CPU per request is reported as the
median over the rounds, with the spread. Layout as in run.sh: the gateway pinned to core 0 with
one worker thread, the simulator and wrk on core 1, quota enforcement off, no access log.

Scenarios (all through the gateway, wrk c=8): native JSON generateContent, native SSE
streamGenerateContent (20 events, no gap), OpenAI JSON chat completions (the same prompt).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POST_LUA = ROOT / "bench" / "post.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROMPT = "Say hello to the benchmark in one line."
NATIVE = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
OPENAI = json.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": PROMPT}]})
SCENARIOS = {
    "native-json": ("/v2/models/gemini-2.5-flash:generateContent", NATIVE),
    "native-sse": ("/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse", NATIVE),
    "openai-json": ("/v1/chat/completions", OPENAI),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"ab: {name} exited during startup")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"ab: {name} did not open port {port}")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk(port: int, path: str, body: str, seconds: int,
        header: tuple[str, str] = ("x-goog-api-key", "pw"), connections: int = 8) -> dict:
    """wrk -c8 (or `connections`) POSTing `body` to `path`, the client credential in `header`."""
    env = dict(os.environ, BENCH_PATH=path, BENCH_HEADER=header[0], BENCH_KEY=header[1], BENCH_BODY=body)
    if len(body) > 64 * 1024:  # over what an environment variable may hold: pass a file
        import tempfile
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        f.write(body)
        f.close()
        env.update(BENCH_BODY="", BENCH_BODY_FILE=f.name)
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
         "-s", str(POST_LUA), f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    r = json.loads(line[6:])
    if r["err_status"] or r["err_connect"] or r["err_read"] or r["err_timeout"]:
        sys.exit(f"ab: errors in run {path}: {r}")
    return r


def measure(gw_bin: str, sim_port: int, seconds: int, scenarios=None,
            extra_env: dict[str, str] | None = None) -> dict[str, float]:
    scenarios = scenarios or SCENARIOS
    port, admin = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "GEMINI_GATEWAY_CONFIG")}
    env.update(GEMINI_API_KEYS="k1,k2", PASSWORD="pw", GEMINI_BASE_URL=f"http://127.0.0.1:{sim_port}",
               HOST="127.0.0.1", PORT=str(port), ADMIN_PORT=str(admin), LOG_LEVEL="warn", LOG_DIR="off",
               ENFORCE_MODEL_LIMITS="false",
               MAX_REQUESTS_PER_MINUTE="0", MAX_REQUESTS_PER_DAY_PER_IP="0",
               # One password, thousands of requests: context would grow one conversation and
               # inject it into every request. The context bench (context.py) measures context.
               ENABLE_CONTEXT_COMPLETION="false")
    env.update(extra_env or {})
    gw = subprocess.Popen(["taskset", "-c", "0", gw_bin, "--threads", "1"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, gw, "gateway")
        path, body, *header = next(iter(scenarios.values()))
        wrk(port, path, body, 3, *header)  # warm-up: pools, caches, model list
        result = {}
        for name, (path, body, *header) in scenarios.items():
            t0 = cpu_ticks(gw.pid)
            r = wrk(port, path, body, seconds, *header)
            t1 = cpu_ticks(gw.pid)
            result[name] = (t1 - t0) * 1e6 / CLK_TCK / max(r["requests"], 1)
        return result
    finally:
        stop(gw)


def stop(proc: subprocess.Popen) -> None:
    """SIGINT (the gateway's graceful stop), then kill if it is still there after 10 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_sim(sim_bin: str) -> tuple[subprocess.Popen, int]:
    """The simulator on core 1, one thread, no request log, 20-event streams with no gaps."""
    port = free_port()
    sim = subprocess.Popen(["taskset", "-c", "1", sim_bin, "--listen", f"127.0.0.1:{port}",
                            "--no-record", "--threads", "1", "--stream-events", "20",
                            "--stream-interval-ms", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sim, port


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="gateway binary A (e.g. before a change)")
    ap.add_argument("--b", required=True, help="gateway binary B (e.g. after it)")
    ap.add_argument("--sim", default=str(ROOT / "target/release/gemini-sim"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=8)
    args = ap.parse_args()

    sim, sim_port = start_sim(args.sim)
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    try:
        wait_port(sim_port, sim, "gemini-sim")
        for i in range(args.rounds):
            order = ("A", "B") if i % 2 == 0 else ("B", "A")
            for which in order:
                r = measure(args.a if which == "A" else args.b, sim_port, args.duration)
                runs[which].append(r)
                print(f"round {i + 1} {which}: " + ", ".join(f"{k} {v:.1f} µs" for k, v in r.items()),
                      flush=True)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=10)

    print("\n| scenario: gateway CPU per request, median (min–max) over "
          f"{args.rounds} rounds | A | B | B vs A |")
    print("|---|---:|---:|---:|")
    med = {}
    for name in SCENARIOS:
        for which in ("A", "B"):
            vals = [r[name] for r in runs[which]]
            med[which, name] = (statistics.median(vals), min(vals), max(vals))
        a, b = med["A", name], med["B", name]
        print(f"| {name} | {a[0]:.1f} ({a[1]:.1f}–{a[2]:.1f}) µs | {b[0]:.1f} ({b[1]:.1f}–{b[2]:.1f}) µs"
              f" | {(b[0] / a[0] - 1) * 100:+.1f} % |")
    ratio = {w: statistics.median(r["openai-json"] / r["native-json"] for r in runs[w]) for w in runs}
    print(f"| OpenAI JSON ÷ native JSON (median of per-round ratios) | ×{ratio['A']:.2f} | "
          f"×{ratio['B']:.2f} | |")


if __name__ == "__main__":
    main()
