//! Whole (non-stream) Gemini `GenerateContentResponse` → OpenAI `chat.completion`.

use serde::Serialize;
use serde_json::Value;

use super::gemini::{
    blocked_error, finish_reason, pieces, read_answer, CallIds, OpenAiUsage, Piece,
};
use super::json_text::{JsonText, JsonTextBuf};
use super::{ChatMeta, ConvertError, TokenUsage};

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice>,
    usage: OpenAiUsage,
    system_fingerprint: Option<()>,
}

#[derive(Serialize)]
struct Choice {
    index: u64,
    message: Message,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message {
    role: &'static str,
    /// `null` when the answer is only tool calls, `""` when it is empty.
    content: Option<JsonText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<JsonText>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut>,
    refusal: Option<()>,
}

#[derive(Serialize)]
pub(crate) struct ToolCallOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

#[derive(Serialize)]
pub(crate) struct FunctionOut {
    pub name: String,
    pub arguments: String,
}

/// Translate a whole Gemini answer.
/// A whole `generateContent` answer → a `chat.completion`, and the answer's tokens.
pub fn chat_response(
    gemini: &[u8],
    meta: &ChatMeta,
) -> Result<(Vec<u8>, Option<TokenUsage>), ConvertError> {
    let resp = read_answer(gemini)?;
    let mut candidates = resp.candidates.unwrap_or_default();
    if candidates.is_empty() {
        return Err(
            blocked_error(resp.prompt_feedback.as_ref()).unwrap_or_else(|| {
                ConvertError::upstream("Gemini returned no candidates and no block reason.")
            }),
        );
    }

    let mut ids = CallIds::default();
    let mut choices = Vec::with_capacity(candidates.len());
    for (pos, c) in candidates.iter_mut().enumerate() {
        let parts = c.parts_mut();
        let mut text = JsonTextBuf::default();
        let mut reasoning = JsonTextBuf::default();
        let mut calls = Vec::new();
        for p in pieces(parts, meta.include_thoughts, meta.roo_line_count, &mut ids) {
            match p {
                Piece::Text(t) => text.push(t),
                Piece::Reasoning(r) => reasoning.push(r),
                Piece::Signature(_) => {}
                Piece::Call(tc) => {
                    let extra_content = tc.extra_content();
                    calls.push(ToolCallOut {
                        id: tc.id,
                        kind: "function",
                        function: FunctionOut {
                            name: tc.name,
                            arguments: tc.arguments,
                        },
                        extra_content,
                    });
                }
            }
        }
        let finish = finish_reason(
            c.finish_reason.as_deref().unwrap_or("STOP"),
            !calls.is_empty(),
        );
        let content = if text.is_empty() && !calls.is_empty() {
            None
        } else {
            Some(text.finish())
        };
        choices.push(Choice {
            index: c.index.unwrap_or(pos as u64),
            message: Message {
                role: "assistant",
                content,
                reasoning_content: (!reasoning.is_empty()).then(|| reasoning.finish()),
                tool_calls: calls,
                refusal: None,
            },
            logprobs: None,
            finish_reason: finish,
        });
    }
    choices.sort_by_key(|c| c.index);

    let out = Completion {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: &meta.model,
        choices,
        usage: resp.usage_metadata.unwrap_or_default().to_openai(),
        system_fingerprint: None,
    };
    let json = super::to_json(&out, gemini.len() + 512)
        .map_err(|e| ConvertError::upstream(format!("could not encode the answer: {e}")))?;
    Ok((json, resp.usage_metadata.as_ref().map(TokenUsage::from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta() -> ChatMeta {
        ChatMeta {
            id: "chatcmpl-test".into(),
            created: 1_700_000_000,
            model: "gemini-2.5-flash".into(),
            include_thoughts: false,
            include_usage: false,
            roo_line_count: true,
        }
    }

    fn translate(v: Value, meta: &ChatMeta) -> Value {
        serde_json::from_slice(&chat_response(v.to_string().as_bytes(), meta).unwrap().0).unwrap()
    }

    #[test]
    fn text_answer() {
        // The shape of the real recording TestModel_Generate_ok.
        let out = translate(
            json!({"candidates": [{"content": {"parts": [{"text": "Paris"}], "role": "model"},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 1, "totalTokenCount": 46,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}], "thoughtsTokenCount": 34},
                "modelVersion": "gemini-2.5-flash", "responseId": "xlWYafXAOKSf1e8PpcODiAg"}),
            &meta(),
        );
        assert_eq!(
            out,
            json!({"id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000u64,
                "model": "gemini-2.5-flash",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris", "refusal": null},
                             "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 35, "total_tokens": 46,
                          "prompt_tokens_details": {"cached_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 34}},
                "system_fingerprint": null})
        );
    }

    #[test]
    fn real_recording_non_stream() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real-gemini/TestModel_Generate_ok.httprr"
        );
        let Ok(raw) = std::fs::read_to_string(path) else {
            eprintln!("skipping: {path} not found");
            return;
        };
        let Some(start) = raw.rfind("\r\n\r\n{").or_else(|| raw.rfind("\n\n{")) else {
            panic!("no JSON body in recording");
        };
        let body = raw[start..].trim_start();
        let out: Value =
            serde_json::from_slice(&chat_response(body.as_bytes(), &meta()).unwrap().0).unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], "Paris");
        assert_eq!(out["usage"]["total_tokens"], 46);
    }

    #[test]
    fn tool_calls_with_signature_and_null_content() {
        let out = translate(
            json!({"candidates": [{"content": {"parts": [
                {"functionCall": {"name": "sum", "args": {"a": 2, "b": 3}, "id": "3ae8iwca"}, "thoughtSignature": "SIG"},
                {"functionCall": {"name": "sum", "args": {"a": 4, "b": 5}}}], "role": "model"},
                "finishReason": "STOP", "index": 0}]}),
            &meta(),
        );
        let ch = &out["choices"][0];
        assert_eq!(ch["finish_reason"], "tool_calls");
        assert!(ch["message"]["content"].is_null());
        let calls = ch["message"]["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0],
            json!({"id": "3ae8iwca", "type": "function",
                   "function": {"name": "sum", "arguments": "{\"a\":2,\"b\":3}"},
                   "extra_content": {"google": {"thought_signature": "SIG"}}})
        );
        let id1 = calls[1]["id"].as_str().unwrap();
        assert!(id1.starts_with("call_") && id1.len() == 29);
        assert!(calls[1].get("extra_content").is_none());
    }

    #[test]
    fn thoughts_dropped_unless_asked() {
        let g = json!({"candidates": [{"content": {"parts": [{"text": "hmm", "thought": true}, {"text": "42"}]},
            "finishReason": "STOP"}]});
        let out = translate(g.clone(), &meta());
        assert_eq!(out["choices"][0]["message"]["content"], "42");
        assert!(out["choices"][0]["message"]
            .get("reasoning_content")
            .is_none());
        let mut m = meta();
        m.include_thoughts = true;
        let out = translate(g, &m);
        assert_eq!(out["choices"][0]["message"]["reasoning_content"], "hmm");
    }

    #[test]
    fn empty_reply_is_well_formed() {
        let out = translate(
            json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]}),
            &meta(),
        );
        assert_eq!(out["choices"][0]["message"]["role"], "assistant");
        assert_eq!(out["choices"][0]["message"]["content"], "");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        let out = translate(
            json!({"candidates": [{"finishReason": "MAX_TOKENS"}]}),
            &meta(),
        );
        assert_eq!(out["choices"][0]["message"]["content"], "");
        assert_eq!(out["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn finish_reasons_map() {
        for (g, o) in [
            ("SAFETY", "content_filter"),
            ("RECITATION", "content_filter"),
            ("PROHIBITED_CONTENT", "content_filter"),
            ("MALFORMED_FUNCTION_CALL", "stop"),
            ("MAX_TOKENS", "length"),
        ] {
            let out = translate(
                json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": g}]}),
                &meta(),
            );
            assert_eq!(out["choices"][0]["finish_reason"], o, "{g}");
        }
    }

    #[test]
    fn multiple_candidates_become_choices() {
        let out = translate(
            json!({"candidates": [
                {"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1},
                {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0}]}),
            &meta(),
        );
        assert_eq!(out["choices"][0]["index"], 0);
        assert_eq!(out["choices"][0]["message"]["content"], "a");
        assert_eq!(out["choices"][1]["message"]["content"], "b");
    }

    #[test]
    fn blocked_prompt_is_an_error() {
        let e = chat_response(
            json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 5}})
                .to_string()
                .as_bytes(),
            &meta(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.code(), Some("content_filter"));
        assert!(e.message.contains("PROHIBITED_CONTENT"));
    }

    #[test]
    fn no_candidates_without_reason_is_502() {
        let e = chat_response(b"{}", &meta()).unwrap_err();
        assert_eq!(e.status(), 502);
        let e = chat_response(b"not json", &meta()).unwrap_err();
        assert_eq!(e.status(), 502);
    }

    #[test]
    fn upstream_error_body_is_an_error() {
        let e = chat_response(
            br#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#,
            &meta(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(e.message.contains("overloaded"));
    }

    #[test]
    fn roo_line_count_non_stream() {
        let out = translate(
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "write_to_file",
                "args": {"path": "a", "content": "1\n2\n3\n"}}}]}, "finishReason": "STOP"}]}),
            &meta(),
        );
        let args: Value = serde_json::from_str(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(args["line_count"], 4);
    }

    #[test]
    fn cached_tokens_reported() {
        let out = translate(
            json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 2, "totalTokenCount": 102,
                    "cachedContentTokenCount": 64}}),
            &meta(),
        );
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 64);
        assert_eq!(out["usage"]["completion_tokens"], 2);
    }
}
