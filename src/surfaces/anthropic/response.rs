//! Whole Gemini answers → Anthropic: a `message` (content blocks, stop reason, usage), the
//! `count_tokens` answer, and model descriptions.

use super::blocks::{Blocks, Ev, Start};
use crate::convert::gemini::blocked_error;
use crate::convert::gemini::{finish, upstream_error, Finish, GenerateResponse, UsageMetadata};
use crate::error::GatewayError;
use serde_json::{json, Map, Value};

/// What an answer is translated for.
#[derive(Debug, Clone)]
pub(super) struct MessageMeta {
    /// `msg_` + 24 alphanumerics.
    pub id: String,
    /// The model name the client asked for.
    pub model: String,
    pub thinking: bool,
}

/// Anthropic's `stop_reason`.
pub(super) fn stop_reason(gemini: Option<&str>, tool_uses: usize) -> &'static str {
    match finish(gemini.unwrap_or("STOP"), tool_uses > 0) {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::Filtered => "refusal",
    }
}

/// Anthropic's `usage`: input excludes what came from Gemini's context cache (counted apart),
/// output includes thinking.
pub(super) fn usage(u: Option<&UsageMetadata>) -> Value {
    let u = u.cloned().unwrap_or_default();
    let cached = u.cached_content_token_count.unwrap_or(0);
    json!({
        "input_tokens": u.prompt().saturating_sub(cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": u.completion(),
    })
}

/// Read a Gemini answer, or the error it stands for.
pub(super) fn read(gemini: &[u8]) -> Result<GenerateResponse, GatewayError> {
    let resp: GenerateResponse = serde_json::from_slice(gemini).map_err(|e| {
        GatewayError::from(crate::convert::ConvertError::upstream(format!(
            "Gemini sent a response that could not be read: {e}"
        )))
    })?;
    if let Some(err) = &resp.error {
        return Err(upstream_error(err).into());
    }
    Ok(resp)
}

/// A whole `generateContent` answer → a `message`.
pub(super) fn message(gemini: &[u8], meta: &MessageMeta) -> Result<Vec<u8>, GatewayError> {
    let resp = read(gemini)?;
    let Some(c) = resp.candidates.as_ref().and_then(|c| c.first()) else {
        return Err(blocked_error(resp.prompt_feedback.as_ref())
            .map(|mut e| {
                e.param = Some("messages".into());
                e
            })
            .unwrap_or_else(|| {
                crate::convert::ConvertError::upstream(
                    "Gemini returned no candidates and no block reason.",
                )
            })
            .into());
    };
    let parts = c
        .content
        .as_ref()
        .and_then(|c| c.parts.as_deref())
        .unwrap_or(&[]);
    let mut blocks = Blocks::new(meta.thinking);
    let mut content: Vec<Map<String, Value>> = Vec::new();
    let mut ev = |e: Ev<'_>| match e {
        Ev::Start(s) => content.push(match s {
            Start::Text => obj(json!({"type": "text", "text": ""})),
            Start::Thinking => obj(json!({"type": "thinking", "thinking": "", "signature": ""})),
            Start::ToolUse { id, name } => {
                obj(json!({"type": "tool_use", "id": id, "name": name, "input": {}}))
            }
        }),
        Ev::Text(t) => append(&mut content, "text", t),
        Ev::Thinking(t) => append(&mut content, "thinking", t),
        Ev::Signature(s) => append(&mut content, "signature", s),
        Ev::Json(j) => {
            if let Some(b) = content.last_mut() {
                b.insert(
                    "input".into(),
                    serde_json::from_str(&j).unwrap_or_else(|_| json!({})),
                );
            }
        }
        Ev::Stop => {}
    };
    blocks.parts(parts, &mut ev);
    blocks.close(&mut ev);
    let stop = stop_reason(c.finish_reason.as_deref(), blocks.tool_uses);
    let out = json!({
        "id": meta.id,
        "type": "message",
        "role": "assistant",
        "model": meta.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage(resp.usage_metadata.as_ref()),
    });
    serde_json::to_vec(&out).map_err(|e| GatewayError::internal(e.to_string()))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Append to a string field of the last block.
fn append(content: &mut [Map<String, Value>], field: &str, t: &str) {
    if let Some(Value::String(s)) = content.last_mut().and_then(|b| b.get_mut(field)) {
        s.push_str(t);
    }
}

/// Gemini `countTokens` → `{"input_tokens": N}`.
pub(super) fn count(gemini: &[u8]) -> Result<Vec<u8>, GatewayError> {
    let v: Value = serde_json::from_slice(gemini).map_err(|e| {
        GatewayError::from(crate::convert::ConvertError::upstream(format!(
            "Gemini sent a countTokens answer that could not be read: {e}"
        )))
    })?;
    let n = v.get("totalTokens").and_then(Value::as_u64).unwrap_or(0);
    Ok(json!({ "input_tokens": n }).to_string().into_bytes())
}

/// One model, as Anthropic's `/v1/models` describes it.
pub(super) fn model(id: &str) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": id,
        "created_at": "2025-01-01T00:00:00Z",
    })
}

/// A model list page (all of it: `has_more` is false).
pub(super) fn model_list(ids: &[String]) -> Vec<u8> {
    json!({
        "data": ids.iter().map(|m| model(m)).collect::<Vec<_>>(),
        "has_more": false,
        "first_id": ids.first(),
        "last_id": ids.last(),
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(thinking: bool) -> MessageMeta {
        MessageMeta {
            id: "msg_x".into(),
            model: "claude-sonnet-4-5".into(),
            thinking,
        }
    }

    #[test]
    fn text_thinking_and_tool_use() {
        let g = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "hmm", "thought": true},
                {"text": "Let me look.", "thoughtSignature": "U0lH"},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
            ]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 7,
                              "thoughtsTokenCount": 3, "cachedContentTokenCount": 5}
        });
        let out: Value =
            serde_json::from_slice(&message(g.to_string().as_bytes(), &meta(true)).unwrap())
                .unwrap();
        let c = &out["content"];
        assert_eq!(
            c[0],
            json!({"type": "thinking", "thinking": "hmm", "signature": "U0lH"})
        );
        assert_eq!(c[1], json!({"type": "text", "text": "Let me look."}));
        assert_eq!(c[2]["type"], "tool_use");
        assert!(c[2]["id"].as_str().unwrap().starts_with("toolu_"));
        assert_eq!(c[2]["input"], json!({"city": "Paris"}));
        assert_eq!(out["stop_reason"], "tool_use");
        assert_eq!(
            out["usage"],
            json!({"input_tokens": 15, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 5, "output_tokens": 10})
        );
        assert_eq!(out["model"], "claude-sonnet-4-5");
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(stop_reason(Some("MAX_TOKENS"), 0), "max_tokens");
        assert_eq!(stop_reason(Some("SAFETY"), 0), "refusal");
        assert_eq!(stop_reason(None, 0), "end_turn");
        assert_eq!(stop_reason(Some("STOP"), 1), "tool_use");
    }

    #[test]
    fn blocked_prompt_is_an_error() {
        let g = br#"{"promptFeedback": {"blockReason": "SAFETY"}}"#;
        let e = message(g, &meta(false)).unwrap_err();
        assert_eq!(e.kind().status(), 400);
        assert!(e.message().contains("SAFETY"));
    }
}
