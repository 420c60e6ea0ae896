"""The official openai Python SDK, pointed at the gateway's OpenAI-compatible surface (`/v1`).

Every test checks both sides: what the SDK hands back to the user (typed objects and typed
exceptions), and what the simulated Google upstream received from the gateway after translation
(path, query, upstream key, Gemini request body), read from gemini-sim's request log. The mapping
under test is docs/openai-mapping.md.
"""

from __future__ import annotations

import json
import math
import struct
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import openai
import pytest
from openai import OpenAI

from conftest import assert_secret_absent, only
from conftest import upstream_calls as gemini_calls

MODEL = "gemini-2.5-flash"
GEMINI3 = "gemini-3-flash-preview"
EMBED_MODEL = "gemini-embedding-001"

#: A valid 1x1 transparent PNG.
TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
#: What gemini-sim charges for one inline media part (crates/gemini-sim/src/content.rs MEDIA_TOKENS).
SIM_MEDIA_TOKENS = 258

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@dataclass
class SdkClient:
    """An `openai.OpenAI` client plus every request it put on the wire (method, url, headers, body)."""

    client: OpenAI
    sent: list = field(default_factory=list)

    def __getattr__(self, name):
        return getattr(self.client, name)

    def sent_json(self) -> list[dict]:
        return [json.loads(b) if b else None for (_, _, _, b) in self.sent]


def make_client(base_url: str, api_key: str, **options) -> SdkClient:
    """The SDK at its defaults (base URL and key), its default HTTP client with a request hook that
    only records what goes on the wire. `options` only where a test says why."""
    out = SdkClient(client=None)  # type: ignore[arg-type]

    def on_request(request) -> None:  # request hook: the bytes the SDK sends
        out.sent.append((request.method, str(request.url), dict(request.headers), request.read()))

    out.client = OpenAI(
        base_url=base_url + "/v1",
        api_key=api_key,
        http_client=openai.DefaultHttpxClient(event_hooks={"request": [on_request]}),
        **options,
    )
    return out


#: Upstream keys of this module's gateway. The gateway enforces the built-in free-tier table
#: (data/model_limits.yaml: gemini-2.5-flash and gemini-3-flash-preview at 5 requests/minute per
#: key), so the shared two-key gateway cannot absorb this module on top of the google-genai suite.
OPENAI_KEYS = tuple(f"openai-sdk-key-{i}" for i in range(8))


@pytest.fixture(scope="module")
def gateway(gateway_factory):
    """This module's own gateway (its own key pool, same simulator); overrides conftest's `gateway`."""
    return gateway_factory(OPENAI_KEYS)


@pytest.fixture
def client(gateway) -> SdkClient:
    c = make_client(gateway.base_url, gateway.password)
    yield c
    c.client.close()


def header(record: dict, name: str) -> list[str]:
    return [v for (k, v) in record["headers"] if k.lower() == name.lower()]


def sim_tokens(text: str) -> int:
    """gemini-sim's token estimate for a text (content.rs `text_tokens`): ceil(chars / 4)."""
    return math.ceil(len(text) / 4)


def assert_upstream_basics(up: dict, gateway, path: str) -> None:
    """The translated request went to Google's native path, with a pool key and not the client secret."""
    assert up["method"] == ("GET" if ":" not in path else "POST")
    assert up["path"] == path
    assert up["api_key"] in gateway.keys
    assert header(up, "x-goog-api-key") == [up["api_key"]]
    assert not header(up, "authorization"), "the client's bearer token must not be forwarded"
    assert "key" not in parse_qs(up.get("query") or "")
    assert_secret_absent([up], gateway.password)


def user_turn(text: str) -> dict:
    return {"role": "user", "parts": [{"text": text}]}


# ---------------------------------------------------------------------------------------------
# 1-3: chat, plain and streamed
# ---------------------------------------------------------------------------------------------


def test_chat_completion(client, gateway, sim):
    system = "You are a terse assistant."
    prompt = "Say hello to the OpenAI SDK"
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    )

    # What the user sees.
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-"), resp.id
    assert resp.model == MODEL
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == f"Echo: {prompt}"
    assert not choice.message.tool_calls
    u = resp.usage
    assert u is not None
    assert u.prompt_tokens + u.completion_tokens == u.total_tokens
    # The simulator's counts, passed through: system instruction + user text, and the echo.
    assert u.prompt_tokens == sim_tokens(system) + sim_tokens(prompt)
    assert u.completion_tokens == sim_tokens(f"Echo: {prompt}")

    # What the SDK sent, and what Google (the simulator) received.
    (sent,) = client.sent_json()
    assert sent["model"] == MODEL and "stream" not in sent
    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{MODEL}:generateContent")
    body = up["body"]
    assert body["contents"] == [user_turn(prompt)]
    assert body["systemInstruction"]["parts"] == [{"text": system}]
    assert body["systemInstruction"].get("role", "user") in ("user", "system")
    assert "messages" not in body and "model" not in body


def test_chat_completion_stream(client, gateway, sim):
    prompt = "Stream a reply back to me please"
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True))

    assert len(chunks) >= 3, chunks
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "every chunk belongs to the same completion"
    assert len({c.created for c in chunks}) == 1
    assert all(c.model == MODEL for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Echo: {prompt}"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 2, "the answer should arrive in several deltas"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    # Without include_usage no chunk carries usage.
    assert all(c.usage is None for c in chunks)

    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{MODEL}:streamGenerateContent")
    assert parse_qs(up.get("query") or "").get("alt") == ["sse"], up.get("query")
    assert up["body"]["contents"] == [user_turn(prompt)]
    assert "systemInstruction" not in up["body"]
    # Every upstream event was turned into a delta.
    assert sim.stats()["events_sent"] == len(content_chunks)


def test_chat_completion_stream_include_usage(client, gateway, sim):
    prompt = "Count my tokens while streaming"
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == sim_tokens(prompt)
    assert last.usage.completion_tokens == sim_tokens(f"Echo: {prompt}")
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    # Every other chunk has `usage: null` and a choice.
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks[:-1])
    assert [c.choices[0].finish_reason for c in chunks[:-1] if c.choices[0].finish_reason] == ["stop"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == f"Echo: {prompt}"

    (sent,) = client.sent_json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{MODEL}:streamGenerateContent")
    assert "stream_options" not in up["body"] and "streamOptions" not in up["body"]


# ---------------------------------------------------------------------------------------------
# 4-5: tool calls
# ---------------------------------------------------------------------------------------------


def test_tool_call_round_trip_with_thought_signature(client, gateway, sim):
    question = "What's the weather in Rome?"
    messages = [{"role": "user", "content": question}]
    resp = client.chat.completions.create(model=GEMINI3, messages=messages, tools=[WEATHER_TOOL])

    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    msg = choice.message
    assert msg.content is None
    assert msg.tool_calls and len(msg.tool_calls) == 1
    tc = msg.tool_calls[0]
    assert tc.type == "function"
    assert tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Rome"}
    # Gemini 3's signature travels in the Google compat layer's `extra_content` (an SDK "extra" field).
    signature = (tc.model_extra or {}).get("extra_content", {}).get("google", {}).get("thought_signature")
    assert signature, tc

    first = only(gemini_calls(sim))
    assert_upstream_basics(first, gateway, f"/v1beta/models/{GEMINI3}:generateContent")
    assert first["body"]["contents"] == [user_turn(question)]
    (decls,) = [t["functionDeclarations"] for t in first["body"]["tools"] if "functionDeclarations" in t]
    assert [d["name"] for d in decls] == ["get_weather"]
    assert decls[0]["description"] == "Current weather for a city."
    assert decls[0]["parametersJsonSchema"]["properties"]["city"]["type"] == "string"
    assert decls[0]["parametersJsonSchema"]["required"] == ["city"]
    # The call id the user got is Gemini's own functionCall.id (gemini-sim issues 8 characters).
    assert len(tc.id) == 8, tc.id

    # Step 2: echo the assistant message as returned (keeps extra_content) plus the tool result.
    sim.reset()
    assistant = msg.model_dump(exclude_none=True)
    assert assistant["tool_calls"][0]["extra_content"]["google"]["thought_signature"] == signature
    messages += [assistant, {"role": "tool", "tool_call_id": tc.id, "content": json.dumps({"temp_c": 21})}]
    final = client.chat.completions.create(model=GEMINI3, messages=messages, tools=[WEATHER_TOOL])

    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == 'Echo: get_weather returned {"temp_c":21}'
    assert not final.choices[0].message.tool_calls

    second = only(gemini_calls(sim))
    assert_upstream_basics(second, gateway, f"/v1beta/models/{GEMINI3}:generateContent")
    contents = second["body"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0] == user_turn(question)
    (call_part,) = contents[1]["parts"]
    assert call_part["functionCall"] == {"id": tc.id, "name": "get_weather", "args": {"city": "Rome"}}
    assert call_part["thoughtSignature"] == signature, "the signature must go back on the functionCall part"
    (resp_part,) = contents[2]["parts"]
    assert resp_part["functionResponse"] == {"id": tc.id, "name": "get_weather", "response": {"temp_c": 21}}


def test_tool_call_streamed(client, gateway, sim):
    # One streamed call (gemini-sim names one function when the prompt names one): index 0,
    # id/type/name on its first delta, arguments accumulated to valid JSON, finish_reason "tool_calls".
    # Parallel calls: test_parallel_tool_calls_streamed below.
    prompt = "Use get_time for the local time in Tokyo"
    stream = client.chat.completions.create(
        model=GEMINI3,
        messages=[{"role": "user", "content": prompt}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice="required",
        stream=True,
    )
    chunks = list(stream)

    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas, chunks
    assert {d.index for d in deltas} == {0}
    head = deltas[0]
    assert head.id and head.type == "function"
    assert head.function.name == "get_time"
    assert (head.model_extra or {}).get("extra_content", {}).get("google", {}).get("thought_signature")
    # Only the first delta of a call names it.
    assert all(d.id is None and (d.function is None or d.function.name is None) for d in deltas[1:])
    arguments = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(arguments) == {"city": "Tokyo"}
    assert not "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert len({c.id for c in chunks}) == 1

    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{GEMINI3}:streamGenerateContent")
    body = up["body"]
    names = [d["name"] for t in body["tools"] for d in t.get("functionDeclarations", [])]
    assert names == ["get_weather", "get_time"]
    assert body["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"
    # Gemini 3's own functionCall.id is passed through (gemini-sim issues 8 alphanumerics; the
    # gateway's own ids would be `call_` + 24).
    assert len(head.id) == 8 and head.id.isalnum(), head.id


def test_parallel_tool_calls_streamed(client, gateway, sim):
    # gemini-sim calls every declared function the prompt names, one functionCall per SSE event
    # (like Gemini 3), with the thought signature on the first part only.
    prompt = "Call get_weather and get_time in Lisbon"
    stream = client.chat.completions.create(
        model=GEMINI3,
        messages=[{"role": "user", "content": prompt}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        parallel_tool_calls=True,
        stream=True,
    )
    chunks = list(stream)
    calls = {}
    for c in chunks:
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            e = calls.setdefault(d.index, {"id": None, "name": None, "args": "", "sig": None})
            e["id"] = e["id"] or d.id
            if d.function and d.function.name:
                e["name"] = d.function.name
            e["args"] += (d.function.arguments or "") if d.function else ""
            sig = (d.model_extra or {}).get("extra_content", {}).get("google", {}).get("thought_signature")
            e["sig"] = e["sig"] or sig
    assert sorted(calls) == [0, 1], calls
    assert [calls[0]["name"], calls[1]["name"]] == ["get_weather", "get_time"]
    assert calls[0]["id"] != calls[1]["id"]
    assert calls[0]["sig"] and not calls[1]["sig"]
    assert all(json.loads(c["args"]) == {"city": "Lisbon"} for c in calls.values())
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]

    # both results back in one turn: Gemini sees two functionCall parts and two functionResponses
    sim.reset()
    assistant = {"role": "assistant", "content": None, "tool_calls": [
        {"id": calls[i]["id"], "type": "function", "function": {"name": calls[i]["name"], "arguments": calls[i]["args"]},
         **({"extra_content": {"google": {"thought_signature": calls[i]["sig"]}}} if calls[i]["sig"] else {})}
        for i in (0, 1)]}
    resp = client.chat.completions.create(
        model=GEMINI3,
        messages=[{"role": "user", "content": prompt}, assistant,
                  {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"temp_c": 18}'},
                  {"role": "tool", "tool_call_id": calls[1]["id"], "content": '{"time": "12:00"}'}],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    assert resp.choices[0].finish_reason == "stop"
    body = only(gemini_calls(sim))["body"]
    model_parts = body["contents"][1]["parts"]
    assert [p["functionCall"]["id"] for p in model_parts] == [calls[0]["id"], calls[1]["id"]]
    assert model_parts[0]["thoughtSignature"] == calls[0]["sig"] and "thoughtSignature" not in model_parts[1]
    assert [p["functionResponse"]["name"] for p in body["contents"][2]["parts"]] == ["get_weather", "get_time"]


# ---------------------------------------------------------------------------------------------
# 6-8: request translation
# ---------------------------------------------------------------------------------------------


def test_image_data_uri_becomes_inline_data(client, gateway, sim):
    prompt = "Describe this image"
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{TINY_PNG_B64}", "detail": "low"}},
                ],
            }
        ],
    )
    assert resp.choices[0].message.content == f"Echo: {prompt}"
    assert resp.usage.prompt_tokens == sim_tokens(prompt) + SIM_MEDIA_TOKENS

    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{MODEL}:generateContent")
    assert up["body"]["contents"] == [
        {"role": "user", "parts": [{"text": prompt}, {"inlineData": {"mimeType": "image/png", "data": TINY_PNG_B64}}]}
    ]


def test_image_http_url_is_rejected(client, sim):
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Look"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                }
            ],
        )
    assert ei.value.status_code == 400
    assert ei.value.param == "messages[0].content[1].image_url.url"
    assert gemini_calls(sim) == [], "the gateway must never fetch or forward user-supplied URLs"


def test_json_schema_response_format(client, gateway, sim):
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    prompt = "Answer in JSON"
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}},
    )
    assert resp.choices[0].finish_reason == "stop"
    # gemini-sim answers a minimal instance of the schema, with the echo in its strings.
    assert json.loads(resp.choices[0].message.content) == {"answer": f"Echo: {prompt}", "confidence": 1.0}

    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{MODEL}:generateContent")
    gc = up["body"]["generationConfig"]
    assert gc["responseMimeType"] == "application/json"
    expected = {k: v for k, v in schema.items() if k != "$schema"}  # the sanitiser drops `$schema`
    assert gc["responseJsonSchema"] == expected
    assert "responseSchema" not in gc


def test_json_object_response_format(client, gateway, sim):
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "JSON please"}], response_format={"type": "json_object"}
    )
    gc = only(gemini_calls(sim))["body"]["generationConfig"]
    assert gc["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in gc


@pytest.mark.parametrize(
    "model, expected",
    [
        (MODEL, {"thinkingBudget": 1024}),
        (GEMINI3, {"thinkingLevel": "LOW"}),
    ],
    ids=["gemini-2.5-budget", "gemini-3-level"],
)
def test_reasoning_effort(client, gateway, sim, model, expected):
    prompt = "Think a little"
    resp = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], reasoning_effort="low"
    )
    assert resp.choices[0].message.content == f"Echo: {prompt}"

    (sent,) = client.sent_json()
    assert sent["reasoning_effort"] == "low"
    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{model}:generateContent")
    tc = up["body"]["generationConfig"]["thinkingConfig"]
    # Any effort but "none" also asks for thoughts (returned as reasoning_content).
    assert tc == {**expected, "includeThoughts": True}
    assert "reasoning_effort" not in up["body"]


# ---------------------------------------------------------------------------------------------
# 9-10: embeddings and models
# ---------------------------------------------------------------------------------------------


def sim_embedding(sim, text: str, dims: int | None = None) -> list[float]:
    """The simulator's embedding for `text`, asked directly (it is deterministic)."""
    req: dict = {"model": f"models/{EMBED_MODEL}", "content": {"parts": [{"text": text}]}}
    if dims is not None:
        req["outputDimensionality"] = dims
    r = urllib.request.Request(
        f"{sim.base_url}/v1beta/models/{EMBED_MODEL}:batchEmbedContents",
        data=json.dumps({"requests": [req]}).encode(),
        headers={"x-goog-api-key": "direct-check", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(r, timeout=5) as resp:
        return json.loads(resp.read())["embeddings"][0]["values"]


def f32(values: list[float]) -> list[float]:
    """Round to float32, as the base64 encoding (little-endian f32) carries them."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def test_embeddings_sdk_default_base64(client, gateway, sim):
    text = "embed me by default"
    resp = client.embeddings.create(model=EMBED_MODEL, input=text)

    (sent,) = client.sent_json()
    assert sent == {"model": EMBED_MODEL, "input": text, "encoding_format": "base64"}, "the SDK's default"
    assert resp.object == "list"
    assert resp.model == EMBED_MODEL
    assert len(resp.data) == 1 and resp.data[0].index == 0
    emb = resp.data[0].embedding
    # The SDK decoded the gateway's base64 into floats.
    assert isinstance(emb, list) and all(isinstance(v, float) for v in emb)
    assert resp.usage.prompt_tokens == resp.usage.total_tokens == sim_tokens(text)

    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{EMBED_MODEL}:batchEmbedContents")
    assert up["body"]["requests"] == [{"model": f"models/{EMBED_MODEL}", "content": {"parts": [{"text": text}]}}]

    sim.reset()
    expected = sim_embedding(sim, text)
    assert len(emb) == len(expected)
    assert emb == f32(expected)


def test_embeddings_float_with_dimensions(client, gateway, sim):
    texts = ["first text", "second, different text"]
    resp = client.embeddings.create(model=EMBED_MODEL, input=texts, encoding_format="float", dimensions=256)

    (sent,) = client.sent_json()
    assert sent["encoding_format"] == "float"
    assert [d.index for d in resp.data] == [0, 1]
    for d, t in zip(resp.data, texts):
        assert len(d.embedding) == 256
        assert all(isinstance(v, float) for v in d.embedding)
    assert resp.data[0].embedding != resp.data[1].embedding

    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{EMBED_MODEL}:batchEmbedContents")
    reqs = up["body"]["requests"]
    assert [r["content"]["parts"][0]["text"] for r in reqs] == texts
    assert all(r["outputDimensionality"] == 256 and r["model"] == f"models/{EMBED_MODEL}" for r in reqs)

    sim.reset()
    for d, t in zip(resp.data, texts):
        assert d.embedding == pytest.approx(sim_embedding(sim, t, 256), rel=1e-6, abs=1e-9)


def sim_catalog(sim) -> list[str]:
    r = urllib.request.Request(f"{sim.base_url}/v1beta/models?pageSize=1000", headers={"x-goog-api-key": "direct-check"})
    with urllib.request.urlopen(r, timeout=5) as resp:
        return [m["name"] for m in json.loads(resp.read())["models"]]


def test_models_list_and_retrieve(gateway_factory, sim):
    # `/v1/models` is served from a cache the gateway fills right after its startup key check; a
    # gateway that started without one (Google unreachable at start) fills it on first use.
    warm = gateway_factory()
    c = make_client(warm.base_url, warm.password)
    ids = [m.id for m in c.models.list()]
    assert MODEL in ids and GEMINI3 in ids and EMBED_MODEL in ids
    assert gemini_calls(sim) == [], "answered from the cache filled at startup"
    c.client.close()

    gw = gateway_factory(startup_check=False)
    c = make_client(gw.base_url, gw.password)
    models = list(c.models.list())
    ids = [m.id for m in models]
    assert MODEL in ids and GEMINI3 in ids and EMBED_MODEL in ids
    assert not any(i.startswith("models/") for i in ids), ids
    assert all(m.object == "model" and m.owned_by == "google" for m in models)
    assert len(ids) == len(set(ids))

    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gw, "/v1beta/models")
    assert parse_qs(up.get("query") or "").get("pageSize") == ["1000"], up.get("query")
    # The SDK saw the simulator's whole catalog, `models/` stripped.
    sim.reset()
    assert sorted(ids) == sorted(n.removeprefix("models/") for n in sim_catalog(sim))

    # A listed model is answered from the gateway's cache.
    sim.reset()
    m = c.models.retrieve(MODEL)
    assert m.id == MODEL and m.object == "model" and m.owned_by == "google"
    assert gemini_calls(sim) == []
    c.client.close()


def test_models_retrieve_with_models_prefix(client, sim):
    m = client.models.retrieve(f"models/{MODEL}")
    assert m.id == MODEL


def test_models_retrieve_goes_upstream_when_not_cached(gateway_factory, sim):
    gw = gateway_factory(startup_check=False)  # cold model cache
    c = make_client(gw.base_url, gw.password)
    m = c.models.retrieve(MODEL)
    assert m.id == MODEL and m.object == "model" and m.owned_by == "google"
    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gw, f"/v1beta/models/{MODEL}")

    sim.reset()
    with pytest.raises(openai.NotFoundError) as ei:
        c.models.retrieve("gemini-does-not-exist")
    assert ei.value.status_code == 404
    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gw, "/v1beta/models/gemini-does-not-exist")
    c.client.close()


# ---------------------------------------------------------------------------------------------
# 11-12: typed errors
# ---------------------------------------------------------------------------------------------


def test_all_keys_rate_limited_is_rate_limit_error(gateway_factory, sim):
    gw = gateway_factory()  # its own key pool: this test leaves every key cooling
    # At its defaults the SDK would honour the 30-s Retry-After twice before raising (what a user
    # wants); the test looks at the 429 itself.
    c = make_client(gw.base_url, gw.password, max_retries=0)
    # Only generateContent on MODEL is limited, so the new gateway's startup key probes are not.
    sim.add_fault({"type": "rate_limit", "retry_delay_secs": 30}, model=MODEL)

    with pytest.raises(openai.RateLimitError) as ei:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Everyone is busy"}])
    e = ei.value
    assert e.status_code == 429
    # An OpenAI envelope, not Gemini's: the SDK sees a string type.
    assert isinstance(e.body, dict) and e.body.get("message"), e.body
    assert e.type == "rate_limit_error", e.body
    retry_after = e.response.headers.get("retry-after")
    assert retry_after is not None and int(retry_after) > 0, dict(e.response.headers)

    records = gemini_calls(sim)
    assert 1 <= len(records) <= len(gw.keys)
    assert len({r["api_key"] for r in records}) == len(records), "a cooling key was retried"
    assert {r["api_key"] for r in records} <= set(gw.keys)
    assert all(r["path"] == f"/v1beta/models/{MODEL}:generateContent" for r in records)
    assert_secret_absent(records, gw.password)
    c.client.close()


def test_wrong_api_key_is_authentication_error(gateway, sim):
    c = make_client(gateway.base_url, "not-the-password")
    with pytest.raises(openai.AuthenticationError) as ei:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Let me in"}])
    assert ei.value.status_code == 401
    assert isinstance(ei.value.body, dict) and ei.value.body.get("message")
    assert gemini_calls(sim) == [], "an unauthenticated request must not reach the upstream"
    c.client.close()


def test_empty_messages_is_bad_request(client, sim):
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=MODEL, messages=[])
    e = ei.value
    assert e.status_code == 400
    assert e.param == "messages"
    assert e.type == "invalid_request_error"
    assert gemini_calls(sim) == []


def test_mid_stream_failure_raises_api_error(client, gateway, sim):
    prompt = "This stream will be cut short"
    sim.add_fault({"type": "cut_after", "events": 2}, times=1)
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True)

    received = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in stream:
            received.append(chunk)
    e = ei.value
    # The SDK raised on the gateway's `{"error": ...}` event, not on a transport failure.
    assert not isinstance(e, openai.APIConnectionError), repr(e)
    assert isinstance(e.body, dict) and e.body.get("message"), e.body
    assert e.type == "server_error", e.body
    # `upstream_stream_error` for a dropped upstream connection (this fault), `stream_truncated`
    # for a body that ends cleanly without a finishReason.
    assert e.code in ("upstream_stream_error", "stream_truncated"), e.body

    # What arrived before the cut is a clean prefix of the answer, never reported as finished.
    text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert text and f"Echo: {prompt}".startswith(text) and text != f"Echo: {prompt}", text
    assert not any(c.choices and c.choices[0].finish_reason for c in received)

    # Bytes already went to the client: the gateway must not splice in a retry.
    up = only(gemini_calls(sim))
    assert_upstream_basics(up, gateway, f"/v1beta/models/{MODEL}:streamGenerateContent")
    assert sim.stats()["events_sent"] == 2
