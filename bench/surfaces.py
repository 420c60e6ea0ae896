#!/usr/bin/env python3
"""Translating surfaces against the native passthrough: one gateway build, one simulator, one run.

    python3 bench/surfaces.py [--gateway target/release/gemini-gateway] \
        [--sim target/release/gemini-sim] [--rounds 6] [--duration 8]

For each round a fresh gateway (pinned to core 0, one worker thread, quota enforcement off, no
access log; the simulator and wrk on core 1, as in bench/run.sh and bench/ab.py) serves every
scenario with wrk -c8, the scenario order rotating from round to round so that drift does not
favour one of them. Reported per scenario: the gateway's CPU per request (utime+stime of the
process over the requests wrk completed), median and spread over the rounds; and for each
translating surface its ratio to the native passthrough of the same kind (JSON or a 20-event
stream), taken per round and then the median — the figure the surfaces issue sets at ≤ ×1.15.

The Responses scenarios run again on a second gateway of the same round with context on and a
SQLite file store (`responses-*-stored`): every response stored, as `store` (the API's default)
asks. Those rows are judged against the same native rows; they show what keeping responses costs.

Every request asks the same thing of the simulator (one user turn with the same prompt, so the
same 557-byte answer or 20-event stream), through the credential header each API's clients send.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab import PROMPT, ROOT, measure, start_sim, wait_port  # noqa: E402

MODEL = "gemini-2.5-flash"
NATIVE = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
BEARER = ("authorization", "Bearer pw")
X_API_KEY = ("x-api-key", "pw")


def body(**kw) -> str:
    return json.dumps(kw)


CHAT = dict(model=MODEL, messages=[{"role": "user", "content": PROMPT}])
RESPONSES = dict(model=MODEL, input=PROMPT)
MESSAGES = dict(model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": PROMPT}])

SCENARIOS = {
    "native-json": (f"/v2/models/{MODEL}:generateContent", NATIVE),
    "native-sse": (f"/v2/models/{MODEL}:streamGenerateContent?alt=sse", NATIVE),
    "responses-json": ("/v1/responses", body(**RESPONSES), BEARER),
    "responses-sse": ("/v1/responses", body(**RESPONSES, stream=True), BEARER),
    "messages-json": ("/v1/messages", body(**MESSAGES), X_API_KEY),
    "messages-sse": ("/v1/messages", body(**MESSAGES, stream=True), X_API_KEY),
    "chat-json": ("/v1/chat/completions", body(**CHAT), BEARER),
    "chat-sse": ("/v1/chat/completions", body(**CHAT, stream=True), BEARER),
}
#: The Responses scenarios again on a gateway with context on and a SQLite file store, so every
#: response is stored (`store` is the API's default): the cost of keeping them, judged against the
#: native passthrough of the same round (on its own gateway, context off).
STORED = {
    "responses-json-stored": SCENARIOS["responses-json"],
    "responses-sse-stored": SCENARIOS["responses-sse"],
}
#: Each translating scenario and the native one it is judged against.
AGAINST = {name: "native-" + name.split("-")[1] for name in [*SCENARIOS, *STORED] if not name.startswith("native")}
TARGET = 1.15


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", default=str(ROOT / "target/release/gemini-gateway"))
    ap.add_argument("--sim", default=str(ROOT / "target/release/gemini-sim"))
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=int, default=8)
    args = ap.parse_args()

    sim, sim_port = start_sim(args.sim)
    names = list(SCENARIOS) + list(STORED)
    runs: list[dict[str, float]] = []
    store_dir = tempfile.TemporaryDirectory(prefix="gg-bench-surfaces-")
    try:
        wait_port(sim_port, sim, "gemini-sim")
        for i in range(args.rounds):
            plain = list(SCENARIOS)
            k = i % len(plain)
            order = {n: SCENARIOS[n] for n in plain[k:] + plain[:k]}
            stored_env = {"ENABLE_CONTEXT_COMPLETION": "true",
                          "CONTEXT_DB_PATH": f"{store_dir.name}/round-{i}.db"}
            runs_of_round = [lambda: measure(args.gateway, sim_port, args.duration, order),
                             lambda: measure(args.gateway, sim_port, args.duration, STORED, stored_env)]
            r: dict[str, float] = {}
            for run in (runs_of_round if i % 2 == 0 else runs_of_round[::-1]):
                r.update(run())
            runs.append(r)
            print(f"round {i + 1}: " + ", ".join(f"{n} {r[n]:.1f}" for n in names) + " µs", flush=True)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=10)
        store_dir.cleanup()

    print(f"\n| scenario | gateway CPU per request, median (min–max) over {args.rounds} rounds "
          f"| ÷ native, median of per-round ratios | ≤ ×{TARGET} |")
    print("|---|---:|---:|---|")
    for n in names:
        vals = [r[n] for r in runs]
        cell = f"{statistics.median(vals):.1f} ({min(vals):.1f}–{max(vals):.1f}) µs"
        if n in AGAINST:
            ratio = statistics.median(r[n] / r[AGAINST[n]] for r in runs)
            verdict = "(storing: no target)" if n in STORED else ("yes" if ratio <= TARGET else "NO")
            print(f"| {n} | {cell} | ×{ratio:.2f} | {verdict} |")
        else:
            print(f"| {n} | {cell} | | |")


if __name__ == "__main__":
    main()
