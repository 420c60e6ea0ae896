"""Raw HTTP against the gateway (standard library only): what SDKs never exercise, and exact bytes."""

from __future__ import annotations

import http.client
import json
from urllib.parse import parse_qs, quote

from conftest import CALL_TIMEOUT_S, assert_secret_absent

MODEL = "gemini-2.5-flash"


def request(gateway, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    """One request on a fresh connection; returns (status, headers dict (lowercase), body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=CALL_TIMEOUT_S)
    try:
        data = None if body is None else json.dumps(body).encode()
        h = dict(headers or {})
        if data is not None:
            h.setdefault("content-type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw
    finally:
        conn.close()


def gen_body(text: str) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def test_query_key_auth_is_not_forwarded(gateway, sim):
    status, headers, raw = request(
        gateway,
        "POST",
        f"/v2/models/{MODEL}:generateContent?key={quote(gateway.password)}",
        gen_body("Query-string auth"),
    )
    assert status == 200, raw[:500]
    assert headers["content-type"].startswith("application/json")
    out = json.loads(raw)
    assert out["candidates"][0]["content"]["parts"][0]["text"] == "Echo: Query-string auth"

    records = sim.api_requests()
    assert len(records) == 1
    up = records[0]
    assert up["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert "key" not in parse_qs(up.get("query") or ""), up.get("query")
    assert up["api_key"] in gateway.keys
    assert_secret_absent(records, gateway.password)


def test_query_key_wrong_is_401_in_google_envelope(gateway, sim):
    status, headers, raw = request(
        gateway, "POST", f"/v2/models/{MODEL}:generateContent?key=wrong", gen_body("nope")
    )
    assert status == 401, raw[:500]
    err = json.loads(raw)["error"]
    assert err["code"] == 401
    assert err["status"] == "UNAUTHENTICATED"
    assert err["message"]
    assert sim.calls() == 0


def test_bearer_auth(gateway, sim):
    status, _, raw = request(
        gateway,
        "POST",
        f"/v2/models/{MODEL}:generateContent",
        gen_body("Bearer auth"),
        {"authorization": f"Bearer {gateway.password}"},
    )
    assert status == 200, raw[:500]
    records = sim.api_requests()
    assert len(records) == 1
    assert not [v for (k, v) in records[0]["headers"] if k == "authorization"]
    assert_secret_absent(records, gateway.password)


def test_sse_framing(gateway, sim):
    status, headers, raw = request(
        gateway,
        "POST",
        f"/v2/models/{MODEL}:streamGenerateContent?alt=sse",
        gen_body("Frame these events"),
        {"x-goog-api-key": gateway.password},
    )
    assert status == 200, raw[:500]
    assert headers["content-type"].split(";")[0].strip() == "text/event-stream", headers
    assert raw.startswith(b"data: "), raw[:100]
    assert raw.endswith(b"\r\n\r\n"), raw[-100:]

    events = raw.split(b"\r\n\r\n")
    assert events[-1] == b""
    events = events[:-1]
    assert len(events) >= 2, raw
    text = ""
    for ev in events:
        assert ev.startswith(b"data: "), ev
        assert b"\n" not in ev, f"one line per event: {ev!r}"
        chunk = json.loads(ev[len(b"data: "):])
        text += "".join(p.get("text", "") for p in chunk["candidates"][0]["content"]["parts"])
    assert text == "Echo: Frame these events"
    assert json.loads(events[-1][6:])["candidates"][0]["finishReason"] == "STOP"

    up = sim.api_requests()
    assert len(up) == 1
    assert up[0]["path"] == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert parse_qs(up[0].get("query") or "").get("alt") == ["sse"]


def test_stream_json_array_form(gateway, sim):
    """`streamGenerateContent` without `alt=sse` answers one JSON array of chunks."""
    status, headers, raw = request(
        gateway,
        "POST",
        f"/v2/models/{MODEL}:streamGenerateContent",
        gen_body("Array please"),
        {"x-goog-api-key": gateway.password},
    )
    assert status == 200, raw[:500]
    assert headers["content-type"].startswith("application/json"), headers
    chunks = json.loads(raw)
    assert isinstance(chunks, list) and len(chunks) >= 2
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "Echo: Array please"

    up = sim.api_requests()
    assert len(up) == 1
    assert up[0]["path"] == f"/v1beta/models/{MODEL}:streamGenerateContent"
