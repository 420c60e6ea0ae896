//! Unit tests of the Anthropic translation: requests → Gemini, Gemini streams → events.

use super::request::{translate, MessagesRequest};
use super::response::MessageMeta;
use super::stream::MessageStream;
use crate::config::AnthropicConfig;
use crate::pipeline::body::parse_json as parse;
use crate::pipeline::route::StreamReply;
use serde_json::{json, Value};

fn gemini(req: Value) -> Result<(Value, super::request::MessagesPlan), crate::error::GatewayError> {
    let body = req.to_string();
    let r: MessagesRequest<'_> = parse(body.as_bytes())?;
    let plan = translate(r, &AnthropicConfig::default(), "BLOCK_NONE")?;
    Ok((serde_json::from_slice(&plan.body).unwrap(), plan))
}

#[test]
fn a_plain_request() {
    let (g, plan) = gemini(json!({
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
                     {"role": "user", "content": [{"type": "text", "text": "Again"}]}],
        "temperature": 0.5, "top_k": 3, "stop_sequences": ["END"]
    }))
    .unwrap();
    assert_eq!(&*plan.model, "gemini-2.5-pro");
    assert_eq!(plan.requested, "claude-sonnet-4-5-20250929");
    assert!(!plan.stream);
    assert_eq!(
        g["contents"],
        json!([{"role": "user", "parts": [{"text": "Hi"}]},
               {"role": "model", "parts": [{"text": "Hello"}]},
               {"role": "user", "parts": [{"text": "Again"}]}])
    );
    assert_eq!(
        g["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(
        g["generationConfig"],
        json!({"maxOutputTokens": 100, "temperature": 0.5, "topK": 3, "stopSequences": ["END"]})
    );
}

#[test]
fn tools_results_images_and_signatures() {
    let (g, plan) = gemini(json!({
        "model": "gemini-2.5-flash", "max_tokens": 1000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [{"name": "get_weather", "description": "Weather",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                    "required": ["city"], "additionalProperties": false,
                                    "$schema": "http://json-schema.org/draft-07/schema#"}}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "need tool", "signature": "U0lH"},
                {"type": "tool_use", "id": "toolu_0123456789abcdefghijklmn", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_0123456789abcdefghijklmn", "content": [{"type": "text", "text": "{\"temp\": 20}"}]}]}
        ]
    }))
    .unwrap();
    assert!(plan.thinking);
    assert_eq!(
        g["contents"][0]["parts"][0],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        g["contents"][1]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "U0lH"}])
    );
    assert_eq!(
        g["contents"][2]["parts"],
        json!([{"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}])
    );
    let decl = &g["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], "get_weather");
    assert!(decl["parametersJsonSchema"].get("$schema").is_none());
    assert_eq!(
        g["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    assert_eq!(
        g["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 2048, "includeThoughts": true})
    );
}

#[test]
fn bad_requests_name_what_is_wrong() {
    let cases = [
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 1, "messages": []}),
            "messages",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AA=="}}]}]}),
            "media_type",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nope"}]}]}),
            "tool_use_id",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}]}),
            "URL",
        ),
        (
            json!({"model": "claude-sonnet-4", "max_tokens": "many", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "claude-nonesuch-1", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}),
            "anthropic.model_aliases",
        ),
    ];
    for (req, needle) in cases {
        let e = match gemini(req.clone()) {
            Err(e) => e,
            Ok(_) => panic!("accepted {req}"),
        };
        assert!(
            e.status() == 400 || e.status() == 404,
            "{req}: {}",
            e.status()
        );
        assert!(e.message().contains(needle), "{req}: {}", e.message());
    }
}

fn meta(thinking: bool) -> MessageMeta {
    MessageMeta {
        id: "msg_test".into(),
        model: "claude-sonnet-4-5".into(),
        thinking,
    }
}

/// Run a stream translator over `input` cut into `chunks` pieces; return (event name, data).
fn run(thinking: bool, input: &[u8], cut: usize) -> Vec<(String, Value)> {
    let mut s = MessageStream::new(meta(thinking));
    let mut out = Vec::new();
    let (a, b) = input.split_at(cut.min(input.len()));
    s.feed(a, &mut out);
    s.feed(b, &mut out);
    s.finish(&mut out);
    let text = String::from_utf8(out).unwrap();
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (ev, data) = e.split_once('\n').unwrap();
            (
                ev.strip_prefix("event: ").unwrap().to_string(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

fn sse(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|e| format!("data: {e}\r\n\r\n").into_bytes())
        .collect()
}

#[test]
fn text_stream_event_sequence_at_any_split() {
    let input = sse(&[
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
               "usageMetadata": {"promptTokenCount": 9}}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo ✓"}]}, "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2, "totalTokenCount": 11}}),
    ]);
    let whole = run(false, &input, input.len());
    let names: Vec<&str> = whole.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(whole[0].1["message"]["usage"]["input_tokens"], 9);
    assert_eq!(whole[0].1["message"]["model"], "claude-sonnet-4-5");
    assert_eq!(
        whole[2].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(
        whole[4].1["delta"],
        json!({"type": "text_delta", "text": "lo ✓"})
    );
    assert_eq!(whole[6].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(whole[6].1["usage"]["output_tokens"], 2);
    for cut in 0..input.len() {
        assert_eq!(run(false, &input, cut), whole, "cut at {cut}");
    }
}

#[test]
fn thinking_signature_and_tool_use_stream() {
    let input = sse(&[
        json!({"candidates": [{"content": {"parts": [{"text": "Thinking…", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "U0lH"}]},
            "finishReason": "STOP"}]}),
    ]);
    let ev = run(true, &input, input.len());
    let deltas: Vec<Value> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| json!([d["index"], d["delta"]]))
        .collect();
    assert_eq!(
        deltas,
        [
            json!([0, {"type": "thinking_delta", "thinking": "Thinking…"}]),
            json!([0, {"type": "signature_delta", "signature": "U0lH"}]),
            json!([1, {"type": "input_json_delta", "partial_json": "{\"x\":1}"}]),
        ]
    );
    let starts: Vec<&Value> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| &d["content_block"])
        .collect();
    assert_eq!(starts[0]["type"], "thinking");
    assert_eq!(starts[1]["type"], "tool_use");
    assert_eq!(starts[1]["name"], "f");
    assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");
    // every started block is stopped, in order
    let stops: Vec<&Value> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_stop")
        .map(|(_, d)| &d["index"])
        .collect();
    assert_eq!(stops, [&json!(0), &json!(1)]);
}

#[test]
fn truncated_and_failed_streams_end_with_an_error_event() {
    let cut = sse(&[json!({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]})]);
    let ev = run(false, &cut, cut.len());
    let (name, data) = ev.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(ev.iter().all(|(n, _)| n != "message_stop"));

    let err =
        sse(&[json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}})]);
    let ev = run(false, &err, err.len());
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].1["error"]["type"], "rate_limit_error");

    assert_eq!(run(false, b"", 0)[0].0, "error");
}

#[test]
fn thinking_budgets_fit_the_model() {
    let req = |model: &str, thinking: Value| {
        gemini(
            json!({"model": model, "max_tokens": 40000, "thinking": thinking,
                      "messages": [{"role": "user", "content": "x"}]}),
        )
        .unwrap()
        .0["generationConfig"]
            .get("thinkingConfig")
            .cloned()
    };
    let big = json!({"type": "enabled", "budget_tokens": 31999});
    assert_eq!(
        req("claude-sonnet-4-5", big.clone()),
        Some(json!({"thinkingBudget": 31999, "includeThoughts": true}))
    );
    assert_eq!(
        req("claude-haiku-4-5", big.clone()),
        Some(json!({"thinkingBudget": 24576, "includeThoughts": true}))
    );
    assert_eq!(
        req("gemini-3-pro-preview", big),
        Some(json!({"thinkingLevel": "HIGH", "includeThoughts": true}))
    );
    let off = json!({"type": "disabled"});
    assert_eq!(
        req("gemini-2.5-flash", off.clone()),
        Some(json!({"thinkingBudget": 0}))
    );
    assert_eq!(req("gemini-2.5-pro", off), None);
    assert_eq!(req("gemini-2.0-flash", json!({"type": "adaptive"})), None);
}

#[test]
fn images_a_tool_returned_follow_its_response() {
    let (g, _) = gemini(json!({
        "model": "gemini-2.5-flash", "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "Read the picture"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_0123456789abcdefghijklmn", "name": "Read", "input": {"file_path": "/a.png"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0123456789abcdefghijklmn",
                "content": [{"type": "text", "text": "an image"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]}
        ]
    }))
    .unwrap();
    assert_eq!(
        g["contents"][2]["parts"],
        json!([{"functionResponse": {"name": "Read", "response": {"output": "an image"}}},
               {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}])
    );
}
