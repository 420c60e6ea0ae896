"""Proxy keys as their users meet them: a key issued through the admin API, used with the
official openai and google-genai SDKs at their default settings (base URL and key only). Each
refusal must surface as the SDK's typed error with the right status, and never reach Google.
"""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest
from google import genai
from google.genai import errors, types

from conftest import upstream_calls

MODEL = "gemini-2.5-flash"


def admin(gw, method: str, path: str, body=None) -> dict:
    req = urllib.request.Request(
        gw.admin_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {gw.admin_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def new_key(gw, **body) -> str:
    body.setdefault("name", "acceptance")
    created = admin(gw, "POST", "/api/proxy-keys", body)
    assert created["key"].startswith("gk-")
    return created["key"]


def openai_client(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key)


def genai_client(gw, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.base_url))


_clients: list = []


def keep(c: genai.Client) -> genai.Client:
    """Hold the client for the session: a google-genai Client closes its connection pool when it
    is garbage-collected, even while a call made through it is still being set up."""
    _clients.append(c)
    return c


def chat(c: openai.OpenAI, model: str = MODEL):
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])


def test_a_proxy_key_works_and_sees_only_its_models(gateway, sim):
    key = new_key(gateway, models=["gemini-2.5-flash"])
    c = openai_client(gateway, key)
    assert chat(c).choices[0].message.content
    assert [m.id for m in c.models.list()] == ["gemini-2.5-flash"]
    g = genai_client(gateway, key)
    assert g.models.generate_content(model=MODEL, contents="hi").text
    assert [m.name for m in g.models.list()] == ["models/gemini-2.5-flash"]
    assert len(upstream_calls(sim)) >= 2


def test_expired_and_disabled_keys_are_authentication_errors(gateway, sim):
    expired = new_key(gateway, expires_at="2020-01-01T00:00:00Z")
    with pytest.raises(openai.AuthenticationError) as ei:
        chat(openai_client(gateway, expired))
    assert "expired" in ei.value.message
    with pytest.raises(errors.ClientError) as gi:
        keep(genai_client(gateway, expired)).models.generate_content(model=MODEL, contents="hi")
    assert gi.value.code == 401 and gi.value.status == "UNAUTHENTICATED"

    created = admin(gateway, "POST", "/api/proxy-keys", {"name": "to disable"})
    admin(gateway, "PATCH", f"/api/proxy-keys/{created['id']}", {"enabled": False})
    with pytest.raises(openai.AuthenticationError) as ei:
        chat(openai_client(gateway, created["key"]))
    assert "disabled" in ei.value.message
    with pytest.raises(errors.ClientError) as gi:
        keep(genai_client(gateway, created["key"])).models.generate_content(model=MODEL, contents="hi")
    assert gi.value.code == 401
    assert upstream_calls(sim) == []


def test_a_model_outside_the_allow_list_is_permission_denied(gateway, sim):
    key = new_key(gateway, models=["gemini-2.5-flash-lite"])
    with pytest.raises(openai.PermissionDeniedError) as ei:
        chat(openai_client(gateway, key), model="gemini-2.5-pro")
    assert ei.value.status_code == 403 and "gemini-2.5-pro" in ei.value.message
    with pytest.raises(errors.ClientError) as gi:
        keep(genai_client(gateway, key)).models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert gi.value.code == 403 and gi.value.status == "PERMISSION_DENIED"
    assert upstream_calls(sim) == []


def test_over_the_keys_own_limit_is_a_rate_limit_error(gateway, sim):
    # A per-day limit: its Retry-After (until Pacific midnight) is beyond what the SDK waits for,
    # so the openai SDK's default retries back off briefly and then raise.
    key = new_key(gateway, rpd=1)
    c = openai_client(gateway, key)
    chat(c)
    with pytest.raises(openai.RateLimitError) as ei:
        chat(c)
    assert ei.value.status_code == 429
    assert int(ei.value.response.headers["retry-after"]) > 60
    with pytest.raises(errors.ClientError) as gi:
        keep(genai_client(gateway, key)).models.generate_content(model=MODEL, contents="hi")
    assert gi.value.code == 429 and gi.value.status == "RESOURCE_EXHAUSTED"
    assert len(upstream_calls(sim)) == 1, "only the first call went upstream"
    me = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(gateway.admin_url + "/api/me", headers={"Authorization": f"Bearer {key}"}),
            timeout=10,
        ).read()
    )
    assert me["rpd"] == 1 and me["usage"]["requests_today"] == 1
