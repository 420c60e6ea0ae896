//! The OpenAI Responses surface through the gateway and the simulator: the exact Gemini body
//! each request shape becomes, the exact event sequence of a stream, function calls with thought
//! signatures round-tripped through reasoning items, refusals, and failures mid-stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_sim::{FaultAction, FaultRule, Sim, SimConfig};
use serde_json::{json, Value};

fn post(h: &Harness, body: &Value) -> Resp {
    post_responses(h, PASSWORD, body)
}

fn events(body: &[u8]) -> Vec<(String, Value)> {
    named_events(body)
}

fn weather_tool() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": false},
           "strict": true})
}

#[test]
fn a_response_becomes_this_gemini_request_and_answer() {
    let h = Harness::basic();
    let r = post(
        &h,
        &json!({"model": "gemini-2.5-flash", "input": "Hello there",
                "instructions": "You are terse.", "max_output_tokens": 64, "temperature": 0.5,
                "store": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "response");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gemini-2.5-flash");
    assert_eq!(
        v["store"], true,
        "stored (tests/stored_responses.rs continues them)"
    );
    assert_eq!(v["instructions"], "You are terse.");
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(v["output"][0]["content"][0]["text"], "Echo: Hello there");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let reqs = h.sim.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    let sent = reqs[0].body.clone().unwrap();
    assert_eq!(
        sent,
        json!({
            "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
            "systemInstruction": {"parts": [{"text": "You are terse."}]},
            "generationConfig": {"maxOutputTokens": 64, "temperature": 0.5},
            "safetySettings": sent["safetySettings"].clone(),
        })
    );
}

#[test]
fn a_streamed_response_has_the_real_event_sequence() {
    let sim = Sim::new(SimConfig {
        stream_events: 3,
        ..SimConfig::default()
    });
    let h = Harness::start_with(sim, keys(&["key-a"]), |_| {});
    let r = post(
        &h,
        &json!({"model": "gemini-2.5-flash", "stream": true,
                "input": [{"role": "user", "content": [{"type": "input_text", "text": "Stream three pieces"}]}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let ev = events(&r.body);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (i, (name, data)) in ev.iter().enumerate() {
        assert_eq!(&data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i as u64);
    }
    let done = &ev[10].1["response"];
    assert_eq!(
        done["output"][0]["content"][0]["text"],
        "Echo: Stream three pieces"
    );
    assert!(done["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        h.sim.requests()[0].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
}

#[test]
fn function_call_round_trip_on_gemini3_through_a_reasoning_item() {
    let h = Harness::basic();
    let ask = json!({"role": "user", "content": "What is the weather in Paris?"});
    let r = post(
        &h,
        &json!({"model": "gemini-3-flash-preview", "input": [ask], "tools": [weather_tool()]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json()["output"].as_array().unwrap().clone();
    let kinds: Vec<&str> = out.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["reasoning", "function_call"], "{out:?}");
    let signature = out[0]["encrypted_content"].as_str().unwrap().to_string();
    let call = &out[1];
    assert_eq!(call["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    let decl = &h.sim.requests()[0].body.clone().unwrap()["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], "get_weather");
    assert!(
        decl["parametersJsonSchema"]
            .get("additionalProperties")
            .is_none()
            || decl["parametersJsonSchema"]["additionalProperties"] == false
    );

    // The client appends the output and the call's result to its input, as the SDK docs show.
    let mut input = vec![ask];
    input.extend(out.iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "{\"temp\": 18}"}));
    let r = post(
        &h,
        &json!({"model": "gemini-3-flash-preview", "input": input, "tools": [weather_tool()]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["output"][0]["type"], "message");
    let sent = h.sim.requests()[1].body.clone().unwrap();
    let part = &sent["contents"][1]["parts"][0];
    assert_eq!(part["thoughtSignature"], signature);
    assert_eq!(part["functionCall"]["id"], call["call_id"]);
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({"id": call["call_id"], "name": "get_weather", "response": {"temp": 18}})
    );
}

#[test]
fn a_streamed_function_call_with_reasoning_summaries() {
    let h = Harness::basic();
    let r = post(
        &h,
        &json!({"model": "gemini-2.5-flash", "stream": true, "tools": [weather_tool()],
                "reasoning": {"effort": "low", "summary": "auto"},
                "input": "What is the weather in Paris?"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ev = events(&r.body);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let done = &ev[12].1["response"];
    assert_eq!(done["output"][0]["type"], "reasoning");
    assert!(done["output"][0]["encrypted_content"].is_string());
    assert_eq!(done["output"][1]["type"], "function_call");
    assert_eq!(
        done["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    assert_eq!(
        h.sim.requests()[0].body.clone().unwrap()["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
}

#[test]
fn what_cannot_be_honoured_is_refused_without_an_upstream_call() {
    let h = Harness::basic();
    let cases = [
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "previous_response_id": "resp_abc"}),
            "previous_response_id",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "conversation": "conv_1"}),
            "conversation",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "computer_use_preview"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]}),
            "input[0].content[0].image_url",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": [{"type": "input_video"}]}]}),
            "input[0].content[0].type",
        ),
        (json!({"input": "x"}), "model"),
    ];
    for (body, param) in cases {
        let r = post(&h, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["type"], "invalid_request_error");
        assert_eq!(e["param"], param, "{body}: {e}");
    }
    let r = http(
        h.addr,
        "GET",
        "/v1/responses/resp_abc",
        &[("authorization", &format!("Bearer {PASSWORD}"))],
        b"",
    );
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("previous_response_id"));
    assert_eq!(h.sim.calls(), 0);
}

#[test]
fn a_stream_cut_mid_answer_ends_with_response_failed() {
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
        &json!({"model": "gemini-2.5-flash", "stream": true, "input": "a long enough prompt to split"}),
    );
    assert_eq!(r.status, 200);
    let ev = events(&r.body);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "response.created");
    assert_eq!(
        &names[names.len() - 2..],
        ["error", "response.failed"],
        "{names:?}"
    );
    let failed = &ev.last().unwrap().1;
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["code"], "upstream_stream_error");
    // sequence numbers run on through the gateway's own terminal events
    for (i, (_, d)) in ev.iter().enumerate() {
        assert_eq!(d["sequence_number"], i as u64);
    }
}

#[test]
fn out_of_quota_is_a_429_in_openais_envelope() {
    let sim = Sim::new(SimConfig::default());
    sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: None,
        action: FaultAction::RateLimit {
            retry_delay_secs: 5,
        },
    });
    let h = Harness::start_with(sim, keys(&["key-a", "key-b"]), |_| {});
    let r = post(&h, &json!({"model": "gemini-2.5-flash", "input": "x"}));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.header("retry-after").is_some());
    assert_eq!(h.sim.calls(), 2);
}
