"""Server-side conversation context as its users meet it: an SDK at its defaults that sends only
its newest message each turn still holds a three-turn conversation, because the gateway keeps the
history for the credential. The third answer depends on the first turn: the simulator answers
"What did I say first?" with the first user text it received.
"""

from __future__ import annotations

import openai
import pytest
from google import genai
from google.genai import types

from conftest import upstream_calls

MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def context_gateway(gateway_factory):
    return gateway_factory(context=True)


def test_openai_sdk_three_turns_sending_only_the_newest_message(context_gateway, sim):
    c = openai.OpenAI(base_url=context_gateway.base_url + "/v1", api_key=context_gateway.password)

    def say(text: str, stream: bool = False) -> str:
        msgs = [{"role": "user", "content": text}]
        if stream:
            return "".join(
                ch.choices[0].delta.content or ""
                for ch in c.chat.completions.create(model=MODEL, messages=msgs, stream=True)
                if ch.choices
            )
        return c.chat.completions.create(model=MODEL, messages=msgs).choices[0].message.content

    assert say("My name is Ada") == "Echo: My name is Ada"
    assert say("I like green tea", stream=True) == "Echo: I like green tea"
    assert say("What did I say first?") == "You first said: My name is Ada"
    last = upstream_calls(sim)[-1]["body"]["contents"]
    assert [t["role"] for t in last] == ["user", "model", "user", "model", "user"]
    c.close()


def test_google_genai_three_turns_sending_only_the_newest_message(context_gateway, sim):
    # Another credential would be another conversation; a separate one is named by header.
    client = genai.Client(
        api_key=context_gateway.password,
        http_options=types.HttpOptions(
            base_url=context_gateway.base_url, headers={"x-gateway-conversation": "genai"}
        ),
    )
    assert client.models.generate_content(model=MODEL, contents="Paris is lovely").text == "Echo: Paris is lovely"
    streamed = "".join(
        ch.text or "" for ch in client.models.generate_content_stream(model=MODEL, contents="So is Rome")
    )
    assert streamed == "Echo: So is Rome"
    third = client.models.generate_content(model=MODEL, contents="What did I say first?").text
    assert third == "You first said: Paris is lovely"
    last = upstream_calls(sim)[-1]["body"]["contents"]
    assert len(last) == 5
