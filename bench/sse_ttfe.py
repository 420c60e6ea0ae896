#!/usr/bin/env python3
"""Time to first SSE event, one stream at a time on one keep-alive connection (stdlib only).

For each stream: t0 just before the request is written; TTFB when the response header is complete;
TTFE when the first complete SSE event (`data: ...` + blank line) has arrived; total when the
chunked body ended. The client's own overhead is the same for the direct and gateway paths, so the
difference between the two is the gateway's added time to first event.

Prints one line: BENCH {json}.
"""
import argparse
import json
import socket
import sys
import time


def pct(sorted_vals, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


class Conn:
    def __init__(self, host, port):
        self.addr = (host, port)
        self.sock = None

    def open(self):
        self.sock = socket.create_connection(self.addr, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


def one_stream(conn, request):
    """Send one request, read one full response. Returns (status, ttfb_ns, ttfe_ns, total_ns, events, keepalive)."""
    if conn.sock is None:
        conn.open()
    sock = conn.sock
    t0 = time.perf_counter_ns()
    sock.sendall(request)
    buf = b""
    # --- header
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed before the response header")
        buf += data
    t_hdr = time.perf_counter_ns()
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.strip().lower()] = v.strip().lower()
    chunked = b"chunked" in headers.get(b"transfer-encoding", b"")
    clen = int(headers[b"content-length"]) if b"content-length" in headers else None
    keepalive = headers.get(b"connection", b"") != b"close"

    body = bytearray()
    t_first = None
    raw = bytearray(rest)
    arrivals = []  # time each complete event arrived (for inter-event gaps)

    def note_first():
        nonlocal t_first
        if t_first is None and (b"\n\n" in body or b"\r\n\r\n" in body):
            t_first = time.perf_counter_ns()
        n = body.replace(b"\r\n", b"\n").count(b"\n\n")
        now = time.perf_counter_ns()
        while len(arrivals) < n:
            arrivals.append(now)

    if chunked:
        # Incremental chunked decoding.
        done = False
        while not done:
            progressed = True
            while progressed and not done:
                progressed = False
                nl = raw.find(b"\r\n")
                if nl < 0:
                    break
                size = int(bytes(raw[:nl]).split(b";")[0], 16)
                if size == 0:
                    # last chunk; expect the final CRLF (no trailers from these servers)
                    if len(raw) >= nl + 4:
                        done = True
                    break
                if len(raw) < nl + 2 + size + 2:
                    break
                body += raw[nl + 2 : nl + 2 + size]
                del raw[: nl + 2 + size + 2]
                progressed = True
                note_first()
            if done:
                break
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed mid-body")
            raw += data
    elif clen is not None:
        body += raw
        note_first()
        while len(body) < clen:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed mid-body")
            body += data
            note_first()
    else:
        body += raw
        while True:
            data = sock.recv(65536)
            if not data:
                break
            body += data
            note_first()
        keepalive = False
    t_end = time.perf_counter_ns()
    if not keepalive:
        conn.close()
    events = sum(1 for ln in body.split(b"\n") if ln.startswith(b"data:"))
    ttfe = (t_first - t0) if t_first is not None else None
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return status, t_hdr - t0, ttfe, t_end - t0, events, gaps


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=60.0, help="stop early after this long")
    a = ap.parse_args()

    body = a.body.encode()
    request = (
        f"POST {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
        f"x-goog-api-key: {a.key}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    conn = Conn(a.host, a.port)
    ttfb, ttfe, total, events, gaps = [], [], [], [], []
    errors = 0
    bad_status = 0
    deadline = time.monotonic() + a.max_seconds
    for i in range(a.warmup + a.streams):
        if time.monotonic() > deadline:
            break
        try:
            st, hb, fe, tot, ev, gp = one_stream(conn, request)
        except (OSError, ValueError, ConnectionError) as e:
            errors += 1
            print(f"stream {i}: {e}", file=sys.stderr)
            conn.close()
            continue
        if i < a.warmup:
            continue
        if st != 200 or fe is None:
            bad_status += 1
            continue
        ttfb.append(hb / 1000.0)
        ttfe.append(fe / 1000.0)
        total.append(tot / 1000.0)
        events.append(ev)
        gaps.extend(g / 1000.0 for g in gp)
    conn.close()
    for v in (ttfb, ttfe, total, gaps):
        v.sort()
    out = {
        "streams": len(ttfe),
        "errors": errors,
        "bad_status": bad_status,
        "events_min": min(events) if events else 0,
        "events_max": max(events) if events else 0,
        "ttfb_p50_us": pct(ttfb, 50),
        "ttfe_p50_us": pct(ttfe, 50),
        "ttfe_p90_us": pct(ttfe, 90),
        "ttfe_p99_us": pct(ttfe, 99),
        "ttfe_max_us": ttfe[-1] if ttfe else None,
        "total_p50_us": pct(total, 50),
        "gap_p50_us": pct(gaps, 50),
        "gap_p99_us": pct(gaps, 99),
    }
    print("BENCH " + json.dumps(out))
    return 0 if ttfe else 1


if __name__ == "__main__":
    sys.exit(main())
