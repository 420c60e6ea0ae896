"""The OpenAI Responses API as its clients use it, with their default settings (base URL and key
only): openai-python's `client.responses` (create, stream, parse) and the `openai-agents` SDK with
its default model class (`OpenAIResponsesModel`) configured from the environment the way its docs
show for other providers (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, tracing off).

Each test checks what the SDK hands back (typed responses, items, events, exceptions) and what the
simulated Google upstream received. The mapping under test is docs/responses-mapping.md.
"""

from __future__ import annotations

import json

import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

from conftest import assert_secret_absent, only
from conftest import upstream_calls as calls

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-flash-preview"
TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}

#: This module's own upstream keys (the built-in free-tier table allows 5 requests/minute per key
#: and model; this module makes about 30 calls).
RESPONSES_KEYS = tuple(f"responses-sdk-key-{i}" for i in range(10))


@pytest.fixture(scope="module")
def gateway(gateway_factory):
    # With server-side context (the gateway's default), where stored responses live.
    return gateway_factory(RESPONSES_KEYS, context=True)


@pytest.fixture
def client(gateway):
    c = OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.password)
    yield c
    c.close()


def test_plain_response(client, gateway, sim):
    resp = client.responses.create(model=FLASH, instructions="You are terse.", input="Hello from the Responses API")
    assert resp.object == "response"
    assert resp.id.startswith("resp_")
    assert resp.status == "completed"
    assert resp.model == FLASH
    assert resp.output_text == "Echo: Hello from the Responses API"
    (msg,) = resp.output
    assert msg.type == "message" and msg.role == "assistant" and msg.status == "completed"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert resp.store is True, "stored (the API's default), as the gateway keeps it"

    up = only(calls(sim))
    assert up["path"] == f"/v1beta/models/{FLASH}:generateContent"
    assert up["api_key"] in gateway.keys
    assert up["body"]["contents"] == [{"role": "user", "parts": [{"text": "Hello from the Responses API"}]}]
    assert up["body"]["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert_secret_absent([up], gateway.password)


def test_message_items_with_an_image_and_options(client, sim):
    resp = client.responses.create(
        model=FLASH,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Describe this picture"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{TINY_PNG_B64}"},
                ],
            }
        ],
        max_output_tokens=300,
        temperature=0.2,
        top_p=0.9,
    )
    assert resp.status == "completed"
    assert resp.output_text.startswith("Echo: Describe this picture")
    body = only(calls(sim))["body"]
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [{"text": "Describe this picture"}, {"inlineData": {"mimeType": "image/png", "data": TINY_PNG_B64}}],
        }
    ]
    assert body["generationConfig"]["maxOutputTokens"] == 300
    assert body["generationConfig"]["temperature"] == 0.2
    assert body["generationConfig"]["topP"] == 0.9


def test_streamed_response_through_the_sdk_helper(client, sim):
    prompt = "Stream a reply back to me please"
    with client.responses.stream(model=FLASH, input=prompt) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == f"Echo: {prompt}"
    assert len(deltas) >= 2
    assert final.status == "completed"
    assert final.output_text == f"Echo: {prompt}"
    assert final.usage.output_tokens > 0

    # The raw events, as the SDK parses them with stream=True.
    events = list(client.responses.create(model=FLASH, input=prompt, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    up = calls(sim)
    assert [r["path"] for r in up] == [f"/v1beta/models/{FLASH}:streamGenerateContent"] * 2
    assert all(r["query"] == "alt=sse" for r in up)


def test_function_call_round_trip_keeps_the_thought_signature(client, sim):
    ask = {"role": "user", "content": "What is the weather in Paris?"}
    resp = client.responses.create(model=GEMINI3, input=[ask], tools=[WEATHER_TOOL])
    calls_out = [i for i in resp.output if i.type == "function_call"]
    (call,) = calls_out
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    reasoning = [i for i in resp.output if i.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content, "Gemini 3's signature travels in the reasoning item"

    # The round trip as OpenAI's docs show it: append the output, then the call's result.
    follow = client.responses.create(
        model=GEMINI3,
        input=[ask, *resp.output, {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 18}'}],
        tools=[WEATHER_TOOL],
    )
    assert follow.status == "completed"
    assert "get_weather returned" in follow.output_text

    first, second = calls(sim)
    decl = first["body"]["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather" and decl["parametersJsonSchema"]["required"] == ["city"]
    model_turn = second["body"]["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"]["name"] == "get_weather"
    assert model_turn["parts"][0]["thoughtSignature"] == reasoning[0].encrypted_content
    assert second["body"]["contents"][2]["parts"][0]["functionResponse"]["response"] == {"temp": 18}


def test_streamed_function_call(client, sim):
    with client.responses.stream(model=FLASH, input="What is the weather in Rome?", tools=[WEATHER_TOOL]) as stream:
        arg_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    (call,) = [i for i in final.output if i.type == "function_call"]
    assert call.name == "get_weather"
    assert json.loads("".join(arg_deltas)) == json.loads(call.arguments) == {"city": "Rome"}
    assert only(calls(sim))["path"] == f"/v1beta/models/{FLASH}:streamGenerateContent"


def test_tool_choice_and_parallel_calls(client, sim):
    resp = client.responses.create(
        model=FLASH,
        input="Tell me something",
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
    )
    assert [i.type for i in resp.output if i.type == "function_call"] == ["function_call"]
    cfg = only(calls(sim))["body"]["toolConfig"]["functionCallingConfig"]
    assert cfg == {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}


class City(BaseModel):
    name: str
    population: int
    coastal: bool


def test_json_schema_through_parse(client, sim):
    resp = client.responses.parse(model=FLASH, input="Describe Lisbon", text_format=City)
    city = resp.output_parsed
    assert isinstance(city, City), resp.output_text
    gc = only(calls(sim))["body"]["generationConfig"]
    assert gc["responseMimeType"] == "application/json"
    schema = gc["responseJsonSchema"]
    assert schema["type"] == "object" and set(schema["required"]) == {"name", "population", "coastal"}


def test_json_object_format(client, sim):
    resp = client.responses.create(model=FLASH, input="Reply in JSON", text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(resp.output_text), dict)
    gc = only(calls(sim))["body"]["generationConfig"]
    assert gc["responseMimeType"] == "application/json" and "responseJsonSchema" not in gc


@pytest.mark.parametrize(
    "model,effort,thinking",
    [
        (FLASH, "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        (GEMINI3, "high", {"thinkingLevel": "HIGH", "includeThoughts": True}),
    ],
)
def test_reasoning_effort_and_summary(client, sim, model, effort, thinking):
    resp = client.responses.create(model=model, input="Think about it", reasoning={"effort": effort, "summary": "auto"})
    kinds = [i.type for i in resp.output]
    assert kinds == ["reasoning", "message"], kinds
    assert resp.output[0].summary and resp.output[0].summary[0].type == "summary_text"
    assert resp.output_text == "Echo: Think about it"
    assert resp.usage.output_tokens_details.reasoning_tokens > 0
    assert resp.reasoning.effort == effort
    assert only(calls(sim))["body"]["generationConfig"]["thinkingConfig"] == thinking


def test_previous_response_id_continues_a_stored_response(client, sim):
    first = client.responses.create(model=FLASH, instructions="You are terse.", input="My name is Ada")
    assert first.store is True
    second = client.responses.create(model=FLASH, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert second.output_text == "Echo: What is my name?"
    with client.responses.stream(model=FLASH, input="And now?", previous_response_id=second.id) as stream:
        third = stream.get_final_response()
    assert third.previous_response_id == second.id and third.store is True
    sent = [c["body"] for c in calls(sim)]
    assert len(sent) == 3
    ada = [{"role": "user", "parts": [{"text": "My name is Ada"}]}, {"role": "model", "parts": [{"text": "Echo: My name is Ada"}]}]
    assert sent[1]["contents"] == ada + [{"role": "user", "parts": [{"text": "What is my name?"}]}]
    # Instructions belong to the response that gave them; they are not carried over.
    assert "systemInstruction" not in sent[1]
    assert sent[2]["contents"] == ada + [
        {"role": "user", "parts": [{"text": "What is my name?"}]},
        {"role": "model", "parts": [{"text": "Echo: What is my name?"}]},
        {"role": "user", "parts": [{"text": "And now?"}]},
    ]


def test_what_is_not_found_or_cannot_be_honoured_is_a_bad_request(client, sim):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=FLASH, input="again", previous_response_id="resp_abc")
    assert e.value.status_code == 400
    assert e.value.body["param"] == "previous_response_id"
    assert "not found" in e.value.body["message"]
    unstored = client.responses.create(model=FLASH, input="forget me", store=False)
    assert unstored.store is False
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=FLASH, input="again", previous_response_id=unstored.id)
    assert e.value.body["param"] == "previous_response_id"

    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=FLASH, input="search", tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}])
    assert "file_search" in e.value.body["message"]

    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_abc")
    assert len(calls(sim)) == 1, "only the unstored response went upstream"


def test_wrong_key_is_authentication_error(gateway, sim):
    c = OpenAI(base_url=gateway.base_url + "/v1", api_key="not-the-password")
    with pytest.raises(openai.AuthenticationError) as e:
        c.responses.create(model=FLASH, input="hi")
    assert e.value.status_code == 401
    assert calls(sim) == []


# ---------------------------------------------------------------------------------------------
# The openai-agents SDK: its default model class is OpenAIResponsesModel (POST /v1/responses).
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def agents_env(gateway, monkeypatch):
    """What the agents SDK docs tell users of another provider to set: base URL, key, no tracing
    (its tracing exporter would post to api.openai.com)."""
    monkeypatch.setenv("OPENAI_BASE_URL", gateway.base_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", gateway.password)
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    import agents

    agents.set_tracing_disabled(True)
    return agents


def weather_agent(agents, model):
    seen = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        seen.append(city)
        return f"18 C and sunny in {city}"

    agent = agents.Agent(name="Weather", instructions="Answer weather questions.", model=model, tools=[get_weather])
    return agent, seen


@pytest.mark.parametrize("model", [FLASH, GEMINI3])
def test_agents_sdk_runs_a_tool(agents_env, gateway, sim, model):
    agent, seen = weather_agent(agents_env, model)
    result = agents_env.Runner.run_sync(agent, "What is the weather in Paris?")
    assert seen == ["Paris"]
    assert "get_weather returned" in result.final_output and "18 C and sunny in Paris" in result.final_output
    # The model class the runner picked by default for a model name.
    assert isinstance(agents_env.MultiProvider().get_model(model), agents_env.OpenAIResponsesModel)

    first, second = calls(sim)
    assert first["path"] == second["path"] == f"/v1beta/models/{model}:generateContent"
    assert first["body"]["systemInstruction"] == {"parts": [{"text": "Answer weather questions."}]}
    assert first["body"]["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    turns = second["body"]["contents"]
    assert [t["role"] for t in turns] == ["user", "model", "user"]
    assert turns[1]["parts"][-1]["functionCall"]["args"] == {"city": "Paris"}
    if model == GEMINI3:
        assert turns[1]["parts"][-1].get("thoughtSignature"), "the signature came back through the agent's items"
    assert turns[2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    assert_secret_absent([first, second], gateway.password)


@pytest.mark.parametrize("model", [FLASH, GEMINI3])
def test_agents_sdk_chains_responses_on_the_server(agents_env, sim, model):
    """With `auto_previous_response_id` the runner sends only what is new (the tool's output) and
    the previous response's id; a second run continues the first with `previous_response_id`."""
    agent, seen = weather_agent(agents_env, model)
    first = agents_env.Runner.run_sync(agent, "What is the weather in Paris?", auto_previous_response_id=True)
    assert seen == ["Paris"]
    assert "18 C and sunny in Paris" in first.final_output
    ask, answer = calls(sim)
    turns = answer["body"]["contents"]
    assert [t["role"] for t in turns] == ["user", "model", "user"]
    assert turns[0] == ask["body"]["contents"][0]
    assert turns[1]["parts"][-1]["functionCall"]["args"] == {"city": "Paris"}
    if model == GEMINI3:
        assert turns[1]["parts"][-1].get("thoughtSignature"), "the stored turn keeps Gemini's signature"
    assert turns[2]["parts"][0]["functionResponse"]["name"] == "get_weather"

    agents_env.Runner.run_sync(agent, "What is the weather in Oslo?", previous_response_id=first.last_response_id)
    assert seen == ["Paris", "Oslo"]
    later = calls(sim)[2]["body"]["contents"]
    # The first run's exchange and its final answer, then the new question.
    assert later[:3] == turns, later
    assert later[3]["role"] == "model" and "get_weather returned" in later[3]["parts"][0]["text"]
    assert later[4] == {"role": "user", "parts": [{"text": "What is the weather in Oslo?"}]}


def test_agents_sdk_streamed_run(agents_env, sim):
    agent, seen = weather_agent(agents_env, FLASH)

    async def run():
        result = agents_env.Runner.run_streamed(agent, "What is the weather in Oslo?")
        kinds = [e.type async for e in result.stream_events()]
        return result, kinds

    import asyncio

    # The thread's default loop, which Runner.run_sync also uses: the SDK caches its default client,
    # and an httpx client belongs to the loop it was first used on.
    result, kinds = asyncio.get_event_loop_policy().get_event_loop().run_until_complete(run())
    assert seen == ["Oslo"]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert "18 C and sunny in Oslo" in result.final_output
    assert [r["path"] for r in calls(sim)] == [f"/v1beta/models/{FLASH}:streamGenerateContent"] * 2
