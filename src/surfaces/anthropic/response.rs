//! Whole Gemini answers → Anthropic: a `message` (content blocks, stop reason, usage), the
//! `count_tokens` answer, and model descriptions.

use super::blocks::{Blocks, Ev, Start};
use crate::convert::gemini::{blocked_error, read_answer};
use crate::convert::gemini::{finish, Finish, UsageMetadata};
use crate::convert::json_out::{array, Obj};
use crate::convert::json_text::JsonTextBuf;
use crate::convert::TokenUsage;
use crate::error::GatewayError;
use serde_json::value::RawValue;
use serde_json::{json, Value};

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
pub(super) fn usage(u: Option<&UsageMetadata>) -> Usage {
    let (prompt, completion, cached) = u.map_or((0, 0, 0), |u| {
        (
            u.prompt(),
            u.completion(),
            u.cached_content_token_count.unwrap_or(0),
        )
    });
    Usage {
        input_tokens: prompt.saturating_sub(cached),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cached,
        output_tokens: completion,
    }
}

/// Anthropic's `usage` object.
pub(super) struct Usage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    /// The usage object's fields.
    pub fn write(&self, o: &mut Obj<'_>) {
        o.u64("input_tokens", self.input_tokens)
            .u64(
                "cache_creation_input_tokens",
                self.cache_creation_input_tokens,
            )
            .u64("cache_read_input_tokens", self.cache_read_input_tokens)
            .u64("output_tokens", self.output_tokens);
    }
}

/// A whole `generateContent` answer → a `message`, and the answer's tokens.
pub(super) fn message(
    gemini: &[u8],
    meta: &MessageMeta,
) -> Result<(Vec<u8>, Option<TokenUsage>), GatewayError> {
    let mut resp = read_answer(gemini)?;
    let Some(c) = resp.candidates.as_mut().and_then(|c| c.first_mut()) else {
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
    let parts = c.parts_mut();
    let mut blocks = Blocks::new(meta.thinking);
    let mut content: Vec<Block> = Vec::new();
    let mut ev = |e: Ev<'_>| match (e, content.last_mut()) {
        (Ev::Start(s), _) => content.push(match s {
            Start::Text => Block::Text {
                text: JsonTextBuf::default(),
            },
            Start::Thinking => Block::Thinking {
                thinking: JsonTextBuf::default(),
                signature: String::new(),
            },
            Start::ToolUse { id, name } => Block::ToolUse {
                id,
                name,
                input: None,
            },
        }),
        (Ev::Text(t), Some(Block::Text { text })) => text.push(t),
        (Ev::Thinking(t), Some(Block::Thinking { thinking, .. })) => thinking.push(t),
        (Ev::Signature(t), Some(Block::Thinking { signature, .. })) => signature.push_str(t),
        (Ev::Json(j), Some(Block::ToolUse { input, .. })) => {
            // The arguments as JSON text, when they are an object (`{}` otherwise).
            let object =
                serde_json::from_str::<&RawValue>(&j).is_ok_and(|r| r.get().starts_with('{'));
            *input = object.then_some(j);
        }
        _ => {}
    };
    blocks.parts(parts, &mut ev);
    blocks.close(&mut ev);
    let mut out = Vec::with_capacity(gemini.len() + 512);
    let mut o = Obj::new(&mut out);
    o.str("id", &meta.id)
        .raw("type", "\"message\"")
        .raw("role", "\"assistant\"")
        .str("model", &meta.model)
        .with("content", |b| array(b, &content, Block::write))
        .str(
            "stop_reason",
            stop_reason(c.finish_reason.as_deref(), blocks.tool_uses),
        )
        .raw("stop_sequence", "null");
    let mut u = o.obj("usage");
    usage(resp.usage_metadata.as_ref()).write(&mut u);
    u.end();
    o.end();
    Ok((out, resp.usage_metadata.as_ref().map(TokenUsage::from)))
}

/// A content block of a whole message.
enum Block {
    Text {
        text: JsonTextBuf,
    },
    Thinking {
        thinking: JsonTextBuf,
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        /// The input object as JSON text (`{}` when there is none).
        input: Option<String>,
    },
}

impl Block {
    fn write(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        match self {
            Block::Text { text } => {
                o.raw("type", "\"text\"").with("text", |b| text.write(b));
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                o.raw("type", "\"thinking\"")
                    .with("thinking", |b| thinking.write(b))
                    .str("signature", signature);
            }
            Block::ToolUse { id, name, input } => {
                o.raw("type", "\"tool_use\"")
                    .str("id", id)
                    .str("name", name)
                    .raw("input", input.as_deref().unwrap_or("{}"));
            }
        }
        o.end();
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
            serde_json::from_slice(&message(g.to_string().as_bytes(), &meta(true)).unwrap().0)
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
