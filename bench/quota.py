#!/usr/bin/env python3
"""Quota-efficiency benchmark: 20 keys behind the gateway, the simulator enforcing a per-key RPM
quota like Google (429 + RetryInfo + QuotaFailure), open-loop load at 0.5x, 0.9x and 1.2x of the
pool's aggregate capacity. Reports the share of client requests that succeed, upstream 429s as a
share of upstream attempts, and how the excess is answered (status, latency, Retry-After).

Two priors: the model-limits file states the true limit ("exact"), or a limit 50% too high
("high", so the gateway must learn the real one from Google's 429s).

Each level first runs `--warmup` seconds (uncounted, so the per-minute windows are full), then
measures `--seconds`.

Usage: python3 bench/quota.py [--keys 20] [--rpm 10] [--warmup 60] [--seconds 60] [--out bench/results/quota.json]
Needs target/release/gemini-gateway and target/release/gemini-sim (cargo build --release --bins).
Loopback only; every loop is bounded in time.
"""
import argparse, http.client, json, os, random, re, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "gemini-2.5-flash"
BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "quota bench"}]}]}).encode()


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def metric(admin_port, name):
    c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    c.request("GET", "/metrics"); text = c.getresponse().read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total, text


def run_level(factor, keys, rpm, seconds, prior, tmp, warmup, poisson):
    sim_port, gw_port, adm_port = free_port(), free_port(), free_port()
    limits = os.path.join(tmp, f"limits-{prior}.yaml")
    file_rpm = rpm if prior == "exact" else int(rpm * 1.5)
    with open(limits, "w") as f:
        f.write(f"default: {{rpm: null, rpd: null, tpm_input: null, tpd_input: null}}\nmodels:\n  {MODEL}: {{rpm: {file_rpm}, rpd: null, tpm_input: null, tpd_input: null}}\n")
    key_list = [f"bench-key-{i:02d}" for i in range(keys)]
    sim = subprocess.Popen([os.path.join(ROOT, "target/release/gemini-sim"), "--listen", f"127.0.0.1:{sim_port}",
                            "--rpm", str(rpm), "--no-record"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG",)}
    env.update({"GEMINI_API_KEYS": ",".join(key_list), "PASSWORD": "pw", "MAX_REQUESTS_PER_MINUTE": "0", "MAX_REQUESTS_PER_DAY_PER_IP": "0", "ENABLE_CONTEXT_COMPLETION": "false", "GEMINI_BASE_URL": f"http://127.0.0.1:{sim_port}",
                "HOST": "127.0.0.1", "PORT": str(gw_port), "ADMIN_PORT": str(adm_port), "MODEL_LIMITS_PATH": limits,
                "LOG_LEVEL": "warn", "LOG_DIR": "off", "USAGE_REPORT_INTERVAL_MINUTES": "0"})
    gw = subprocess.Popen([os.path.join(ROOT, "target/release/gemini-gateway"), "--threads", "1"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(sim_port); wait_port(gw_port); wait_port(adm_port)
        time.sleep(1.0)  # startup key check (GET models) is quota-free
        capacity_rps = keys * rpm / 60.0
        rate = capacity_rps * factor
        results = []  # (status, latency_s, retry_after)
        lock = threading.Lock()

        def one(counted):
            t = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=30)
                c.request("POST", f"/v2/models/{MODEL}:generateContent", BODY,
                          {"x-goog-api-key": "pw", "content-type": "application/json"})
                r = c.getresponse(); r.read()
                ra = r.getheader("retry-after")
                st = r.status
                c.close()
            except Exception:
                st, ra = 0, None
            if counted:
                with lock:
                    results.append((st, time.time() - t, int(ra) if ra else None))

        threads = []
        # Warm-up at the same rate so the per-minute windows are full (uncounted), then measure:
        # requests started inside the measurement window are counted. Arrivals keep one schedule
        # across the boundary (no pause, no catch-up burst).
        start = time.time()
        next_t = start
        measuring = False
        attempts0 = limited0 = 0.0
        n = 0
        while time.time() - start < warmup + seconds:
            now = time.time()
            if not measuring and now - start >= warmup:
                attempts0, _ = metric(adm_port, "gemini_gateway_upstream_attempts_total")
                limited0, _ = metric(adm_port, 'gemini_gateway_upstream_attempts_total{outcome="rate_limited"}')
                measuring = True
            if now < next_t:
                time.sleep(min(next_t - now, 0.01)); continue
            th = threading.Thread(target=one, args=(measuring,), daemon=True); th.start(); threads.append(th); n += 1
            next_t += random.expovariate(rate) if poisson else 1.0 / rate
        for th in threads:
            th.join(timeout=35)
        attempts, _ = metric(adm_port, "gemini_gateway_upstream_attempts_total")
        limited, _ = metric(adm_port, 'gemini_gateway_upstream_attempts_total{outcome="rate_limited"}')
        attempts -= attempts0
        limited -= limited0
        ok = [r for r in results if r[0] == 200]
        rej = [r for r in results if r[0] != 200]
        rej_429 = [r for r in rej if r[0] == 429]
        lat = sorted(r[1] for r in rej_429)
        ras = sorted(r[2] for r in rej_429 if r[2] is not None)
        pct = lambda v, q: (v[min(len(v) - 1, int(q * len(v)))] if v else None)
        return {
            "prior": prior, "factor": factor, "keys": keys, "rpm_per_key": rpm, "file_rpm": file_rpm,
            "offered_rps": round(rate, 3), "arrivals": "poisson" if poisson else "steady", "seconds": seconds, "warmup": warmup, "requests": len(results),
            "succeeded": len(ok), "success_share": round(len(ok) / max(1, len(results)), 4),
            "upstream_attempts": int(attempts), "upstream_429": int(limited),
            "upstream_429_share": round(limited / max(1, attempts), 4),
            "rejected": len(rej), "rejected_429": len(rej_429), "rejected_other": sorted({r[0] for r in rej if r[0] != 429}),
            "rejected_429_latency_p50_ms": round(pct(lat, 0.5) * 1000, 2) if lat else None,
            "rejected_429_latency_p99_ms": round(pct(lat, 0.99) * 1000, 2) if lat else None,
            "retry_after_p50_s": pct(ras, 0.5), "retry_after_max_s": ras[-1] if ras else None,
            "timeouts": sum(1 for r in results if r[0] == 0),
        }
    finally:
        for p in (gw, sim):
            p.send_signal(signal.SIGINT)
        for p in (gw, sim):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--rpm", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--priors", default="exact,high")
    ap.add_argument("--factors", default="0.5,0.9,1.2")
    ap.add_argument("--poisson", action="store_true", help="Poisson arrivals instead of a steady rate")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/quota.json"))
    a = ap.parse_args()
    for b in ("gemini-gateway", "gemini-sim"):
        if not os.path.exists(os.path.join(ROOT, "target/release", b)):
            sys.exit(f"missing target/release/{b}: run cargo build --release --bins")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for prior in a.priors.split(","):
            for f in (float(x) for x in a.factors.split(",")):
                r = run_level(f, a.keys, a.rpm, a.seconds, prior, tmp, a.warmup, a.poisson)
                rows.append(r)
                print(json.dumps(r), flush=True)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(rows, fh, indent=1)
    print("\n| prior | load | offered req/s | requests | succeeded | upstream attempts | upstream 429s | excess answered as | 429 latency p50/p99 | Retry-After p50/max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        excess = f"{r['rejected_429']}x 429" + (f", other {r['rejected_other']}" if r["rejected_other"] else "") + (f", {r['timeouts']} timeouts" if r["timeouts"] else "")
        lat = f"{r['rejected_429_latency_p50_ms']} / {r['rejected_429_latency_p99_ms']} ms" if r["rejected_429"] else "-"
        ra = f"{r['retry_after_p50_s']} / {r['retry_after_max_s']} s" if r["rejected_429"] else "-"
        print(f"| {r['prior']} ({r['file_rpm']} RPM in file) | {r['factor']}x | {r['offered_rps']} | {r['requests']} | {r['success_share']*100:.1f}% | {r['upstream_attempts']} | {r['upstream_429']} ({r['upstream_429_share']*100:.2f}%) | {excess} | {lat} | {ra} |")


if __name__ == "__main__":
    main()
