//! The Anthropic Messages surface through the gateway and the simulator: the exact Gemini body
//! each request shape becomes, the exact event sequence of a stream, tool use with thought
//! signatures on Gemini 3, count_tokens, model lookups, and errors in Anthropic's envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_sim::{FaultAction, FaultRule, Sim, SimConfig};
use serde_json::{json, Value};

fn post(h: &Harness, path: &str, body: &Value) -> Resp {
    http(
        h.addr,
        "POST",
        path,
        &[
            ("x-api-key", PASSWORD),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// `(event name, data)` of an Anthropic stream; every event has both lines.
fn events(body: &[u8]) -> Vec<(String, Value)> {
    named_events(body)
}

#[test]
fn a_message_becomes_this_gemini_request_and_answer() {
    let h = Harness::basic();
    let r = post(
        &h,
        "/v1/messages",
        &json!({
            "model": "claude-sonnet-4-5-20250929", "max_tokens": 256,
            "system": "You are terse.",
            "messages": [{"role": "user", "content": "Hello there"}],
            "temperature": 0.2, "stop_sequences": ["\n\nHuman:"]
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let m = r.json();
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "claude-sonnet-4-5-20250929");
    assert!(m["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(m["content"][0]["type"], "text");
    assert_eq!(m["content"][0]["text"], "Echo: Hello there");
    assert_eq!(m["stop_reason"], "end_turn");
    assert!(m["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(m["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let reqs = h.sim.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path,
        "/v1beta/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(
        reqs[0].body.as_ref().unwrap(),
        &json!({
            "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
            "systemInstruction": {"parts": [{"text": "You are terse."}]},
            "generationConfig": {"maxOutputTokens": 256, "temperature": 0.2,
                                 "stopSequences": ["\n\nHuman:"]},
            "safetySettings": reqs[0].body.as_ref().unwrap()["safetySettings"].clone(),
        })
    );
    assert_eq!(
        reqs[0].body.as_ref().unwrap()["safetySettings"][0]["threshold"],
        "BLOCK_NONE"
    );
}

#[test]
fn a_streamed_message_has_the_real_event_sequence() {
    let sim = Sim::new(SimConfig {
        stream_events: 3,
        ..SimConfig::default()
    });
    let h = Harness::start_with(sim, keys(&["key-a"]), |_| {});
    let r = post(
        &h,
        "/v1/messages",
        &json!({"model": "gemini-2.5-flash", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "Stream three pieces please"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let ev = events(&r.body);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &ev {
        assert_eq!(&data["type"], name.as_str(), "the data names its event");
    }
    let text: String = ev
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Echo: Stream three pieces please");
    assert_eq!(ev[7].1["delta"]["stop_reason"], "end_turn");
    assert!(ev[7].1["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let reqs = h.sim.requests();
    assert_eq!(
        reqs[0].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(reqs[0].query.as_deref(), Some("alt=sse"));
}

fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Weather of a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}})
}

#[test]
fn tool_use_round_trip_on_gemini3_keeps_the_thought_signature() {
    let h = Harness::basic();
    let ask = json!({"role": "user", "content": "What is the weather in Paris?"});
    let first = json!({"model": "gemini-3-pro-preview", "max_tokens": 500,
                       "thinking": {"type": "enabled", "budget_tokens": 2048},
                       "tools": [weather_tool()], "messages": [ask]});
    let r = post(&h, "/v1/messages", &first);
    assert_eq!(r.status, 200, "{}", r.text());
    let m = r.json();
    assert_eq!(m["stop_reason"], "tool_use");
    let content = m["content"].as_array().unwrap().clone();
    assert_eq!(content[0]["type"], "thinking", "{m}");
    let signature = content[0]["signature"].as_str().unwrap().to_string();
    assert!(!signature.is_empty());
    let tool = content.iter().find(|b| b["type"] == "tool_use").unwrap();
    assert_eq!(tool["name"], "get_weather");
    assert_eq!(tool["input"]["city"], "Paris");
    // Gemini 3 asked for thinking: level, with thoughts included.
    let sent = h.sim.requests()[0].body.clone().unwrap();
    assert_eq!(
        sent["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "LOW", "includeThoughts": true})
    );
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );

    // The client sends the assistant content back as it came, with the tool result.
    let second = json!({"model": "gemini-3-pro-preview", "max_tokens": 500,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [weather_tool()],
        "messages": [ask, {"role": "assistant", "content": content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool["id"],
                                          "content": "18°C and sunny"}]}]});
    let r = post(&h, "/v1/messages", &second);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stop_reason"], "end_turn");
    let sent = h.sim.requests()[1].body.clone().unwrap();
    let model_turn = &sent["contents"][1];
    assert_eq!(model_turn["role"], "model");
    assert_eq!(model_turn["parts"][0]["thoughtSignature"], signature);
    assert_eq!(
        model_turn["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(
        model_turn["parts"][0]["functionCall"]["id"], tool["id"],
        "Gemini's own call id goes back"
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({"id": tool["id"], "name": "get_weather", "response": {"output": "18°C and sunny"}})
    );
    assert_eq!(h.sim.calls(), 2);
}

#[test]
fn tool_use_without_thinking_still_works_on_gemini3() {
    let h = Harness::basic();
    let ask = json!({"role": "user", "content": "What is the weather in Paris?"});
    let r = post(
        &h,
        "/v1/messages",
        &json!({"model": "gemini-3-flash-preview", "max_tokens": 500,
                "tools": [weather_tool()], "tool_choice": {"type": "any"}, "messages": [ask]}),
    );
    let m = r.json();
    assert_eq!(m["content"][0]["type"], "tool_use", "{m}");
    let r = post(
        &h,
        "/v1/messages",
        &json!({"model": "gemini-3-flash-preview", "max_tokens": 500,
                "tools": [weather_tool()],
                "messages": [ask, {"role": "assistant", "content": m["content"]},
                    {"role": "user", "content": [{"type": "tool_result",
                        "tool_use_id": m["content"][0]["id"], "content": "{\"temp\": 18}"}]}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = h.sim.requests()[1].body.clone().unwrap();
    assert!(sent["contents"][1]["parts"][0]["thoughtSignature"].is_string());
    assert_eq!(
        h.sim.requests()[0].body.as_ref().unwrap()["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
}

#[test]
fn a_streamed_tool_use_with_thinking() {
    let h = Harness::basic();
    let r = post(
        &h,
        "/v1/messages",
        &json!({"model": "gemini-2.5-flash", "max_tokens": 500, "stream": true,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "tools": [weather_tool()],
                "messages": [{"role": "user", "content": "weather in Paris?"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ev = events(&r.body);
    let blocks: Vec<&str> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| d["content_block"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(blocks, ["thinking", "tool_use"]);
    let deltas: Vec<&str> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        deltas,
        ["thinking_delta", "signature_delta", "input_json_delta"]
    );
    let json: String = ev
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap()["city"],
        "Paris"
    );
    assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        h.sim.requests()[0].body.as_ref().unwrap()["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
}

#[test]
fn count_tokens_asks_gemini_for_the_whole_request() {
    let h = Harness::basic();
    let r = post(
        &h,
        "/v1/messages/count_tokens",
        &json!({"model": "claude-haiku-4-5", "system": "Be brief.", "tools": [weather_tool()],
                "messages": [{"role": "user", "content": "Hello there"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let n = r.json()["input_tokens"].as_u64().unwrap();
    assert!(n > 0);
    let reqs = h.sim.requests();
    assert_eq!(reqs[0].path, "/v1beta/models/gemini-2.5-flash:countTokens");
    let inner = &reqs[0].body.as_ref().unwrap()["generateContentRequest"];
    assert_eq!(inner["model"], "models/gemini-2.5-flash");
    assert_eq!(inner["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert!(inner["tools"].is_array());
    assert!(inner.get("generationConfig").is_none());
    // It spends no generate quota: the scheduler saw no generate call.
    assert_eq!(h.sim.calls(), 1);
}

#[test]
fn model_lookups_in_anthropics_shape() {
    let h = Harness::basic();
    let get = |path: &str| {
        http(
            h.addr,
            "GET",
            path,
            &[("x-api-key", PASSWORD), ("anthropic-version", "2023-06-01")],
            b"",
        )
    };
    let r = get("/v1/models");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["has_more"], false);
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gemini-2.5-flash" && m["type"] == "model"));
    assert_eq!(v["first_id"], v["data"][0]["id"]);
    let r = get("/v1/models/claude-sonnet-4-5");
    assert_eq!(r.json()["id"], "claude-sonnet-4-5");
    assert_eq!(r.json()["type"], "model");
    let r = get("/v1/models/gemini-2.5-pro");
    assert_eq!(r.json()["id"], "gemini-2.5-pro");
    let r = get("/v1/models/claude-nonesuch-9");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
}

#[test]
fn errors_are_in_anthropics_envelope_and_cost_no_upstream_call() {
    let h = Harness::basic();
    let no_key = http(
        h.addr,
        "POST",
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        b"{}",
    );
    assert_eq!(no_key.status, 401);
    assert_eq!(
        no_key.json(),
        json!({"type": "error", "error": {"type": "authentication_error",
               "message": no_key.json()["error"]["message"]}})
    );
    let wrong = http(
        h.addr,
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", "sk-wrong"),
            ("content-type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(wrong.status, 401);
    assert!(!wrong.text().contains("sk-wrong"));
    // Bearer works too.
    let bearer = http(
        h.addr,
        "POST",
        "/v1/messages",
        &[
            ("authorization", &format!("Bearer {PASSWORD}")),
            ("content-type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(bearer.status, 400, "{}", bearer.text());

    let cases = [
        (
            json!({"model": "claude-nonesuch-9", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
            404,
            "not_found_error",
            "claude-sonnet",
        ),
        (
            json!({"model": "claude-sonnet-4", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}),
            400,
            "invalid_request_error",
            "messages[0].role",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 5, "tools": [{"type": "bash_20250124", "name": "bash"}], "messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_request_error",
            "bash_20250124",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "%%%"}}]}]}),
            400,
            "invalid_request_error",
            "source.data",
        ),
    ];
    for (body, status, kind, needle) in cases {
        let r = post(&h, "/v1/messages", &body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        let v = r.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind, "{body}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let r = http(
        h.addr,
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", PASSWORD),
            ("content-type", "application/json"),
        ],
        b"{not json",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = http(
        h.addr,
        "GET",
        "/v1/messages",
        &[("x-api-key", PASSWORD)],
        b"",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(h.sim.calls(), 0, "no bad request reached Google");
}

#[test]
fn out_of_quota_is_a_rate_limit_error_with_retry_after() {
    let sim = Sim::new(SimConfig::default());
    sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: None,
        action: FaultAction::RateLimit {
            retry_delay_secs: 7,
        },
    });
    let h = Harness::start_with(sim, keys(&["key-a", "key-b"]), |_| {});
    let r = post(
        &h,
        "/v1/messages",
        &json!({"model": "claude-haiku-4-5", "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.header("retry-after").is_some());
    assert_eq!(h.sim.calls(), 2, "both keys tried");
}

#[test]
fn a_stream_cut_mid_answer_ends_with_an_error_event() {
    let sim = Sim::new(SimConfig {
        stream_events: 4,
        ..SimConfig::default()
    });
    sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: None,
        action: FaultAction::CutAfter { events: 2 },
    });
    let h = Harness::start_with(sim, keys(&["key-a"]), |_| {});
    let r = post(
        &h,
        "/v1/messages",
        &json!({"model": "gemini-2.5-flash", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "a long enough prompt to split"}]}),
    );
    assert_eq!(r.status, 200);
    let ev = events(&r.body);
    assert_eq!(ev[0].0, "message_start");
    let (name, data) = ev.last().unwrap();
    assert_eq!(name, "error", "{ev:?}");
    assert_eq!(data["type"], "error");
    assert!(data["error"]["type"].is_string());
    assert!(ev.iter().all(|(n, _)| n != "message_stop"));
}
