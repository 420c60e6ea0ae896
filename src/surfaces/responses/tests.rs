//! Unit tests of the Responses translation: requests → Gemini, Gemini streams → events.

use super::request::{translate, ResponsesPlan, ResponsesRequest};
use super::response::Meta;
use super::stream::ResponseStream;
use crate::error::GatewayError;
use crate::model::ModelId;
use crate::pipeline::body::parse_json;
use crate::pipeline::route::StreamReply;
use serde_json::{json, Value};

fn gemini(req: Value) -> Result<(Value, ResponsesPlan), GatewayError> {
    let body = req.to_string();
    let mut r: ResponsesRequest<'_> = parse_json(body.as_bytes())?;
    let model = ModelId::parse(&r.model).unwrap();
    let plan = translate(&mut r, model, "BLOCK_NONE", Default::default())?;
    Ok((serde_json::from_slice(&plan.body).unwrap(), plan))
}

#[test]
fn a_string_input_with_instructions() {
    let (g, plan) = gemini(json!({"model": "gemini-2.5-flash", "input": "Hi",
        "instructions": "Be brief.", "max_output_tokens": 50, "temperature": 0.3, "top_p": 0.9}))
    .unwrap();
    assert!(!plan.stream);
    assert_eq!(
        g["contents"],
        json!([{"role": "user", "parts": [{"text": "Hi"}]}])
    );
    assert_eq!(
        g["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(
        g["generationConfig"],
        json!({"maxOutputTokens": 50, "temperature": 0.3, "topP": 0.9})
    );
}

#[test]
fn items_calls_outputs_and_signatures() {
    let (g, _) = gemini(json!({
        "model": "gemini-3-flash-preview",
        "input": [
            {"role": "developer", "content": "Use tools."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "U0lH"},
            {"type": "function_call", "call_id": "g1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "call_id": "call_0123456789abcdefghijklmn", "name": "get_time", "arguments": ""},
            {"type": "function_call_output", "call_id": "g1", "output": "{\"temp\": 20}"},
            {"type": "function_call_output", "call_id": "call_0123456789abcdefghijklmn", "output": "noon"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "It is 20."}]}
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}, "strict": true},
                  {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object", "properties": {"t": {"type": "number"}}}}},
        "reasoning": {"effort": "low", "summary": "auto"}
    }))
    .unwrap();
    assert_eq!(g["systemInstruction"]["parts"][0]["text"], "Use tools.");
    assert_eq!(
        g["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        g["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"id": "g1", "name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "U0lH"},
            {"functionCall": {"name": "get_time", "args": {}}}]})
    );
    assert_eq!(
        g["contents"][2]["parts"],
        json!([{"functionResponse": {"id": "g1", "name": "get_weather", "response": {"temp": 20}}},
               {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}}])
    );
    assert_eq!(g["contents"][3]["role"], "model");
    assert_eq!(
        g["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    assert!(g["tools"][0]["functionDeclarations"][1]
        .get("parametersJsonSchema")
        .is_none());
    assert_eq!(
        g["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(g["generationConfig"]["responseJsonSchema"]["properties"]["t"].is_object());
    assert_eq!(
        g["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "LOW", "includeThoughts": true})
    );
}

#[test]
fn refusals_name_the_field() {
    let m = |extra: Value| {
        let mut r = json!({"model": "gemini-2.5-flash", "input": "x"});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let cases = [
        (m(json!({"truncation": "middle"})), "truncation"),
        (m(json!({"conversation": "conv_1"})), "conversation"),
        (m(json!({"background": true})), "background"),
        (
            m(json!({"tools": [{"type": "file_search", "vector_store_ids": []}]})),
            "tools[0].type",
        ),
        (
            m(json!({"tools": [{"type": "code_interpreter"}]})),
            "code_interpreter",
        ),
        (
            m(json!({"tool_choice": {"type": "function", "name": "nope"}})),
            "tool_choice.name",
        ),
        (
            m(json!({"text": {"format": {"type": "yaml"}}})),
            "text.format.type",
        ),
        (
            m(json!({"reasoning": {"effort": "extreme"}})),
            "reasoning.effort",
        ),
        (
            m(json!({"input": [{"type": "item_reference", "id": "msg_1"}]})),
            "input[0]",
        ),
        (
            m(json!({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]})),
            "input[0].call_id",
        ),
        (
            m(
                json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}]}),
            ),
            "input[0].content[0].image_url",
        ),
        (
            m(
                json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}),
            ),
            "input[0].content[0].file_id",
        ),
        (
            m(json!({"input": [{"role": "robot", "content": "x"}]})),
            "input[0].role",
        ),
        (json!({"model": "gemini-2.5-flash"}), "input"),
    ];
    for (req, needle) in cases {
        let e = match gemini(req.clone()) {
            Err(e) => e,
            Ok(_) => panic!("accepted {req}"),
        };
        assert_eq!(e.status(), 400, "{req}");
        assert!(
            e.message().contains(needle) || e.param().is_some_and(|p| p.contains(needle)),
            "{req}: {} / {:?}",
            e.message(),
            e.param()
        );
    }
}

#[test]
fn effort_maps_per_family() {
    let t = |model: &str, effort: &str| {
        gemini(json!({"model": model, "input": "x", "reasoning": {"effort": effort}}))
            .unwrap()
            .0["generationConfig"]
            .get("thinkingConfig")
            .cloned()
    };
    assert_eq!(
        t("gemini-2.5-flash", "high"),
        Some(json!({"thinkingBudget": 24576}))
    );
    assert_eq!(
        t("gemini-2.5-pro", "medium"),
        Some(json!({"thinkingBudget": 8192}))
    );
    assert_eq!(
        t("gemini-2.5-flash", "none"),
        Some(json!({"thinkingBudget": 0}))
    );
    assert_eq!(t("gemini-2.5-pro", "none"), None);
    assert_eq!(
        t("gemini-3-pro-preview", "minimal"),
        Some(json!({"thinkingLevel": "MINIMAL"}))
    );
    assert_eq!(t("gemini-2.0-flash", "high"), None);
}

fn meta(summaries: bool) -> Meta {
    Meta {
        id: "resp_test".into(),
        created_at: 7,
        model: "gemini-2.5-flash".into(),
        summaries,
        echo: super::response::Echo::default().render(),
    }
}

fn run(summaries: bool, input: &[u8], cut: usize) -> Vec<(String, Value)> {
    let mut s = ResponseStream::new(meta(summaries));
    let mut out = Vec::new();
    let (a, b) = input.split_at(cut.min(input.len()));
    s.feed(a, &mut out);
    s.feed(b, &mut out);
    s.finish(&mut out);
    parse_events(&out)
}

pub(super) fn parse_events(out: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .split("\n\n")
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
        json!({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}], "usageMetadata": {"promptTokenCount": 3}}),
        json!({"candidates": [{"content": {"parts": [{"text": "lo ✓"}]}, "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}}),
    ]);
    let whole = run(false, &input, input.len());
    let names: Vec<&str> = whole.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (i, (name, data)) in whole.iter().enumerate() {
        assert_eq!(&data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i as u64);
    }
    assert_eq!(whole[0].1["response"]["status"], "in_progress");
    assert_eq!(whole[6].1["text"], "Hello ✓");
    let done = &whole[9].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello ✓");
    assert_eq!(done["usage"]["total_tokens"], 5);
    assert_eq!(done["id"], whole[0].1["response"]["id"]);
    for cut in 0..input.len() {
        let mut a = run(false, &input, cut);
        let mut b = whole.clone();
        // item ids are random per run: compare without them
        for ev in a.iter_mut().chain(b.iter_mut()) {
            strip_ids(&mut ev.1);
        }
        assert_eq!(a, b, "cut at {cut}");
    }
}

fn strip_ids(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("item_id");
            if m.get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("msg_"))
            {
                m.remove("id");
            }
            m.values_mut().for_each(strip_ids);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_ids),
        _ => {}
    }
}

#[test]
fn max_tokens_is_incomplete_and_errors_fail() {
    let input = sse(&[
        json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "MAX_TOKENS"}]}),
    ]);
    let ev = run(false, &input, input.len());
    let last = &ev.last().unwrap();
    assert_eq!(last.0, "response.incomplete");
    assert_eq!(
        last.1["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );

    let cut = sse(&[json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]})]);
    let ev = run(false, &cut, cut.len());
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[names.len() - 2..], ["error", "response.failed"]);
    assert_eq!(ev.last().unwrap().1["response"]["status"], "failed");
    assert!(
        ev.iter()
            .all(|(_, d)| d.get("error").is_none_or(Value::is_null) || d["type"] == "error"),
        "no event but `error` has a top-level error (the SDK would raise on it)"
    );

    let err =
        sse(&[json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}})]);
    let ev = run(false, &err, err.len());
    assert_eq!(ev[0].0, "response.created");
    assert_eq!(ev[2].1["code"], "rate_limit_exceeded");
}
