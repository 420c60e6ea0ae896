//! The OpenAI-compatible surface through the simulator: the Gemini body upstream received for each
//! OpenAI request shape, and the OpenAI answer the client got.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_sim::{FaultAction, FaultRule, SimConfig};
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";

fn post(h: &Harness, path: &str, body: &Value) -> Resp {
    http(
        h.addr,
        "POST",
        path,
        &[
            ("authorization", &format!("Bearer {PASSWORD}")),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

fn upstream_body(h: &Harness, i: usize) -> Value {
    h.sim.requests()[i]
        .body
        .clone()
        .expect("recorded JSON body")
}

/// The `finish_reason`s the stream's chunks carry, in order.
fn finish_reasons(cs: &[Value]) -> Vec<&str> {
    cs.iter()
        .filter_map(|c| {
            c["choices"]
                .get(0)
                .and_then(|ch| ch["finish_reason"].as_str())
        })
        .collect()
}

/// OpenAI SSE payloads until `[DONE]` (which must be last).
fn chunks(r: &Resp) -> Vec<Value> {
    let events = sse_events(&r.body);
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        r.text()
    );
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

#[test]
fn plain_chat_maps_roles_and_generation_config() {
    let h = Harness::basic();
    let req = json!({
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": [{"type": "text", "text": "How"}, {"type": "text", "text": "are you?"}]},
            {"role": "user", "content": "Tell me."}
        ],
        "temperature": 0.3, "top_p": 0.9, "max_tokens": 99, "stop": ["END"], "seed": 7,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "user": "ignored", "metadata": {"x": 1}
    });
    let r = post(&h, CHAT, &req);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("Echo:"));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );

    let rec = &h.sim.requests()[0];
    assert_eq!(rec.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    let b = upstream_body(&h, 0);
    assert_eq!(b["systemInstruction"]["parts"][0]["text"], "Be brief.");
    let contents = b["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "consecutive user turns merged: {b}");
    assert_eq!(contents[0]["role"], "user");
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(contents[2]["role"], "user");
    assert_eq!(contents[2]["parts"].as_array().unwrap().len(), 3);
    let g = &b["generationConfig"];
    assert_eq!(g["temperature"], 0.3);
    assert_eq!(g["topP"], 0.9);
    assert_eq!(g["maxOutputTokens"], 99);
    assert_eq!(g["stopSequences"], json!(["END"]));
    assert_eq!(g["seed"], 7);
    assert_eq!(g["presencePenalty"], 0.1);
    assert_eq!(g["frequencyPenalty"], 0.2);
    let safety = b["safetySettings"].as_array().unwrap();
    assert!(safety.len() >= 4 && safety.iter().all(|s| s["threshold"] == "BLOCK_NONE"));
    assert!(b.get("user").is_none() && b.get("metadata").is_none());
}

#[test]
fn streaming_chat_with_usage() {
    let h = Harness::basic();
    let req = json!({"model": "models/gemini-2.5-flash", "stream": true, "stream_options": {"include_usage": true},
                     "messages": [{"role": "user", "content": "Stream this please"}]});
    let r = post(&h, CHAT, &req);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let cs = chunks(&r);
    assert_eq!(cs[0]["choices"][0]["delta"]["role"], "assistant");
    let id = cs[0]["id"].clone();
    let mut text = String::new();
    for c in &cs {
        assert_eq!(c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        if let Some(t) = c["choices"]
            .get(0)
            .and_then(|ch| ch["delta"]["content"].as_str())
        {
            text.push_str(t);
        }
    }
    assert_eq!(text, "Echo: Stream this please");
    let finish = finish_reasons(&cs);
    assert_eq!(finish, vec!["stop"]);
    let last = cs.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let rec = &h.sim.requests()[0];
    assert_eq!(
        rec.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(rec.query.as_deref(), Some("alt=sse"));
}

#[test]
fn tool_call_round_trip_with_thought_signature() {
    let h = Harness::basic();
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"], "enum": ["c", "f", null]}},
            "required": ["city"], "additionalProperties": false}}}]);
    let req = json!({"model": "gemini-3-flash-preview", "tools": tools, "tool_choice": "auto",
                     "messages": [{"role": "user", "content": "What's the weather in Rome?"}]});
    let r = post(&h, CHAT, &req);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["city"], "Rome");
    let sig = call["extra_content"]["google"]["thought_signature"]
        .as_str()
        .unwrap()
        .to_string();
    let id = call["id"].as_str().unwrap().to_string();
    let b = upstream_body(&h, 0);
    let decl = &b["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], "get_weather");
    let schema = decl
        .get("parametersJsonSchema")
        .or_else(|| decl.get("parameters"))
        .unwrap();
    assert!(schema.get("$schema").is_none(), "sanitised: {schema}");
    assert_eq!(b["toolConfig"]["functionCallingConfig"]["mode"], "AUTO");

    // second turn: the tool result goes back with the call and its signature
    let req2 = json!({"model": "gemini-3-flash-preview", "tools": tools, "messages": [
        {"role": "user", "content": "What's the weather in Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "{\"temp\": 21}"}
    ]});
    let r = post(&h, CHAT, &req2);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["finish_reason"], "stop");
    let b = upstream_body(&h, 1);
    let contents = b["contents"].as_array().unwrap();
    let model_part = &contents[1]["parts"][0];
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(model_part["functionCall"]["name"], "get_weather");
    assert_eq!(model_part["functionCall"]["id"], id.as_str());
    assert_eq!(model_part["thoughtSignature"], sig.as_str());
    let resp_part = &contents[2]["parts"][0]["functionResponse"];
    assert_eq!(contents[2]["role"], "user");
    assert_eq!(resp_part["name"], "get_weather");
    assert_eq!(resp_part["id"], id.as_str());
    assert_eq!(resp_part["response"]["temp"], 21);
}

#[test]
fn streamed_tool_calls() {
    let h = Harness::basic();
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let req = json!({"model": "gemini-3-flash-preview", "stream": true, "tools": tools,
                     "messages": [{"role": "user", "content": "weather in Oslo"}]});
    let r = post(&h, CHAT, &req);
    assert_eq!(r.status, 200);
    let cs = chunks(&r);
    let deltas: Vec<&Value> = cs
        .iter()
        .filter_map(|c| c["choices"].get(0))
        .filter(|ch| ch["delta"].get("tool_calls").is_some())
        .collect();
    assert!(!deltas.is_empty());
    let first = &deltas[0]["delta"]["tool_calls"][0];
    assert_eq!(first["index"], 0);
    assert!(first["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(first["function"]["name"], "get_weather");
    let args: String = deltas
        .iter()
        .map(|d| {
            d["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap()["city"],
        "Oslo"
    );
    let finish = finish_reasons(&cs);
    assert_eq!(finish, vec!["tool_calls"]);
}

#[test]
fn image_data_uri_becomes_inline_data_and_urls_are_refused() {
    let h = Harness::basic();
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let req = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}]}]});
    let r = post(&h, CHAT, &req);
    assert_eq!(r.status, 200, "{}", r.text());
    let b = upstream_body(&h, 0);
    let part = &b["contents"][0]["parts"][1]["inlineData"];
    assert_eq!(part["mimeType"], "image/png");
    assert_eq!(part["data"], png);

    let bad = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/meta-data"}}]}]});
    let r = post(&h, CHAT, &bad);
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(
        e["error"]["param"]
            .as_str()
            .unwrap()
            .contains("messages[0].content[0].image_url"),
        "{e}"
    );
    let bad_mime = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:application/x-msdownload;base64,TVqQAAMA"}}]}]});
    assert_eq!(post(&h, CHAT, &bad_mime).status, 400);
    assert_eq!(h.sim.calls(), 1, "refused requests never reach upstream");
}

#[test]
fn json_schema_response_format_and_reasoning_effort() {
    let h = Harness::basic();
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]});
    let req = json!({"model": "gemini-2.5-flash", "reasoning_effort": "low",
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        "messages": [{"role": "user", "content": "Answer in JSON"}]});
    assert_eq!(post(&h, CHAT, &req).status, 200);
    let g = upstream_body(&h, 0)["generationConfig"].clone();
    assert_eq!(g["responseMimeType"], "application/json");
    assert_eq!(
        g["responseJsonSchema"]["properties"]["answer"]["type"],
        "string"
    );
    assert_eq!(g["thinkingConfig"]["thinkingBudget"], 1024);

    let req = json!({"model": "gemini-3-pro-preview", "reasoning_effort": "high", "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(post(&h, CHAT, &req).status, 200);
    let g = upstream_body(&h, 1)["generationConfig"].clone();
    assert_eq!(g["responseMimeType"], "application/json");
    assert_eq!(g["thinkingConfig"]["thinkingLevel"], "HIGH");
    assert!(g["thinkingConfig"].get("thinkingBudget").is_none());

    let req = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}],
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 800, "include_thoughts": true}}}});
    assert_eq!(post(&h, CHAT, &req).status, 200);
    let g = upstream_body(&h, 2)["generationConfig"].clone();
    assert_eq!(g["thinkingConfig"]["thinkingBudget"], 800);
    assert_eq!(g["thinkingConfig"]["includeThoughts"], true);
}

#[test]
fn embeddings_float_and_base64() {
    let h = Harness::basic();
    let r = post(
        &h,
        "/v1/embeddings",
        &json!({"model": "gemini-embedding-001", "input": ["a", "b"], "encoding_format": "float", "dimensions": 8}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    let b = upstream_body(&h, 0);
    assert_eq!(
        h.sim.requests()[0].path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(b["requests"][0]["outputDimensionality"], 8);
    assert_eq!(b["requests"][1]["content"]["parts"][0]["text"], "b");

    let r = post(
        &h,
        "/v1/embeddings",
        &json!({"model": "gemini-embedding-001", "input": "hello", "encoding_format": "base64", "dimensions": 4}),
    );
    assert_eq!(r.status, 200);
    let s = r.json()["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.len(),
        24,
        "4 little-endian f32 = 16 bytes = 24 base64 chars"
    );
}

#[test]
fn models_list_is_cached_and_get_accepts_both_forms() {
    let h = Harness::start(SimConfig::default(), &["k1"], |c| {
        c.openai.extra_models = vec!["my-tuned-alias".into()]
    });
    let r = http(
        h.addr,
        "GET",
        "/v1/models",
        &[("authorization", &format!("Bearer {PASSWORD}"))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"gemini-2.5-flash") && ids.contains(&"my-tuned-alias"),
        "{ids:?}"
    );
    assert!(ids.iter().all(|i| !i.starts_with("models/")));
    assert_eq!(h.sim.calls(), 1);
    let r = http(
        h.addr,
        "GET",
        "/v1/models",
        &[("authorization", &format!("Bearer {PASSWORD}"))],
        b"",
    );
    assert_eq!(r.status, 200);
    for id in [
        "gemini-2.5-flash",
        "models/gemini-2.5-flash",
        "models%2Fgemini-2.5-flash",
    ] {
        let r = http(
            h.addr,
            "GET",
            &format!("/v1/models/{id}"),
            &[("authorization", &format!("Bearer {PASSWORD}"))],
            b"",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], "gemini-2.5-flash");
    }
    assert_eq!(h.sim.calls(), 1, "served from the cache");
    let r = http(
        h.addr,
        "GET",
        "/v1/models/no-such-model",
        &[("authorization", &format!("Bearer {PASSWORD}"))],
        b"",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "model_not_found");
    let r = http(h.addr, "GET", "/v1/models", &[], b"");
    assert_eq!(r.status, 401, "model list requires auth");
}

#[test]
fn errors_use_openai_envelope() {
    let h = Harness::basic();
    let r = post(
        &h,
        CHAT,
        &json!({"model": "gemini-2.5-flash", "messages": []}),
    );
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(e["error"]["param"], "messages");
    let r = http(
        h.addr,
        "POST",
        CHAT,
        &[("authorization", &format!("Bearer {PASSWORD}"))],
        b"{not json",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = post(
        &h,
        CHAT,
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "model");
    assert_eq!(h.sim.calls(), 0);

    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::Status { code: 400 },
    });
    let r = post(
        &h,
        CHAT,
        &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(h.sim.calls(), 1);

    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: None,
        action: FaultAction::RateLimit {
            retry_delay_secs: 20,
        },
    });
    let r = post(
        &h,
        CHAT,
        &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.header("retry-after").is_some());
    let r = post(&h, "/v1/completions", &json!({}));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
}

#[test]
fn midstream_cut_gives_openai_error_event() {
    let h = Harness::basic();
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::CutAfter { events: 2 },
    });
    let r = post(
        &h,
        CHAT,
        &json!({"model": "gemini-2.5-flash", "stream": true, "messages": [{"role": "user", "content": "a long answer please"}]}),
    );
    assert_eq!(r.status, 200);
    assert!(r.complete);
    let events = sse_events(&r.body);
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(last.get("error").is_some(), "{}", r.text());
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "an error is not a clean end"
    );
}

#[test]
fn safety_filtering_can_be_turned_off() {
    let h = Harness::start(SimConfig::default(), &["k1"], |c| {
        c.openai.disable_safety_filtering = true
    });
    assert_eq!(
        post(
            &h,
            CHAT,
            &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]})
        )
        .status,
        200
    );
    let b = upstream_body(&h, 0);
    assert!(b["safetySettings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["threshold"] == "OFF"));
}

#[test]
fn large_openai_body_fails_over_intact() {
    let h = Harness::basic();
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::RateLimit {
            retry_delay_secs: 5,
        },
    });
    let big = "y".repeat(3 * 1024 * 1024);
    let r = post(
        &h,
        CHAT,
        &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": big}]}),
    );
    assert_eq!(r.status, 200);
    let reqs = h.sim.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body_sha256, reqs[1].body_sha256);
}

#[test]
fn parallel_tool_calls_stream_with_indexes_and_round_trip() {
    let h = Harness::basic();
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    ]);
    let ask = "Call get_weather and get_time in Lisbon";
    let req = json!({"model": "gemini-3-flash-preview", "stream": true, "tools": tools, "parallel_tool_calls": true,
                     "messages": [{"role": "user", "content": ask}]});
    let r = post(&h, CHAT, &req);
    assert_eq!(r.status, 200, "{}", r.text());
    let cs = chunks(&r);
    // collect calls by index as a client does
    let mut calls: std::collections::BTreeMap<u64, (String, String, String, Option<String>)> =
        Default::default();
    for c in &cs {
        let Some(ch) = c["choices"].get(0) else {
            continue;
        };
        for tc in ch["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let e = calls.entry(tc["index"].as_u64().unwrap()).or_default();
            if let Some(id) = tc["id"].as_str() {
                e.0 = id.to_string();
            }
            if let Some(n) = tc["function"]["name"].as_str() {
                e.1 = n.to_string();
            }
            e.2.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
            if let Some(s) = tc["extra_content"]["google"]["thought_signature"].as_str() {
                e.3 = Some(s.to_string());
            }
        }
    }
    assert_eq!(calls.len(), 2, "two parallel calls: {}", r.text());
    assert_eq!(calls[&0].1, "get_weather");
    assert_eq!(calls[&1].1, "get_time");
    assert_ne!(calls[&0].0, calls[&1].0, "unique ids");
    assert!(
        calls[&0].3.is_some() && calls[&1].3.is_none(),
        "the signature rides on the first call only"
    );
    for (_, _, args, _) in calls.values() {
        assert_eq!(
            serde_json::from_str::<Value>(args).unwrap()["city"],
            "Lisbon"
        );
    }
    let finish = finish_reasons(&cs);
    assert_eq!(finish, vec!["tool_calls"]);

    // send both results back: Gemini gets two functionCall parts in one model turn and two functionResponses
    let tool_calls: Vec<Value> = calls
        .values()
        .map(|(id, name, args, sig)| {
            let mut tc = json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}});
            if let Some(s) = sig {
                tc["extra_content"] = json!({"google": {"thought_signature": s}});
            }
            tc
        })
        .collect();
    let mut messages = vec![
        json!({"role": "user", "content": ask}),
        json!({"role": "assistant", "content": null, "tool_calls": tool_calls}),
    ];
    for (id, name, _, _) in calls.values() {
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": format!("{{\"{name}\": \"ok\"}}")}));
    }
    let r = post(
        &h,
        CHAT,
        &json!({"model": "gemini-3-flash-preview", "tools": tools, "messages": messages}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let b = upstream_body(&h, 1);
    let model_parts = b["contents"][1]["parts"].as_array().unwrap();
    assert_eq!(model_parts.len(), 2);
    assert_eq!(model_parts[0]["functionCall"]["id"], calls[&0].0.as_str());
    assert_eq!(
        model_parts[0]["thoughtSignature"],
        calls[&0].3.clone().unwrap().as_str()
    );
    assert!(model_parts[1].get("thoughtSignature").is_none());
    let responses = b["contents"][2]["parts"].as_array().unwrap();
    assert_eq!(
        responses.len(),
        2,
        "consecutive tool messages merged into one user turn"
    );
    assert_eq!(responses[0]["functionResponse"]["name"], "get_weather");
    assert_eq!(responses[1]["functionResponse"]["name"], "get_time");
}
