"""The official google-genai Python SDK, pointed at the gateway exactly as a user would.

Every test checks both sides: what the SDK hands back to the user, and what the simulated Google
upstream received from the gateway (path, query, upstream key, body), read from gemini-sim's
request log.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest
from google import genai
from google.genai import errors, types

from conftest import CALL_TIMEOUT_S, assert_secret_absent, only

MODEL = "gemini-2.5-flash"
EMBED_MODEL = "gemini-embedding-001"


@dataclass
class SdkClient:
    """A genai.Client plus the exact bytes of every request body it sent to the gateway."""

    client: genai.Client
    sent: list = field(default_factory=list)

    @property
    def models(self):
        return self.client.models

    def sent_bodies(self) -> list[bytes]:
        return [b for (_, _, b) in self.sent]


def make_client(base_url: str, api_key: str, api_version: str | None = None) -> SdkClient:
    """A client as users make one: base URL and key; `api_version` only where a test is about it
    (the SDK's default is `v1`)."""
    out = SdkClient(client=None)  # type: ignore[arg-type]

    def on_request(request) -> None:  # httpx(2) request event hook: sees the bytes on the wire
        out.sent.append((request.method, str(request.url), request.read()))

    out.client = genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(
            base_url=base_url,
            **({"api_version": api_version} if api_version is not None else {}),
            timeout=int(CALL_TIMEOUT_S * 1000),
            # One attempt: the SDK must not hide the gateway's behaviour behind its own retries.
            retry_options=types.HttpRetryOptions(attempts=1),
            client_args={"event_hooks": {"request": [on_request]}},
        ),
    )
    return out


@pytest.fixture
def client(gateway) -> SdkClient:
    return make_client(gateway.base_url, gateway.password)


def header(record: dict, name: str) -> list[str]:
    return [v for (k, v) in record["headers"] if k.lower() == name.lower()]


# ---------------------------------------------------------------------------------------------
# The happy paths
# ---------------------------------------------------------------------------------------------


def test_generate_content(client, gateway, sim):
    prompt = "Say hello to the acceptance suite"
    resp = client.models.generate_content(model=MODEL, contents=prompt)

    # What the user sees.
    assert resp.text, resp
    assert resp.text == f"Echo: {prompt}"
    assert resp.usage_metadata is not None
    assert resp.usage_metadata.prompt_token_count and resp.usage_metadata.prompt_token_count > 0
    assert resp.usage_metadata.total_token_count and resp.usage_metadata.total_token_count >= resp.usage_metadata.prompt_token_count
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.model_version == MODEL

    # What Google (the simulator) received.
    records = sim.api_requests()
    up = only(records)
    assert up["method"] == "POST"
    assert up["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert up["api_key"] in gateway.keys
    assert header(up, "x-goog-api-key") == [up["api_key"]]
    assert not header(up, "authorization")
    assert "key" not in parse_qs(up.get("query") or "")
    assert_secret_absent(records, gateway.password)
    # The body is forwarded untouched: same bytes as the SDK put on the wire.
    (sent,) = client.sent_bodies()
    assert up["body_sha256"] == hashlib.sha256(sent).hexdigest()
    assert up["body"] == {"contents": [{"parts": [{"text": prompt}], "role": "user"}]}


@pytest.mark.parametrize("version", ["v1beta", "v2"])
def test_generate_content_explicit_api_versions(gateway, sim, version):
    """An explicit `api_version` of `v1beta` (Google's) or `v2` (the gateway's own) works the same."""
    c = make_client(gateway.base_url, gateway.password, api_version=version)
    prompt = f"Hello over {version}"
    resp = c.models.generate_content(model=f"models/{MODEL}", contents=prompt)
    assert resp.text == f"Echo: {prompt}"
    assert c.sent[0][1].startswith(f"{gateway.base_url}/{version}/models/{MODEL}:generateContent")

    up = only(sim.api_requests())
    assert up["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert up["api_key"] in gateway.keys
    assert_secret_absent([up], gateway.password)


def test_the_sdk_default_api_version_is_v1(client, gateway, sim):
    """With only base URL and key the SDK calls `/v1/...`: the gateway serves Gemini there."""
    resp = client.models.generate_content(model=MODEL, contents="Which path?")
    assert resp.text == "Echo: Which path?"
    assert client.sent[0][1].startswith(f"{gateway.base_url}/v1/models/{MODEL}:generateContent")


def test_generate_content_stream(client, gateway, sim):
    prompt = "Stream a reply back to me please"
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=prompt))

    assert len(chunks) >= 2, f"expected several chunks, got {len(chunks)}"
    joined = "".join(c.text or "" for c in chunks)
    assert joined == f"Echo: {prompt}"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.total_token_count > 0
    # Every chunk is the same response.
    assert len({c.response_id for c in chunks}) == 1

    up = only(sim.api_requests())
    assert up["method"] == "POST"
    assert up["path"] == f"/v1beta/models/{MODEL}:streamGenerateContent"
    q = parse_qs(up.get("query") or "")
    assert q.get("alt") == ["sse"], up.get("query")
    assert "key" not in q
    assert up["api_key"] in gateway.keys
    assert_secret_absent([up], gateway.password)
    (sent,) = client.sent_bodies()
    assert up["body_sha256"] == hashlib.sha256(sent).hexdigest()
    assert sim.stats()["events_sent"] == len(chunks)


def test_count_tokens(client, gateway, sim):
    resp = client.models.count_tokens(model=MODEL, contents="How many tokens is this sentence?")
    assert resp.total_tokens is not None and resp.total_tokens > 0

    up = only(sim.api_requests())
    assert up["method"] == "POST"
    assert up["path"] == f"/v1beta/models/{MODEL}:countTokens"
    assert up["api_key"] in gateway.keys
    assert up["body"] == {"contents": [{"parts": [{"text": "How many tokens is this sentence?"}], "role": "user"}]}
    assert_secret_absent([up], gateway.password)


def test_models_list_pages(client, gateway, sim):
    seen = [m.name for m in client.models.list(config={"page_size": 2})]

    assert len(seen) > 2, seen
    assert len(seen) == len(set(seen)), f"duplicates across pages: {seen}"
    assert all(n.startswith("models/") for n in seen), seen
    assert f"models/{MODEL}" in seen
    assert f"models/{EMBED_MODEL}" in seen

    records = sim.api_requests()
    assert len(records) >= 2, "the SDK should have followed nextPageToken"
    for r in records:
        assert r["method"] == "GET"
        assert r["path"] == "/v1beta/models"
        assert r["api_key"] in gateway.keys
    queries = [parse_qs(r.get("query") or "") for r in records]
    assert queries[0].get("pageSize") == ["2"], records[0].get("query")
    assert "pageToken" not in queries[0]
    assert all(q.get("pageToken") for q in queries[1:]), [r.get("query") for r in records]
    assert len(records) == (len(seen) + 1) // 2  # pages of 2
    assert_secret_absent(records, gateway.password)

    # The SDK saw the simulator's whole catalog.
    direct = sim_catalog(sim)
    assert seen == direct


def sim_catalog(sim) -> list[str]:
    import urllib.request

    req = urllib.request.Request(f"{sim.base_url}/v1beta/models?pageSize=1000", headers={"x-goog-api-key": "direct-check"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return [m["name"] for m in json.loads(r.read())["models"]]


def test_models_get(client, gateway, sim):
    m = client.models.get(model=MODEL)
    assert m.name == f"models/{MODEL}"
    assert m.display_name
    assert m.input_token_limit and m.input_token_limit > 0
    assert m.output_token_limit and m.output_token_limit > 0
    assert "generateContent" in (m.supported_actions or [])

    up = only(sim.api_requests())
    assert up["method"] == "GET"
    assert up["path"] == f"/v1beta/models/{MODEL}"
    assert up["api_key"] in gateway.keys
    assert_secret_absent([up], gateway.password)


@pytest.mark.parametrize("texts", [["one string to embed"], ["first text", "second, different text"]], ids=["one", "two"])
def test_embed_content(client, gateway, sim, texts):
    contents = texts[0] if len(texts) == 1 else texts
    resp = client.models.embed_content(model=EMBED_MODEL, contents=contents)

    assert resp.embeddings is not None and len(resp.embeddings) == len(texts)
    for e in resp.embeddings:
        assert e.values and len(e.values) > 0
        assert all(isinstance(v, float) for v in e.values)
    if len(texts) == 2:
        assert resp.embeddings[0].values != resp.embeddings[1].values

    up = only(sim.api_requests())
    assert up["method"] == "POST"
    assert up["path"] == f"/v1beta/models/{EMBED_MODEL}:batchEmbedContents"
    assert up["api_key"] in gateway.keys
    body = up["body"]
    assert len(body["requests"]) == len(texts)
    assert [r["content"]["parts"][0]["text"] for r in body["requests"]] == texts
    assert_secret_absent([up], gateway.password)


def test_thinking_config_snake_case_survives(client, gateway, sim):
    """The SDK sends `thinkingConfig` with snake_case keys; the gateway must forward them as sent."""
    prompt = "Think before you answer"
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True)
    )
    resp = client.models.generate_content(model=MODEL, contents=prompt, config=config)
    assert resp.text == f"Echo: {prompt}"

    up = only(sim.api_requests())
    (sent,) = client.sent_bodies()
    sent_json = json.loads(sent)
    # What google-genai 3.4.0 puts on the wire: camelCase outside, snake_case inside thinkingConfig.
    assert sent_json["generationConfig"]["thinkingConfig"] == {"include_thoughts": True, "thinking_budget": 1024}
    # Upstream got exactly that, byte for byte.
    assert up["body"] == sent_json
    assert up["body"]["generationConfig"]["thinkingConfig"] == {"include_thoughts": True, "thinking_budget": 1024}
    assert up["body_len"] == len(sent)
    assert up["body_sha256"] == hashlib.sha256(sent).hexdigest()


# ---------------------------------------------------------------------------------------------
# Errors as the SDK raises them
# ---------------------------------------------------------------------------------------------


def test_upstream_client_error_is_typed_and_not_retried(client, gateway, sim):
    sim.add_fault({"type": "status", "code": 400}, times=3)
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model=MODEL, contents="This will be refused")
    e = ei.value
    assert e.code == 400
    assert e.status == "INVALID_ARGUMENT"
    assert e.message

    # A 400 is the caller's fault: no failover to another key.
    assert sim.calls() == 1
    up = only(sim.api_requests())
    assert up["path"] == f"/v1beta/models/{MODEL}:generateContent"


def test_wrong_password_is_401(gateway, sim):
    c = make_client(gateway.base_url, "not-the-password")
    with pytest.raises(errors.ClientError) as ei:
        c.models.generate_content(model=MODEL, contents="Let me in")
    assert ei.value.code == 401
    assert ei.value.status == "UNAUTHENTICATED"
    assert sim.calls() == 0, "an unauthenticated request must not reach the upstream"


def test_all_keys_rate_limited_is_429(gateway_factory, sim):
    gw = gateway_factory()  # its own key pool: this test leaves every key cooling
    c = make_client(gw.base_url, gw.password)
    sim.add_fault({"type": "rate_limit", "retry_delay_secs": 30})

    with pytest.raises(errors.ClientError) as ei:
        c.models.generate_content(model=MODEL, contents="Everyone is busy")
    e = ei.value
    assert e.code == 429
    assert e.status == "RESOURCE_EXHAUSTED"
    retry_after = e.response.headers.get("retry-after")
    assert retry_after is not None and int(retry_after) > 0, dict(e.response.headers)

    # Each key was tried once, then the gateway gave up.
    records = sim.api_requests()
    assert 1 <= len(records) <= len(gw.keys)
    assert {r["api_key"] for r in records} <= set(gw.keys)
    assert len({r["api_key"] for r in records}) == len(records), "a cooling key was retried"

    # Every key is now cooling: the gateway answers 429 without calling upstream.
    before = sim.calls()
    with pytest.raises(errors.ClientError) as ei2:
        c.models.generate_content(model=MODEL, contents="Still busy?")
    assert ei2.value.code == 429
    assert ei2.value.response.headers.get("retry-after")
    assert sim.calls() == before


def test_failover_on_rate_limit_is_invisible(gateway_factory, sim):
    gw = gateway_factory()
    c = make_client(gw.base_url, gw.password)
    sim.add_fault({"type": "rate_limit", "retry_delay_secs": 30}, times=1)

    prompt = "Fail over for me"
    resp = c.models.generate_content(model=MODEL, contents=prompt)
    assert resp.text == f"Echo: {prompt}"

    records = sim.api_requests()
    assert sim.calls() == 2
    assert len(records) == 2
    keys = [r["api_key"] for r in records]
    assert keys[0] != keys[1], keys
    assert set(keys) <= set(gw.keys)
    # The retried request is the same request.
    assert records[0]["path"] == records[1]["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert records[0]["body_sha256"] == records[1]["body_sha256"]
    assert_secret_absent(records, gw.password)
