#!/usr/bin/env python3
"""What 10,000 proxy keys cost a request: one gateway build, one simulator, one run.

    python3 bench/proxy_keys.py [--gateway target/release/gemini-gateway] \
        [--sim target/release/gemini-sim] [--keys 10000] [--rounds 6] [--duration 8]

First a store file is filled with `--keys` proxy keys through the admin API (as an operator
would make them). Then, round by round and rotating which goes first, the same build serves
the JSON paths (native generateContent, OpenAI chat completions) in three set-ups:

  none    an empty store file, no proxy key; the client sends the gateway password;
  10k     the store with the keys loaded; the client sends one of them (model allow-list,
          rpm and rpd set, so every check of a restricted key runs, and its usage is counted and
          written back every flush interval);
  10k-pw  the keys loaded, the client sends the password (the table's size alone).

Layout as bench/ab.py: the gateway pinned to core 0 with one worker thread, the simulator and
wrk on core 1, quota enforcement and per-IP limits off, no access log. Reported: the gateway's
CPU µs per request for each, median over the rounds, and the difference per round (median and
spread) — the figure the credentials issue sets at ≤ 2 µs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab import NATIVE, OPENAI, ROOT, free_port, measure, start_sim, stop, wait_port  # noqa: E402

ADMIN = "bench-admin-key"
TARGET_US = 2.0


def fill(gw_bin: str, sim_port: int, db: Path, n: int) -> str:
    """Create `n` proxy keys in the store file `db`; return one (restricted) key."""
    port, admin = free_port(), free_port()
    env = dict(GEMINI_API_KEYS="k1", PASSWORD="pw", ADMIN_API_KEY=ADMIN, CONTEXT_DB_PATH=str(db),
               GEMINI_BASE_URL=f"http://127.0.0.1:{sim_port}", HOST="127.0.0.1", PORT=str(port),
               ADMIN_PORT=str(admin), LOG_LEVEL="warn", LOG_DIR="off", PATH="/usr/bin:/bin")
    gw = subprocess.Popen([gw_bin, "--threads", "1"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(admin, gw, "gateway (fill)")
        conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
        chosen = ""
        t0 = time.monotonic()
        for i in range(n):
            body = {"name": f"user-{i}"}
            if i == n // 2:
                body.update(models=["gemini-2.5-*"], rpm=10_000_000, rpd=1_000_000_000)
            conn.request("POST", "/api/proxy-keys", json.dumps(body),
                         {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 201:
                sys.exit(f"proxy_keys: create failed: {r.status} {data[:200]!r}")
            if i == n // 2:
                chosen = json.loads(data)["key"]
        print(f"created {n} proxy keys in {time.monotonic() - t0:.1f} s", flush=True)
        return chosen
    finally:
        stop(gw)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", default=str(ROOT / "target/release/gemini-gateway"))
    ap.add_argument("--sim", default=str(ROOT / "target/release/gemini-sim"))
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=int, default=8)
    args = ap.parse_args()

    sim, sim_port = start_sim(args.sim)
    tmp = tempfile.TemporaryDirectory()
    db = Path(tmp.name) / "gw.db"
    results: dict[str, list[dict[str, float]]] = {"none": [], "10k": [], "10k-pw": []}
    try:
        wait_port(sim_port, sim, "gemini-sim")
        key = fill(args.gateway, sim_port, db, args.keys)
        empty = Path(tmp.name) / "empty.db"
        setups = {
            "none": ({"CONTEXT_DB_PATH": str(empty)}, ("x-goog-api-key", "pw"), ("authorization", "Bearer pw")),
            "10k": ({"CONTEXT_DB_PATH": str(db)}, ("x-goog-api-key", key), ("authorization", f"Bearer {key}")),
            "10k-pw": ({"CONTEXT_DB_PATH": str(db)}, ("x-goog-api-key", "pw"), ("authorization", "Bearer pw")),
        }
        names = list(setups)
        for i in range(args.rounds):
            order = names[i % 3:] + names[:i % 3]
            for name in order:
                env, native_h, bearer_h = setups[name]
                scenarios = {
                    "native-json": ("/v2/models/gemini-2.5-flash:generateContent", NATIVE, native_h),
                    "openai-json": ("/v1/chat/completions", OPENAI, bearer_h),
                }
                r = measure(args.gateway, sim_port, args.duration, scenarios, env)
                results[name].append(r)
                print(f"round {i + 1} {name}: " + ", ".join(f"{k} {v:.1f} µs" for k, v in r.items()), flush=True)
    finally:
        sim.send_signal(signal.SIGINT)
        tmp.cleanup()

    print(f"\nCPU µs per request, median of {args.rounds} rounds; differences to `none` taken per round")
    print(f"{'scenario':<14}{'none':>8}{'10k':>8}{'10k-pw':>8}{'10k−none':>10}{'spread':>18}{'10k-pw−none':>13}")
    worst = 0.0
    for scen in ("native-json", "openai-json"):
        a = [r[scen] for r in results["none"]]
        b = [r[scen] for r in results["10k"]]
        c = [r[scen] for r in results["10k-pw"]]
        d = [y - x for x, y in zip(a, b)]
        e = [y - x for x, y in zip(a, c)]
        md = statistics.median(d)
        worst = max(worst, md)
        print(f"{scen:<14}{statistics.median(a):>8.1f}{statistics.median(b):>8.1f}{statistics.median(c):>8.1f}"
              f"{md:>+10.1f}{f'[{min(d):+.1f} … {max(d):+.1f}]':>18}{statistics.median(e):>+13.1f}")
    print(f"\ntarget: ≤ +{TARGET_US} µs — {'met' if worst <= TARGET_US else 'NOT met'}")


if __name__ == "__main__":
    main()
