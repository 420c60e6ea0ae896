//! Request translation tests: every mapping rule and every refusal, by the body Gemini receives.

use super::super::gemini_request::HARM_CATEGORIES;
use super::fields::camel;
use super::messages::upstream_call_id;
use super::*;
use crate::convert::thinking::DUMMY_SIGNATURE;
use serde_json::json;

fn plan(v: Value) -> ChatPlan {
    chat_request(v.to_string().as_bytes(), &ConvertOptions::default()).unwrap()
}

fn body(v: Value) -> Value {
    serde_json::from_slice(&plan(v).body).unwrap()
}

fn err(v: Value) -> ConvertError {
    chat_request(v.to_string().as_bytes(), &ConvertOptions::default()).unwrap_err()
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn minimal_request() {
    let p = plan(json!({"model": "gemini-2.5-flash", "messages": [user("Hi")]}));
    assert_eq!(p.model, "gemini-2.5-flash");
    assert!(!p.stream);
    assert!(p.meta.id.starts_with("chatcmpl-"));
    assert_eq!(p.meta.model, "gemini-2.5-flash");
    assert!(p.meta.created > 1_600_000_000);
    assert!(!p.meta.include_thoughts && !p.meta.include_usage);
    let b: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(
        b["contents"],
        json!([{"role": "user", "parts": [{"text": "Hi"}]}])
    );
    assert!(b.get("systemInstruction").is_none());
    assert!(b.get("generationConfig").is_none());
}

#[test]
fn models_prefix_is_stripped() {
    let p = plan(json!({"model": "models/gemini-2.5-pro", "messages": [user("x")]}));
    assert_eq!(p.model, "gemini-2.5-pro");
    assert_eq!(p.meta.model, "gemini-2.5-pro");
}

#[test]
fn missing_model_is_400() {
    let e = err(json!({"messages": [user("x")]}));
    assert_eq!((e.status(), e.param.as_deref()), (400, Some("model")));
    let e = err(json!({"model": "", "messages": [user("x")]}));
    assert_eq!(e.param.as_deref(), Some("model"));
}

#[test]
fn empty_messages_is_friendly_400() {
    let e = err(json!({"model": "m", "messages": []}));
    assert_eq!((e.status(), e.param.as_deref()), (400, Some("messages")));
    assert!(e.message.contains("empty"), "{}", e.message);
    let e = err(json!({"model": "m"}));
    assert_eq!(e.param.as_deref(), Some("messages"));
}

#[test]
fn only_system_messages_is_400() {
    let e = err(json!({"model": "m", "messages": [{"role": "system", "content": "s"}]}));
    assert_eq!(e.param.as_deref(), Some("messages"));
}

#[test]
fn invalid_json_and_non_object_are_400() {
    let e = chat_request(b"{nope", &ConvertOptions::default()).unwrap_err();
    assert_eq!(e.status(), 400);
    let e = chat_request(b"[1]", &ConvertOptions::default()).unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn system_and_developer_become_system_instruction() {
    let b = body(json!({"model": "m", "messages": [
        {"role": "system", "content": "Be brief."},
        user("Hi"),
        {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]}]}));
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}, {"text": "No emoji."}]})
    );
    assert_eq!(b["contents"].as_array().unwrap().len(), 1);
}

#[test]
fn system_image_is_refused() {
    let e = err(
        json!({"model": "m", "messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]}, user("x")]}),
    );
    assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
}

#[test]
fn assistant_becomes_model_and_same_roles_merge() {
    let b = body(json!({"model": "m", "messages": [
        user("a"), user("b"),
        {"role": "assistant", "content": "c"}, {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
        user("e")]}));
    assert_eq!(
        b["contents"],
        json!([
            {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
            {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
            {"role": "user", "parts": [{"text": "e"}]}])
    );
}

#[test]
fn empty_text_is_skipped() {
    let b = body(
        json!({"model": "m", "messages": [user("a"), {"role": "assistant", "content": ""}, user("b")]}),
    );
    assert_eq!(
        b["contents"],
        json!([{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}])
    );
}

#[test]
fn unknown_role_is_400() {
    let e = err(json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}));
    assert_eq!(e.param.as_deref(), Some("messages[0].role"));
}

#[test]
fn image_data_uri_becomes_inline_data() {
    let b = body(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ", "detail": "high"}}]}]}),
    );
    assert_eq!(
        b["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}})
    );
}

#[test]
fn image_url_as_bare_string_and_http_scheme_case() {
    let b = body(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": "data:image/webp;base64,UklGRg=="}]}]}),
    );
    assert_eq!(
        b["contents"][0]["parts"][0]["inlineData"]["mimeType"],
        "image/webp"
    );
    let e = err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": "HTTP://example.com/a.png"}]}]}),
    );
    assert_eq!(e.param.as_deref(), Some("messages[0].content[0].image_url"));
    assert!(e.message.contains("remote URLs"));
}

#[test]
fn remote_image_url_is_400_with_path() {
    let e = err(
        json!({"model": "m", "messages": [user("x"), {"role": "assistant", "content": "y"},
        {"role": "user", "content": [{"type": "text", "text": "t"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    );
    assert_eq!(e.status(), 400);
    assert_eq!(
        e.param.as_deref(),
        Some("messages[2].content[1].image_url.url")
    );
    assert!(e.message.contains("remote URLs"), "{}", e.message);
}

#[test]
fn unsupported_image_mime_is_400() {
    let e = err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGOD=="}}]}]}),
    );
    assert_eq!(
        e.param.as_deref(),
        Some("messages[0].content[0].image_url.url")
    );
    assert!(e.message.contains("image/gif"));
}

#[test]
fn bad_base64_is_400() {
    let e = err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,not base64!"}}]}]}),
    );
    assert!(e.message.contains("base64"));
    let e = err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}]}]}),
    );
    assert!(e.message.contains("base64"));
}

#[test]
fn wrapped_base64_is_unwrapped() {
    let b = body(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO\nRw0K"}}]}]}),
    );
    assert_eq!(
        b["contents"][0]["parts"][0]["inlineData"]["data"],
        "iVBORw0K"
    );
}

#[test]
fn input_audio_becomes_inline_data() {
    let b = body(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}}]}]}),
    );
    assert_eq!(
        b["contents"][0]["parts"],
        json!([{"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
               {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}}])
    );
    let e = err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "pcm16"}}]}]}),
    );
    assert_eq!(
        e.param.as_deref(),
        Some("messages[0].content[0].input_audio.format")
    );
}

#[test]
fn file_data_becomes_inline_data() {
    let b = body(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_data": "aGVsbG8=", "filename": "notes.txt"}}]}]}),
    );
    assert_eq!(
        b["contents"][0]["parts"],
        json!([{"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
               {"inlineData": {"mimeType": "text/plain", "data": "aGVsbG8="}}])
    );
}

#[test]
fn file_id_is_400() {
    let e = err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-abc"}}]}]}),
    );
    assert_eq!(
        e.param.as_deref(),
        Some("messages[0].content[0].file.file_id")
    );
    assert_eq!(e.code(), Some("unsupported_parameter"));
}

#[test]
fn unknown_part_type_is_400() {
    let e = err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "video_url", "video_url": {}}]}]}),
    );
    assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
}

#[test]
fn tools_become_function_declarations() {
    let b = body(json!({"model": "m", "messages": [user("x")], "tools": [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather", "strict": true,
         "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]}));
    assert_eq!(
        b["tools"],
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather", "parametersJsonSchema": {"type": "object",
                "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}},
            {"name": "now"}]}])
    );
    assert!(b.get("toolConfig").is_none());
}

#[test]
fn legacy_functions_become_declarations() {
    let b = body(json!({"model": "m", "messages": [user("x")],
        "functions": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}],
        "function_call": {"name": "f"}}));
    assert_eq!(b["tools"][0]["functionDeclarations"][0]["name"], "f");
    assert_eq!(
        b["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
    );
}

#[test]
fn non_function_tool_is_400() {
    let e = err(
        json!({"model": "m", "messages": [user("x")], "tools": [{"type": "custom", "custom": {"name": "x"}}]}),
    );
    assert_eq!(e.param.as_deref(), Some("tools[0].type"));
}

fn with_choice(choice: Value) -> Value {
    body(
        json!({"model": "m", "messages": [user("x")], "tool_choice": choice, "tools": [
        {"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]}),
    )
}

#[test]
fn tool_choice_modes() {
    assert_eq!(
        with_choice(json!("auto"))["toolConfig"]["functionCallingConfig"],
        json!({"mode": "AUTO"})
    );
    assert_eq!(
        with_choice(json!("none"))["toolConfig"]["functionCallingConfig"],
        json!({"mode": "NONE"})
    );
    assert_eq!(
        with_choice(json!("required"))["toolConfig"]["functionCallingConfig"],
        json!({"mode": "ANY"})
    );
    assert_eq!(
        with_choice(json!({"type": "function", "function": {"name": "b"}}))["toolConfig"]
            ["functionCallingConfig"],
        json!({"mode": "ANY", "allowedFunctionNames": ["b"]})
    );
}

#[test]
fn tool_choice_allowed_tools() {
    let b = with_choice(
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto",
        "tools": [{"type": "function", "function": {"name": "b"}}]}}),
    );
    assert_eq!(
        b["toolConfig"]["functionCallingConfig"],
        json!({"mode": "AUTO"})
    );
    assert_eq!(
        b["tools"][0]["functionDeclarations"],
        json!([{"name": "b"}])
    );
    let b = with_choice(
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "required",
        "tools": [{"type": "function", "function": {"name": "a"}}]}}),
    );
    assert_eq!(
        b["toolConfig"]["functionCallingConfig"],
        json!({"mode": "ANY", "allowedFunctionNames": ["a"]})
    );
}

#[test]
fn tool_choice_unknown_function_is_400() {
    let e = err(
        json!({"model": "m", "messages": [user("x")], "tools": [{"type": "function", "function": {"name": "a"}}],
        "tool_choice": {"type": "function", "function": {"name": "zzz"}}}),
    );
    assert_eq!(e.param.as_deref(), Some("tool_choice.function.name"));
    let e = err(
        json!({"model": "m", "messages": [user("x")], "tools": [{"type": "function", "function": {"name": "a"}}],
        "tool_choice": "sometimes"}),
    );
    assert_eq!(e.param.as_deref(), Some("tool_choice"));
}

#[test]
fn tool_choice_without_tools_is_dropped() {
    let b = body(json!({"model": "m", "messages": [user("x")], "tool_choice": "none"}));
    assert!(b.get("toolConfig").is_none() && b.get("tools").is_none());
}

#[test]
fn parallel_tool_calls_is_ignored() {
    let b = body(
        json!({"model": "m", "messages": [user("x")], "parallel_tool_calls": false,
        "tools": [{"type": "function", "function": {"name": "a"}}]}),
    );
    assert!(b.get("toolConfig").is_none());
}

#[test]
fn tool_round_trip_matches_ids_and_names() {
    let b = body(json!({"model": "gemini-2.5-flash", "messages": [
        user("weather?"),
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "abc123", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_AAAAAAAAAAAAAAAAAAAAAAAA", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "abc123", "content": "{\"temp\":20}"},
        {"role": "tool", "tool_call_id": "call_AAAAAAAAAAAAAAAAAAAAAAAA", "content": "noon"},
        user("thanks")]}));
    assert_eq!(
        b["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"id": "abc123", "name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}}]})
    );
    assert_eq!(
        b["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"id": "abc123", "name": "get_weather", "response": {"temp": 20}}},
            {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
            {"text": "thanks"}]})
    );
}

#[test]
fn tool_result_that_is_not_an_object_is_wrapped() {
    let b = body(json!({"model": "m", "messages": [user("x"),
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "[1,"}, {"type": "text", "text": "2]"}]}]}));
    assert_eq!(
        b["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"output": "[1,2]"})
    );
}

#[test]
fn tool_message_with_unknown_id_is_400() {
    let e = err(json!({"model": "m", "messages": [user("x"),
        {"role": "tool", "tool_call_id": "nope", "content": "r"}]}));
    assert_eq!(e.param.as_deref(), Some("messages[1].tool_call_id"));
    let e = err(json!({"model": "m", "messages": [user("x"), {"role": "tool", "content": "r"}]}));
    assert_eq!(e.param.as_deref(), Some("messages[1].tool_call_id"));
}

#[test]
fn invalid_tool_call_arguments_is_400_with_path() {
    let e = err(json!({"model": "m", "messages": [user("x"),
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{bad"}}]}]}));
    assert_eq!(
        e.param.as_deref(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
    let e = err(json!({"model": "m", "messages": [user("x"),
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}));
    assert_eq!(
        e.param.as_deref(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
}

#[test]
fn legacy_function_role_becomes_function_response() {
    let b = body(json!({"model": "m", "messages": [user("x"),
        {"role": "assistant", "function_call": {"name": "f", "arguments": "{\"a\":1}"}},
        {"role": "function", "name": "f", "content": "done"}]}));
    assert_eq!(
        b["contents"][1]["parts"][0],
        json!({"functionCall": {"name": "f", "args": {"a": 1}}})
    );
    assert_eq!(
        b["contents"][2]["parts"][0],
        json!({"functionResponse": {"name": "f", "response": {"output": "done"}}})
    );
}

#[test]
fn thought_signature_is_echoed_on_the_same_part() {
    let b = body(
        json!({"model": "gemini-3-flash-preview", "messages": [user("x"),
        {"role": "assistant", "tool_calls": [
            {"id": "g1", "type": "function", "function": {"name": "f", "arguments": "{}"},
             "extra_content": {"google": {"thought_signature": "SIG1"}}},
            {"id": "g2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}),
    );
    let parts = &b["contents"][1]["parts"];
    assert_eq!(parts[0]["thoughtSignature"], "SIG1");
    assert!(parts[1].get("thoughtSignature").is_none());
}

#[test]
fn gemini3_gets_dummy_signature_when_missing() {
    let msgs = json!([user("x"),
        {"role": "assistant", "tool_calls": [
            {"id": "g1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "g2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "g1", "content": "1"},
        {"role": "tool", "tool_call_id": "g2", "content": "2"}]);
    let b = body(json!({"model": "gemini-3-pro-preview", "messages": msgs}));
    let parts = &b["contents"][1]["parts"];
    assert_eq!(parts[0]["thoughtSignature"], DUMMY_SIGNATURE);
    assert!(parts[1].get("thoughtSignature").is_none());
    // Not for Gemini 2.5.
    let b = body(json!({"model": "gemini-2.5-flash", "messages": msgs}));
    assert!(b["contents"][1]["parts"][0]
        .get("thoughtSignature")
        .is_none());
}

#[test]
fn generation_config_fields() {
    let b = body(
        json!({"model": "m", "messages": [user("x")], "temperature": 0.5, "top_p": 0.9,
        "n": 2, "stop": ["END", "", "STOP"], "max_tokens": 100, "max_completion_tokens": 200,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "seed": 7, "top_k": 40}),
    );
    assert_eq!(
        b["generationConfig"],
        json!({"temperature": 0.5, "topP": 0.9, "topK": 40, "candidateCount": 2,
               "stopSequences": ["END", "STOP"], "maxOutputTokens": 200,
               "presencePenalty": 0.1, "frequencyPenalty": 0.2, "seed": 7})
    );
}

#[test]
fn max_tokens_alone_and_stop_string() {
    let b =
        body(json!({"model": "m", "messages": [user("x")], "max_tokens": 50.0, "stop": "\n\n"}));
    assert_eq!(b["generationConfig"]["maxOutputTokens"], 50);
    assert_eq!(b["generationConfig"]["stopSequences"], json!(["\n\n"]));
}

#[test]
fn too_many_stops_is_400() {
    let e =
        err(json!({"model": "m", "messages": [user("x")], "stop": ["a", "b", "c", "d", "e", "f"]}));
    assert_eq!(e.param.as_deref(), Some("stop"));
}

#[test]
fn wrong_types_are_400_naming_field() {
    let e = err(json!({"model": "m", "messages": [user("x")], "temperature": "hot"}));
    assert_eq!(e.param.as_deref(), Some("temperature"));
    let e = err(json!({"model": "m", "messages": [user("x")], "n": 0}));
    assert_eq!(e.param.as_deref(), Some("n"));
    let e = err(json!({"model": "m", "messages": [user("x")], "stream": "yes"}));
    assert_eq!(e.param.as_deref(), Some("stream"));
}

#[test]
fn nulls_are_absent() {
    let b = body(
        json!({"model": "m", "messages": [user("x")], "temperature": null, "stop": null,
        "tools": null, "response_format": null, "reasoning_effort": null}),
    );
    assert!(b.get("generationConfig").is_none());
}

#[test]
fn logprobs_are_refused() {
    let e = err(json!({"model": "m", "messages": [user("x")], "logprobs": true}));
    assert_eq!(
        (e.param.as_deref(), e.code()),
        (Some("logprobs"), Some("unsupported_parameter"))
    );
    let e = err(json!({"model": "m", "messages": [user("x")], "top_logprobs": 3}));
    assert_eq!(e.param.as_deref(), Some("top_logprobs"));
    body(json!({"model": "m", "messages": [user("x")], "logprobs": false}));
}

#[test]
fn audio_output_is_refused() {
    let e = err(json!({"model": "m", "messages": [user("x")], "modalities": ["text", "audio"]}));
    assert_eq!(e.param.as_deref(), Some("modalities"));
    body(json!({"model": "m", "messages": [user("x")], "modalities": ["text"]}));
}

#[test]
fn unknown_fields_are_ignored() {
    let b = body(
        json!({"model": "m", "messages": [user("x")], "user": "u1", "metadata": {"a": "b"},
        "store": true, "logit_bias": {"1": 2}, "service_tier": "auto", "whatever": [1]}),
    );
    assert!(b.get("whatever").is_none());
}

#[test]
fn response_format_json_object() {
    let b = body(
        json!({"model": "m", "messages": [user("x")], "response_format": {"type": "json_object"}}),
    );
    assert_eq!(
        b["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(b["generationConfig"].get("responseJsonSchema").is_none());
}

#[test]
fn response_format_json_schema_is_sanitised() {
    let b = body(
        json!({"model": "m", "messages": [user("x")], "response_format": {"type": "json_schema",
        "json_schema": {"name": "r", "strict": true, "schema": {"type": "object",
            "properties": {"k": {"const": "v"}}, "required": ["k"], "additionalProperties": false}}}}),
    );
    assert_eq!(
        b["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        b["generationConfig"]["responseJsonSchema"],
        json!({"type": "object", "properties": {"k": {"type": "string", "enum": ["v"]}},
               "required": ["k"], "additionalProperties": false})
    );
    let e = err(json!({"model": "m", "messages": [user("x")], "response_format": {"type": "xml"}}));
    assert_eq!(e.param.as_deref(), Some("response_format.type"));
}

#[test]
fn reasoning_effort_budgets_for_2_5() {
    for (effort, budget) in [
        ("low", 1024),
        ("medium", 8192),
        ("high", 24576),
        ("none", 0),
    ] {
        let p = plan(
            json!({"model": "gemini-2.5-flash", "messages": [user("x")], "reasoning_effort": effort}),
        );
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            b["generationConfig"]["thinkingConfig"]["thinkingBudget"], budget,
            "{effort}"
        );
        assert_eq!(p.meta.include_thoughts, effort != "none");
        assert_eq!(
            b["generationConfig"]["thinkingConfig"]
                .get("includeThoughts")
                .is_some(),
            effort != "none"
        );
    }
}

#[test]
fn reasoning_effort_levels_for_gemini_3() {
    for (effort, level) in [
        ("minimal", "MINIMAL"),
        ("low", "LOW"),
        ("medium", "MEDIUM"),
        ("high", "HIGH"),
    ] {
        let b = body(
            json!({"model": "gemini-3-flash-preview", "messages": [user("x")], "reasoning_effort": effort}),
        );
        assert_eq!(
            b["generationConfig"]["thinkingConfig"],
            json!({"thinkingLevel": level, "includeThoughts": true})
        );
    }
}

#[test]
fn reasoning_effort_ignored_for_non_thinking_models() {
    let p = plan(
        json!({"model": "gemini-2.0-flash", "messages": [user("x")], "reasoning_effort": "high"}),
    );
    let b: Value = serde_json::from_slice(&p.body).unwrap();
    assert!(b.get("generationConfig").is_none());
    assert!(!p.meta.include_thoughts);
}

#[test]
fn invalid_reasoning_effort_is_400() {
    let e = err(json!({"model": "m", "messages": [user("x")], "reasoning_effort": "extreme"}));
    assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
}

#[test]
fn extra_body_google_thinking_config() {
    let p = plan(json!({"model": "gemini-2.5-flash", "messages": [user("x")],
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 800, "include_thoughts": true},
                                  "cached_content": "cachedContents/abc"}}}));
    let b: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(
        b["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 800, "includeThoughts": true})
    );
    assert_eq!(b["cachedContent"], "cachedContents/abc");
    assert!(p.meta.include_thoughts);
}

#[test]
fn top_level_google_passes_through() {
    let p = plan(json!({"model": "gemini-2.5-flash", "messages": [user("x")],
        "google": {"thinking_config": {"include_thoughts": true}, "response_modalities": ["TEXT", "IMAGE"],
                   "tools": [{"googleSearch": {}}], "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]}}));
    let b: Value = serde_json::from_slice(&p.body).unwrap();
    assert!(p.meta.include_thoughts);
    assert_eq!(
        b["generationConfig"]["responseModalities"],
        json!(["TEXT", "IMAGE"])
    );
    assert_eq!(b["tools"], json!([{"googleSearch": {}}]));
    assert_eq!(b["safetySettings"][0]["threshold"], "BLOCK_ONLY_HIGH");
}

#[test]
fn include_thoughts_false_overrides_effort() {
    let p = plan(
        json!({"model": "gemini-2.5-flash", "messages": [user("x")], "reasoning_effort": "low",
        "extra_body": {"google": {"thinking_config": {"include_thoughts": false}}}}),
    );
    assert!(!p.meta.include_thoughts);
}

#[test]
fn effort_and_explicit_budget_conflict() {
    let e = err(
        json!({"model": "gemini-2.5-flash", "messages": [user("x")], "reasoning_effort": "low",
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 100}}}}),
    );
    assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
}

#[test]
fn safety_settings_from_options() {
    let b = body(json!({"model": "m", "messages": [user("x")]}));
    let s = b["safetySettings"].as_array().unwrap();
    assert_eq!(s.len(), 5);
    assert!(s.iter().all(|c| c["threshold"] == "BLOCK_NONE"));
    let cats: Vec<&str> = s.iter().filter_map(|c| c["category"].as_str()).collect();
    assert_eq!(cats, HARM_CATEGORIES);
    let opts = ConvertOptions {
        safety_threshold: "OFF",
        roo_line_count: false,
    };
    let p = chat_request(
        json!({"model": "m", "messages": [user("x")]})
            .to_string()
            .as_bytes(),
        &opts,
    )
    .unwrap();
    let b: Value = serde_json::from_slice(&p.body).unwrap();
    assert!(b["safetySettings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["threshold"] == "OFF"));
    assert!(!p.meta.roo_line_count);
}

#[test]
fn stream_and_include_usage() {
    let p = plan(
        json!({"model": "m", "messages": [user("x")], "stream": true,
        "stream_options": {"include_usage": true}}),
    );
    assert!(p.stream && p.meta.include_usage);
    let p = plan(
        json!({"model": "m", "messages": [user("x")], "stream_options": {"include_usage": true}}),
    );
    assert!(!p.meta.include_usage);
}

#[test]
fn web_search_options_adds_google_search() {
    let b = body(json!({"model": "m", "messages": [user("x")], "web_search_options": {}}));
    assert_eq!(b["tools"], json!([{"googleSearch": {}}]));
}

#[test]
fn camel_case_conversion() {
    assert_eq!(camel("thinking_budget"), "thinkingBudget");
    assert_eq!(camel("thinkingBudget"), "thinkingBudget");
    assert_eq!(camel("cached_content"), "cachedContent");
}

#[test]
fn upstream_ids() {
    assert_eq!(upstream_call_id("3ae8iwca"), Some("3ae8iwca"));
    assert_eq!(upstream_call_id("call_abcdefghijklmnopqrstuvwx"), None);
    assert_eq!(upstream_call_id("call_1"), Some("call_1"));
    assert_eq!(upstream_call_id(""), None);
}
