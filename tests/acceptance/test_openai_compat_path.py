"""The openai Python SDK at its defaults with the base URL Google's documentation gives for OpenAI
clients (`https://generativelanguage.googleapis.com/v1beta/openai/`), here pointed at the gateway:
`…/v1beta/openai/` is served by the same OpenAI surface as `/v1`.
"""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from conftest import upstream_calls as calls

FLASH = "gemini-2.5-flash"
EMBED = "gemini-embedding-001"
COMPAT_KEYS = tuple(f"compat-sdk-key-{i}" for i in range(3))


@pytest.fixture(scope="module")
def gateway(gateway_factory):
    return gateway_factory(COMPAT_KEYS)


@pytest.fixture
def client(gateway):
    # Exactly Google's snippet, with the gateway's host instead of Google's.
    c = OpenAI(base_url=gateway.base_url + "/v1beta/openai/", api_key=gateway.password)
    yield c
    c.close()


def test_chat_plain_and_streamed(client, gateway, sim):
    resp = client.chat.completions.create(model=FLASH, messages=[{"role": "user", "content": "Hello via Google's path"}])
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "Echo: Hello via Google's path"

    chunks = list(client.chat.completions.create(model=FLASH, messages=[{"role": "user", "content": "Stream it"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: Stream it"

    first, second = calls(sim)
    assert first["path"] == f"/v1beta/models/{FLASH}:generateContent"
    assert second["path"] == f"/v1beta/models/{FLASH}:streamGenerateContent"
    assert first["api_key"] in gateway.keys and second["api_key"] in gateway.keys
    assert first["body"]["contents"] == [{"role": "user", "parts": [{"text": "Hello via Google's path"}]}]


def test_embeddings(client, sim):
    resp = client.embeddings.create(model=EMBED, input=["one", "two"])
    assert [d.index for d in resp.data] == [0, 1]
    assert all(len(d.embedding) > 0 for d in resp.data)
    (up,) = calls(sim)
    assert up["path"] == f"/v1beta/models/{EMBED}:batchEmbedContents"


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert FLASH in ids, ids
    m = client.models.retrieve(FLASH)
    assert m.id == FLASH and m.object == "model"


def test_errors_are_openai_shaped(client, gateway):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=FLASH, messages=[])
    assert e.value.body["param"] == "messages"
    bad = OpenAI(base_url=gateway.base_url + "/v1beta/openai/", api_key="wrong")
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=FLASH, messages=[{"role": "user", "content": "hi"}])
