"""The official `anthropic` Python SDK with its default settings (base URL and key only), pointed at
the gateway as Claude Code is (`ANTHROPIC_BASE_URL=http://host:port`).

Each test checks what the SDK hands back (typed messages, blocks, events and exceptions) and what
the simulated Google upstream received. The mapping under test is docs/anthropic-mapping.md.
"""

from __future__ import annotations

import anthropic
import pytest

from conftest import assert_secret_absent, only
from conftest import upstream_calls as calls

SONNET = "claude-sonnet-4-5-20250929"  # → gemini-2.5-pro by the default alias table
FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-flash-preview"
TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}

#: This module's own upstream keys (the same simulator as the other modules).
ANTHROPIC_KEYS = tuple(f"anthropic-sdk-key-{i}" for i in range(4))


@pytest.fixture(scope="module")
def gateway(gateway_factory):
    return gateway_factory(ANTHROPIC_KEYS)


@pytest.fixture
def client(gateway):
    c = anthropic.Anthropic(base_url=gateway.base_url, api_key=gateway.password)
    yield c
    c.close()


def test_plain_message(client, gateway, sim):
    msg = client.messages.create(
        model=SONNET,
        max_tokens=200,
        system="You are terse.",
        messages=[{"role": "user", "content": "Hello from the Anthropic SDK"}],
    )
    assert isinstance(msg, anthropic.types.Message)
    assert msg.id.startswith("msg_")
    assert msg.model == SONNET
    assert msg.role == "assistant"
    assert msg.stop_reason == "end_turn"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Echo: Hello from the Anthropic SDK"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0

    up = only(calls(sim))
    assert up["path"] == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert up["api_key"] in gateway.keys
    assert up["body"]["contents"] == [{"role": "user", "parts": [{"text": "Hello from the Anthropic SDK"}]}]
    assert up["body"]["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert up["body"]["generationConfig"]["maxOutputTokens"] == 200
    assert_secret_absent([up], gateway.password)


def test_streamed_message(client, sim):
    prompt = "Stream a reply back to me please"
    with client.messages.stream(model=FLASH, max_tokens=200, messages=[{"role": "user", "content": prompt}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == f"Echo: {prompt}"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0

    # The raw events, as the SDK parses them.
    events = list(client.messages.create(model=FLASH, max_tokens=200, stream=True, messages=[{"role": "user", "content": prompt}]))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1
    assert kinds.count("content_block_delta") >= 2
    up = calls(sim)
    assert [r["path"] for r in up] == [f"/v1beta/models/{FLASH}:streamGenerateContent"] * 2
    assert all(r["query"] == "alt=sse" for r in up)


def test_tool_use_round_trip(client, sim):
    ask = {"role": "user", "content": "What is the weather in Paris?"}
    msg = client.messages.create(model=FLASH, max_tokens=300, tools=[WEATHER_TOOL], messages=[ask])
    assert msg.stop_reason == "tool_use"
    (tool,) = [b for b in msg.content if b.type == "tool_use"]
    assert tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert tool.id.startswith("toolu_")

    follow = client.messages.create(
        model=FLASH,
        max_tokens=300,
        tools=[WEATHER_TOOL],
        messages=[
            ask,
            {"role": "assistant", "content": msg.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "18 C, sunny"}]},
        ],
    )
    assert follow.stop_reason == "end_turn"
    assert "get_weather returned" in follow.content[0].text
    first, second = calls(sim)
    decl = first["body"]["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather" and decl["parametersJsonSchema"]["required"] == ["city"]
    assert second["body"]["contents"][1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
    }
    assert second["body"]["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"output": "18 C, sunny"}}}
    ]


def test_image_block(client, sim):
    msg = client.messages.create(
        model=FLASH,
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": TINY_PNG_B64}},
                    {"type": "text", "text": "What is in this picture?"},
                ],
            }
        ],
    )
    assert msg.content[0].type == "text"
    parts = only(calls(sim))["body"]["contents"][0]["parts"]
    assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": TINY_PNG_B64}}
    assert parts[1] == {"text": "What is in this picture?"}


def test_thinking_signature_round_trip_on_gemini3(client, sim):
    ask = {"role": "user", "content": "What is the weather in Paris?"}
    thinking = {"type": "enabled", "budget_tokens": 2048}
    msg = client.messages.create(model=GEMINI3, max_tokens=1000, thinking=thinking, tools=[WEATHER_TOOL], messages=[ask])
    kinds = [b.type for b in msg.content]
    assert kinds == ["thinking", "tool_use"], kinds
    signature = msg.content[0].signature
    assert signature and msg.content[0].thinking
    tool = msg.content[1]

    # Streamed, the same content arrives as thinking_delta, signature_delta and input_json_delta.
    with client.messages.stream(model=GEMINI3, max_tokens=1000, thinking=thinking, tools=[WEATHER_TOOL], messages=[ask]) as s:
        streamed = s.get_final_message()
    assert [b.type for b in streamed.content] == ["thinking", "tool_use"]
    assert streamed.content[0].signature
    assert streamed.content[1].input == {"city": "Paris"}

    follow = client.messages.create(
        model=GEMINI3,
        max_tokens=1000,
        thinking=thinking,
        tools=[WEATHER_TOOL],
        messages=[
            ask,
            {"role": "assistant", "content": msg.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "18 C"}]},
        ],
    )
    # Gemini 3 (and the simulator) refuse a function call sent back without its signature.
    assert follow.stop_reason == "end_turn"
    third = calls(sim)[2]
    part = third["body"]["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == signature
    assert part["functionCall"]["id"] == tool.id
    assert third["body"]["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "LOW", "includeThoughts": True}


def test_count_tokens(client, sim):
    n = client.messages.count_tokens(
        model=SONNET, system="Be brief.", tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "Count me"}]
    )
    assert n.input_tokens > 0
    up = only(calls(sim))
    assert up["path"] == "/v1beta/models/gemini-2.5-pro:countTokens"
    assert up["body"]["generateContentRequest"]["model"] == "models/gemini-2.5-pro"


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert FLASH in ids
    assert client.models.retrieve(SONNET).id == SONNET


def test_beta_messages_as_claude_code_sends_them(client, sim):
    # Claude Code uses the beta client: `?beta=true` and `anthropic-beta` headers.
    msg = client.beta.messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        betas=["interleaved-thinking-2025-05-14"],
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.content[0].text == "Echo: hi"
    assert only(calls(sim))["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"


def test_wrong_key_is_authentication_error(gateway, sim):
    c = anthropic.Anthropic(base_url=gateway.base_url, api_key="not-the-password")
    with pytest.raises(anthropic.AuthenticationError) as ei:
        c.messages.create(model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "let me in"}])
    assert ei.value.status_code == 401
    assert ei.value.body["error"]["type"] == "authentication_error"
    assert calls(sim) == []
    c.close()


def test_unknown_claude_model_is_not_found_listing_the_aliases(client, sim):
    with pytest.raises(anthropic.NotFoundError) as ei:
        client.messages.create(model="claude-nonesuch-9", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert "claude-sonnet" in ei.value.body["error"]["message"]
    assert calls(sim) == []


def test_bad_request_names_the_field(client, sim):
    with pytest.raises(anthropic.BadRequestError) as ei:
        client.messages.create(
            model=SONNET,
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}],
        )
    assert "messages[0].content[0].source" in ei.value.body["error"]["message"]
    assert calls(sim) == []


def test_all_keys_rate_limited_is_rate_limit_error(gateway_factory, sim):
    gw = gateway_factory()  # its own key pool: this test leaves every key cooling
    c = anthropic.Anthropic(base_url=gw.base_url, api_key=gw.password)
    sim.add_fault({"type": "rate_limit", "retry_delay_secs": 1}, model=FLASH)
    with pytest.raises(anthropic.RateLimitError) as ei:
        c.messages.create(model=FLASH, max_tokens=10, messages=[{"role": "user", "content": "Everyone is busy"}])
    e = ei.value
    assert e.status_code == 429
    assert e.body["type"] == "error" and e.body["error"]["type"] == "rate_limit_error"
    assert int(e.response.headers["retry-after"]) > 0
    records = calls(sim)
    assert records and all(r["path"] == f"/v1beta/models/{FLASH}:generateContent" for r in records)
    assert_secret_absent(records, gw.password)
    c.close()
