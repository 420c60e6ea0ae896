//! Which surface serves which path: Gemini-native under `/v1` (the Google SDKs' default API
//! version), the shared model lookups answered in the client's own dialect, and Google's
//! OpenAI-compatible base URL `/v1beta/openai/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{json, Value};

fn bearer() -> String {
    format!("Bearer {PASSWORD}")
}

#[test]
fn native_calls_under_v1_pass_through_byte_for_byte() {
    let h = Harness::basic();
    let r = h.post("/v1/models/gemini-2.5-flash:generateContent", GEN);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["candidates"][0]["content"]["parts"][0]["text"].is_string());
    let r = h.post(
        "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        GEN,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(sse_events(&r.body).len() > 1);
    let r = h.post("/v1/models/gemini-2.5-flash:countTokens", GEN);
    assert_eq!(r.status, 200);
    assert!(r.json()["totalTokens"].is_u64());
    let reqs = h.sim.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            "/v1beta/models/gemini-2.5-flash:countTokens"
        ]
    );
    let sent: Value = serde_json::from_str(GEN).unwrap();
    assert_eq!(reqs[0].body.as_ref(), Some(&sent), "body passed through");
    // An error on a native /v1 path is in Gemini's envelope.
    let r = http(
        h.addr,
        "POST",
        "/v1/models/gemini-2.5-flash:generateContent",
        &[],
        GEN.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["status"], "UNAUTHENTICATED");
}

#[test]
fn model_lookups_under_v1_answer_in_the_clients_dialect() {
    let h = Harness::basic();
    // The Google SDKs: x-goog-api-key (or ?key=, or x-goog-api-client) → Gemini's shape.
    let r = h.get("/v1/models?pageSize=2");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["models"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["models"][0]["name"]
        .as_str()
        .unwrap()
        .starts_with("models/"));
    assert!(v["nextPageToken"].is_string());
    let r = http(
        h.addr,
        "GET",
        &format!("/v1/models/gemini-2.5-flash?key={PASSWORD}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "models/gemini-2.5-flash");
    let r = http(
        h.addr,
        "GET",
        "/v1/models/gemini-2.5-flash",
        &[
            ("authorization", &bearer()),
            (
                "x-goog-api-client",
                "google-genai-sdk/3.4.0 gl-python/3.11.7",
            ),
        ],
        b"",
    );
    assert_eq!(r.json()["name"], "models/gemini-2.5-flash", "{}", r.text());
    // The OpenAI SDKs: Authorization: Bearer alone → OpenAI's shape.
    let r = http(
        h.addr,
        "GET",
        "/v1/models",
        &[("authorization", &bearer())],
        b"",
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "list", "{v}");
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gemini-2.5-flash"));
    let r = http(
        h.addr,
        "GET",
        "/v1/models/gemini-2.5-flash",
        &[("authorization", &bearer())],
        b"",
    );
    assert_eq!(r.json()["object"], "model");
    assert_eq!(r.json()["id"], "gemini-2.5-flash");
}

#[test]
fn googles_openai_compatible_base_url_is_the_openai_surface() {
    let h = Harness::basic();
    let post = |path: &str, body: Value| {
        http(
            h.addr,
            "POST",
            path,
            &[
                ("authorization", &bearer()),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    };
    let r = post(
        "/v1beta/openai/chat/completions",
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "chat.completion");
    let r = post(
        "/v1beta/openai/embeddings",
        json!({"model": "gemini-embedding-001", "input": "hi"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "list");
    let r = http(
        h.addr,
        "GET",
        "/v1beta/openai/models",
        &[("authorization", &bearer())],
        b"",
    );
    assert_eq!(r.json()["object"], "list", "{}", r.text());
    let paths: Vec<String> = h.sim.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            "/v1beta/models"
        ]
    );
    // Errors there are OpenAI's.
    let r = post("/v1beta/openai/chat/completions", json!({"messages": []}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "model");
}

/// The data of a stream whose events carry `event:` lines.
fn data_lines(body: &[u8]) -> Vec<Value> {
    named_events(body).into_iter().map(|(_, v)| v).collect()
}

/// Answer text is carried as the JSON string Gemini sent: quotes, backslashes, control
/// characters, escaped and raw non-ASCII and `</script>` reach every client as the same text,
/// whole and streamed.
#[test]
fn answer_text_with_escapes_is_the_same_text_on_every_surface() {
    let text = "line one\nsaid \"hi\"\\path\ttab é 🙂 \u{1} </script> end";
    let h = Harness::start(
        gemini_sim::SimConfig {
            reply_text: Some(text.into()),
            ..Default::default()
        },
        &["k1"],
        |_| {},
    );
    let call = |path: &str, auth: (&str, String), body: Value| {
        http(
            h.addr,
            "POST",
            path,
            &[(auth.0, &auth.1), ("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
    };
    let native = h.post("/v1beta/models/gemini-2.5-flash:generateContent", GEN);
    assert_eq!(
        native.json()["candidates"][0]["content"]["parts"][0]["text"],
        text
    );
    let msg = json!([{"role": "user", "content": "hello"}]);
    let chat = call(
        "/v1/chat/completions",
        ("authorization", bearer()),
        json!({"model": "gemini-2.5-flash", "messages": msg}),
    );
    assert_eq!(
        chat.json()["choices"][0]["message"]["content"],
        text,
        "{}",
        chat.text()
    );
    let resp = call(
        "/v1/responses",
        ("authorization", bearer()),
        json!({"model": "gemini-2.5-flash", "input": "hello"}),
    );
    assert_eq!(
        resp.json()["output"][0]["content"][0]["text"],
        text,
        "{}",
        resp.text()
    );
    let anth = call(
        "/v1/messages",
        ("x-api-key", PASSWORD.to_string()),
        json!({"model": "gemini-2.5-flash", "max_tokens": 100, "messages": msg}),
    );
    assert_eq!(anth.json()["content"][0]["text"], text, "{}", anth.text());
    // streamed: the deltas join to the same text
    let chat = call(
        "/v1/chat/completions",
        ("authorization", bearer()),
        json!({"model": "gemini-2.5-flash", "messages": msg, "stream": true}),
    );
    let joined: String = sse_events(&chat.body)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(joined, text);
    let resp = call(
        "/v1/responses",
        ("authorization", bearer()),
        json!({"model": "gemini-2.5-flash", "input": "hello", "stream": true}),
    );
    let events = data_lines(&resp.body);
    let joined: String = events
        .iter()
        .filter(|v| v["type"] == "response.output_text.delta")
        .map(|v| v["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(joined, text, "{}", resp.text());
    let done = events
        .iter()
        .find(|v| v["type"] == "response.output_text.done")
        .unwrap();
    assert_eq!(done["text"], text);
    let anth = call(
        "/v1/messages",
        ("x-api-key", PASSWORD.to_string()),
        json!({"model": "gemini-2.5-flash", "max_tokens": 100, "messages": msg, "stream": true}),
    );
    let joined: String = data_lines(&anth.body)
        .iter()
        .filter(|v| v["delta"]["type"] == "text_delta")
        .map(|v| v["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(joined, text);
}

/// The tokens of every answer are counted once, with Gemini's numbers, whichever surface
/// translated it — whole answers (whose transform reads the usage itself) and streams alike.
#[test]
fn every_surfaces_answers_are_counted_with_geminis_tokens() {
    let h = Harness::basic();
    let prompt = "Count the tokens of this request, please.";
    let anthropic = |body: &Value| {
        http(
            h.addr,
            "POST",
            "/v1/messages",
            &[
                ("x-api-key", PASSWORD),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    };
    let native = json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]}).to_string();
    let (mut input, mut output) = (0, 0);
    let mut add = |i: &Value, o: &Value| {
        input += i.as_u64().unwrap();
        output += o.as_u64().unwrap();
    };
    let v = h
        .post("/v1beta/models/gemini-2.5-flash:generateContent", &native)
        .json();
    add(
        &v["usageMetadata"]["promptTokenCount"],
        &v["usageMetadata"]["candidatesTokenCount"],
    );
    let v = h
        .post_bearer(
            "/v1/chat/completions",
            &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": prompt}]})
                .to_string(),
        )
        .json();
    add(
        &v["usage"]["prompt_tokens"],
        &v["usage"]["completion_tokens"],
    );
    let v = h
        .post_bearer(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "input": prompt}).to_string(),
        )
        .json();
    add(&v["usage"]["input_tokens"], &v["usage"]["output_tokens"]);
    let v = anthropic(&json!({"model": "gemini-2.5-flash", "max_tokens": 100,
                              "messages": [{"role": "user", "content": prompt}]}))
    .json();
    add(&v["usage"]["input_tokens"], &v["usage"]["output_tokens"]);
    let r = h.post_bearer(
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": prompt, "stream": true}).to_string(),
    );
    let done = named_events(&r.body).pop().unwrap().1;
    add(
        &done["response"]["usage"]["input_tokens"],
        &done["response"]["usage"]["output_tokens"],
    );
    let r = anthropic(
        &json!({"model": "gemini-2.5-flash", "max_tokens": 100, "stream": true,
                              "messages": [{"role": "user", "content": prompt}]}),
    );
    let ev = named_events(&r.body);
    let delta = &ev.iter().find(|(k, _)| k == "message_delta").unwrap().1;
    add(
        &delta["usage"]["input_tokens"],
        &delta["usage"]["output_tokens"],
    );
    assert!(input > 0 && output > 0);

    let metric = |direction: &str| {
        let text = http(h.admin, "GET", "/metrics", &[], b"").text();
        let name = format!(
            r#"gemini_gateway_tokens_total{{direction="{direction}",model="gemini-2.5-flash"}} "#
        );
        text.lines()
            .find_map(|l| l.strip_prefix(name.as_str()))
            .map(|v| v.parse::<u64>().unwrap())
    };
    assert!(
        eventually(|| metric("input") == Some(input) && metric("output") == Some(output)),
        "metrics {:?}/{:?}, answers {input}/{output}",
        metric("input"),
        metric("output")
    );
}
