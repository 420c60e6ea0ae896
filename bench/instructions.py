#!/usr/bin/env python3
"""Instructions per request of gateway builds, counted by valgrind's callgrind: repeatable to the
instruction whatever else the machine does, so a change of a few per cent shows (CPU time on a VM
drifts by ±10 % between runs). User-space instructions only; system time is not in it.

    python3 bench/instructions.py --bin A=/path/before/gemini-gateway --bin B=target/release/gemini-gateway \
        [--sim target/release/gemini-sim] [--requests 1000] [--keep DIR]

For each build and scenario the gateway runs twice under callgrind (one worker thread) in front of
the simulator, serving `--requests` ÷ 5 and then `--requests` requests one at a time on one
keep-alive connection; the difference of the two totals ÷ the difference of the request counts is
the cost of one request, startup and exit cancelled out. `--keep DIR` keeps the dumps (the larger
run is `NAME-SCENARIO.*`) for `callgrind_annotate`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Say hello to the benchmark in one line."
NATIVE = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
OPENAI = json.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": PROMPT}]})
OPENAI_SSE = json.dumps({"model": "gemini-2.5-flash", "stream": True,
                         "messages": [{"role": "user", "content": PROMPT}]})
SCENARIOS = {
    "native-json": ("/v2/models/gemini-2.5-flash:generateContent", NATIVE),
    "native-sse": ("/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse", NATIVE),
    "openai-json": ("/v1/chat/completions", OPENAI),
    "openai-sse": ("/v1/chat/completions", OPENAI_SSE),
    "responses-json": ("/v1/responses", json.dumps({"model": "gemini-2.5-flash", "input": PROMPT})),
    "responses-sse": ("/v1/responses", json.dumps({"model": "gemini-2.5-flash", "input": PROMPT, "stream": True})),
    "messages-json": ("/v1/messages", json.dumps({"model": "gemini-2.5-flash", "max_tokens": 1024,
                                                 "messages": [{"role": "user", "content": PROMPT}]})),
    "messages-sse": ("/v1/messages", json.dumps({"model": "gemini-2.5-flash", "max_tokens": 1024, "stream": True,
                                                "messages": [{"role": "user", "content": PROMPT}]})),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, name: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"instructions: {name} exited during startup")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"instructions: {name} did not open port {port}")


def send(port: int, path: str, body: str, n: int) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"x-goog-api-key": "pw", "content-type": "application/json"}
    for _ in range(n):
        c.request("POST", path, body, headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"instructions: {path} answered {r.status}")
    c.close()


#: `--stored`: context on with a SQLite file store, so every Responses answer is stored.
STORED = {"on": False}


def total(label: str, gw_bin: str, sim_port: int, scenario: str, n: int, out_dir: Path) -> int:
    """Instructions of one gateway process from start to exit, having served `n` requests."""
    path, body = SCENARIOS[scenario]
    port, admin = free_port(), free_port()
    out = out_dir / f"{label}-{scenario}.%p.callgrind"
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "GEMINI_GATEWAY_CONFIG")}
    env.update(GEMINI_API_KEYS="k1,k2", PASSWORD="pw", GEMINI_BASE_URL=f"http://127.0.0.1:{sim_port}",
               HOST="127.0.0.1", PORT=str(port), ADMIN_PORT=str(admin), LOG_LEVEL="warn", LOG_DIR="off",
               ENFORCE_MODEL_LIMITS="false",
               MAX_REQUESTS_PER_MINUTE="0", MAX_REQUESTS_PER_DAY_PER_IP="0",
               ENABLE_CONTEXT_COMPLETION="false")
    if STORED["on"]:
        db = out_dir / f"{label}-{scenario}.db"
        db.unlink(missing_ok=True)
        env.update(ENABLE_CONTEXT_COMPLETION="true", CONTEXT_DB_PATH=str(db))
    gw = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                           gw_bin, "--threads", "1"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, gw, "gateway")
        time.sleep(1)  # the startup key check and model list are done
        send(port, path, body, n)
    finally:
        gw.send_signal(signal.SIGINT)
        try:
            gw.wait(timeout=60)
        except subprocess.TimeoutExpired:
            gw.kill()
    dump = out_dir / out.name.replace("%p", str(gw.pid))
    m = re.search(r"^summary:\s*(\d+)", dump.read_text(errors="replace"), re.M) if dump.exists() else None
    if not m:
        sys.exit(f"instructions: no callgrind dump for {scenario}")
    return int(m.group(1))


def count(label: str, gw_bin: str, sim_port: int, scenario: str, n: int, out_dir: Path) -> float:
    """Instructions per request: two runs, `n // 5` and `n` requests; startup and exit cancel out."""
    few = total(label + "-few", gw_bin, sim_port, scenario, n // 5, out_dir)
    many = total(label, gw_bin, sim_port, scenario, n, out_dir)
    return (many - few) / (n - n // 5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", action="append", required=True, help="NAME=path of a gateway build")
    ap.add_argument("--sim", default=str(ROOT / "target/release/gemini-sim"))
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--stored", action="store_true",
                    help="context on with a file store (every Responses answer stored)")
    args = ap.parse_args()
    STORED["on"] = args.stored
    bins = [b.split("=", 1) for b in args.bin]
    scenarios = args.scenario or list(SCENARIOS)
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="gg-callgrind-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    sim_port = free_port()
    sim = subprocess.Popen([args.sim, "--listen", f"127.0.0.1:{sim_port}", "--no-record",
                            "--threads", "1", "--stream-events", "20", "--stream-interval-ms", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res: dict[tuple[str, str], float] = {}
    try:
        wait_port(sim_port, sim, "gemini-sim")
        for name, path in bins:
            for sc in scenarios:
                res[name, sc] = count(name, path, sim_port, sc, args.requests, out_dir)
                print(f"{name} {sc}: {res[name, sc]:,.0f} instructions per request", flush=True)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=10)

    names = [n for n, _ in bins]
    print("\n| scenario: instructions per request | " + " | ".join(names) +
          (" | change |" if len(names) == 2 else " |"))
    print("|---|" + "---:|" * (len(names) + (1 if len(names) == 2 else 0)))
    for sc in scenarios:
        row = [f"{res[n, sc]:,.0f}" for n in names]
        if len(names) == 2:
            row.append(f"{(res[names[1], sc] / res[names[0], sc] - 1) * 100:+.1f} %")
        print(f"| {sc} | " + " | ".join(row) + " |")
    if "openai-json" in scenarios and "native-json" in scenarios:
        print("| OpenAI JSON ÷ native JSON | " +
              " | ".join(f"×{res[n, 'openai-json'] / res[n, 'native-json']:.2f}" for n in names) +
              (" | |" if len(names) == 2 else " |"))
    print(f"\n(dumps in {out_dir})")


if __name__ == "__main__":
    main()
