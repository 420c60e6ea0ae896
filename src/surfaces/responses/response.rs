//! The `response` object (whole, and as the stream's lifecycle events carry it): what the request
//! asked for echoed back, the output items, status and usage.

use super::output::{write_items, Item, NoEvents, Output};
use super::request::Reasoning;
use crate::convert::gemini::{blocked_error, finish, read_answer, Finish, UsageMetadata};
use crate::convert::json_out::{fields_of, Obj};
use crate::convert::{ConvertError, TokenUsage};
use crate::error::GatewayError;
use serde_json::Value;

/// What every response object of one request repeats.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    /// `resp_` + its conversation's 24 hex digits + 32 alphanumerics (`context::thread`).
    pub id: String,
    pub created_at: u64,
    /// The model as the client named it.
    pub model: String,
    pub summaries: bool,
    /// The request's settings as the response echoes them, written once ([`Echo::render`]).
    pub echo: String,
}

/// The request's settings as every response object repeats them (`None`: the client left the
/// field out, and the object shows the API's default).
#[derive(Debug, Clone, Default)]
pub(super) struct Echo {
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u64>,
    pub parallel_tool_calls: bool,
    pub reasoning: Reasoning,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub text: Option<Value>,
    pub tool_choice: Option<Value>,
    pub tools: Vec<Value>,
    pub metadata: Option<Value>,
    pub user: Option<String>,
    pub previous_response_id: Option<String>,
    /// Whether this response is stored (what the client asked, and only if it can be).
    pub store: bool,
    pub truncation: Option<String>,
}

impl Echo {
    /// The echoed fields as JSON (`"instructions":…,"user":…`, no braces): a stream repeats them
    /// in three events, so they are written once.
    pub fn render(&self) -> String {
        fields_of(|o| {
            o.opt_str("instructions", self.instructions.as_deref())
                .opt_u64("max_output_tokens", self.max_output_tokens)
                .bool("parallel_tool_calls", self.parallel_tool_calls);
            let mut r = o.obj("reasoning");
            r.opt_str("effort", self.reasoning.effort.as_deref())
                .opt_str("summary", self.reasoning.summary.as_deref());
            r.end();
            o.ser("temperature", &self.temperature)
                .ser("top_p", &self.top_p);
            given_or(o, "text", &self.text, "{\"format\":{\"type\":\"text\"}}");
            given_or(o, "tool_choice", &self.tool_choice, "\"auto\"");
            o.ser("tools", &self.tools);
            given_or(o, "metadata", &self.metadata, "{}");
            o.opt_str("user", self.user.as_deref())
                .opt_str("previous_response_id", self.previous_response_id.as_deref())
                .bool("store", self.store)
                .str(
                    "truncation",
                    self.truncation.as_deref().unwrap_or("disabled"),
                );
        })
    }
}

/// How the answer ended.
pub(super) struct Ending<'a> {
    pub status: &'static str,
    pub incomplete: Option<&'static str>,
    pub error: Option<Value>,
    pub usage: Option<&'a UsageMetadata>,
    /// Set once the answer is complete (`response.completed` / `.incomplete`, whole answers).
    pub completed: bool,
}

impl Meta {
    /// Write the response object with this status, output and usage. Fields the client left
    /// out show the API's defaults.
    pub fn write_object(&self, out: &mut Vec<u8>, end: &Ending<'_>, output: &[Item]) {
        let mut o = Obj::new(out);
        o.str("id", &self.id)
            .raw("object", "\"response\"")
            .u64("created_at", self.created_at);
        if end.completed {
            o.u64("completed_at", self.created_at);
        }
        o.str("status", end.status).raw("background", "false");
        match &end.error {
            Some(e) => o.ser("error", e),
            None => o.raw("error", "null"),
        };
        match end.incomplete {
            Some(reason) => {
                let mut d = o.obj("incomplete_details");
                d.str("reason", reason);
                d.end();
            }
            None => {
                o.raw("incomplete_details", "null");
            }
        }
        o.str("model", &self.model)
            .with("output", |b| write_items(b, output))
            .fields(&self.echo);
        match end.usage {
            Some(u) => {
                let mut w = o.obj("usage");
                write_usage(&mut w, u);
                w.end();
            }
            None => {
                o.raw("usage", "null");
            }
        }
        o.end();
    }
}

/// The client's value, or the API's default (JSON) when it left the field out.
fn given_or(o: &mut Obj<'_>, key: &'static str, given: &Option<Value>, default: &'static str) {
    match given {
        Some(v) => o.ser(key, v),
        None => o.raw(key, default),
    };
}

/// Responses `usage` fields from Gemini's `usageMetadata`.
fn write_usage(o: &mut Obj<'_>, u: &UsageMetadata) {
    let (input, output) = (u.prompt(), u.completion());
    o.u64("input_tokens", input);
    let mut d = o.obj("input_tokens_details");
    d.u64("cached_tokens", u.cached_content_token_count.unwrap_or(0));
    d.end();
    o.u64("output_tokens", output);
    let mut d = o.obj("output_tokens_details");
    d.u64("reasoning_tokens", u.thoughts_token_count.unwrap_or(0));
    d.end();
    o.u64(
        "total_tokens",
        u.total_token_count.unwrap_or(input + output),
    );
}

/// Status and `incomplete_details.reason` for Gemini's finish reason.
pub(super) fn status(gemini: Option<&str>, calls: usize) -> (&'static str, Option<&'static str>) {
    match finish(gemini.unwrap_or("STOP"), calls > 0) {
        Finish::Length => ("incomplete", Some("max_output_tokens")),
        Finish::Filtered => ("incomplete", Some("content_filter")),
        Finish::Stop | Finish::ToolCalls => ("completed", None),
    }
}

/// A whole `generateContent` answer → the `response` object, and the answer's tokens.
pub(super) fn response(
    gemini: &[u8],
    meta: &Meta,
) -> Result<(Vec<u8>, Option<TokenUsage>), GatewayError> {
    let mut resp = read_answer(gemini)?;
    let Some(c) = resp.candidates.as_mut().and_then(|c| c.first_mut()) else {
        let e = blocked_error(resp.prompt_feedback.as_ref())
            .map(|mut e| {
                e.param = Some("input".into());
                e
            })
            .unwrap_or_else(|| {
                ConvertError::upstream("Gemini returned no candidates and no block reason.")
            });
        return Err(e.into());
    };
    let parts = c.parts_mut();
    let mut out = Output::new(meta.summaries, &meta.id);
    out.parts(parts, &mut NoEvents);
    out.close(&mut NoEvents);
    let (status, incomplete) = status(c.finish_reason.as_deref(), out.calls);
    let end = Ending {
        status,
        incomplete,
        error: None,
        usage: resp.usage_metadata.as_ref(),
        completed: true,
    };
    let mut json = Vec::with_capacity(gemini.len() + 1024);
    meta.write_object(&mut json, &end, &out.items);
    Ok((json, resp.usage_metadata.as_ref().map(TokenUsage::from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta() -> Meta {
        Meta {
            id: "resp_x".into(),
            created_at: 1,
            model: "gemini-2.5-flash".into(),
            summaries: false,
            echo: Echo::default().render(),
        }
    }

    #[test]
    fn a_whole_answer() {
        let g = json!({
            "candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "MAX_TOKENS"}],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2,
                              "thoughtsTokenCount": 3, "totalTokenCount": 9}
        });
        let v: Value =
            serde_json::from_slice(&response(g.to_string().as_bytes(), &meta()).unwrap().0)
                .unwrap();
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(v["output"][0]["content"][0]["text"], "Hi");
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 4, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 3},
                   "total_tokens": 9})
        );
        assert_eq!(v["store"], false);
        assert_eq!(v["completed_at"], 1);
        // What the client left out shows the API's defaults.
        assert_eq!(v["text"], json!({"format": {"type": "text"}}));
        assert_eq!(v["tool_choice"], "auto");
        assert_eq!(v["metadata"], json!({}));
        assert_eq!(v["tools"], json!([]));
        assert_eq!(v["previous_response_id"], Value::Null);
        assert_eq!(v["error"], Value::Null);
    }

    #[test]
    fn statuses() {
        assert_eq!(status(Some("STOP"), 0), ("completed", None));
        assert_eq!(
            status(Some("SAFETY"), 0),
            ("incomplete", Some("content_filter"))
        );
        assert_eq!(status(None, 2), ("completed", None));
    }
}
