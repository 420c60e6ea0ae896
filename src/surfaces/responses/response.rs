//! The `response` object (whole, and as the stream's lifecycle events carry it): what the request
//! asked for echoed back, the output items, status and usage.

use super::output::{NoEvents, Output};
use crate::convert::gemini::{
    blocked_error, finish, upstream_error, Finish, GenerateResponse, UsageMetadata,
};
use crate::convert::ConvertError;
use crate::error::GatewayError;
use serde_json::{json, Map, Value};

/// What every response object of one request repeats.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    /// `resp_` + 48 alphanumerics.
    pub id: String,
    pub created_at: u64,
    /// The model as the client named it.
    pub model: String,
    pub summaries: bool,
    /// The request's settings as the response echoes them (`instructions`, `tools`, ...).
    pub echo: Map<String, Value>,
}

/// How the answer ended.
pub(super) struct Ending<'a> {
    pub status: &'static str,
    pub incomplete: Option<&'static str>,
    pub error: Option<Value>,
    pub usage: Option<&'a UsageMetadata>,
}

impl Meta {
    /// The response object with this status, output and usage.
    pub fn object(&self, end: &Ending<'_>, output: &[Value]) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), Value::from(self.id.as_str()));
        o.insert("object".into(), Value::from("response"));
        o.insert("created_at".into(), Value::from(self.created_at));
        o.insert("status".into(), Value::from(end.status));
        o.insert("background".into(), Value::Bool(false));
        o.insert("error".into(), end.error.clone().unwrap_or(Value::Null));
        o.insert(
            "incomplete_details".into(),
            end.incomplete
                .map_or(Value::Null, |r| json!({ "reason": r })),
        );
        o.insert("model".into(), Value::from(self.model.as_str()));
        o.insert("output".into(), Value::Array(output.to_vec()));
        o.insert("previous_response_id".into(), Value::Null);
        // Nothing is stored, whatever `store` asked.
        o.insert("store".into(), Value::Bool(false));
        o.insert("truncation".into(), Value::from("disabled"));
        for (k, v) in &self.echo {
            o.insert(k.clone(), v.clone());
        }
        o.insert("usage".into(), end.usage.map_or(Value::Null, usage));
        Value::Object(o)
    }
}

/// Responses `usage` from Gemini's `usageMetadata`.
pub(super) fn usage(u: &UsageMetadata) -> Value {
    let (input, output) = (u.prompt(), u.completion());
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": u.cached_content_token_count.unwrap_or(0)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": u.thoughts_token_count.unwrap_or(0)},
        "total_tokens": u.total_token_count.unwrap_or(input + output),
    })
}

/// Status and `incomplete_details.reason` for Gemini's finish reason.
pub(super) fn status(gemini: Option<&str>, calls: usize) -> (&'static str, Option<&'static str>) {
    match finish(gemini.unwrap_or("STOP"), calls > 0) {
        Finish::Length => ("incomplete", Some("max_output_tokens")),
        Finish::Filtered => ("incomplete", Some("content_filter")),
        Finish::Stop | Finish::ToolCalls => ("completed", None),
    }
}

/// A whole `generateContent` answer → the `response` object.
pub(super) fn response(gemini: &[u8], meta: &Meta) -> Result<Vec<u8>, GatewayError> {
    let resp: GenerateResponse = serde_json::from_slice(gemini).map_err(|e| {
        ConvertError::upstream(format!(
            "Gemini sent a response that could not be read: {e}"
        ))
    })?;
    if let Some(err) = &resp.error {
        return Err(upstream_error(err).into());
    }
    let Some(c) = resp.candidates.as_ref().and_then(|c| c.first()) else {
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
    let parts = c
        .content
        .as_ref()
        .and_then(|c| c.parts.as_deref())
        .unwrap_or(&[]);
    let mut out = Output::new(meta.summaries);
    out.parts(parts, &mut NoEvents);
    out.close(&mut NoEvents);
    let (status, incomplete) = status(c.finish_reason.as_deref(), out.calls);
    let end = Ending {
        status,
        incomplete,
        error: None,
        usage: resp.usage_metadata.as_ref(),
    };
    let mut v = meta.object(&end, &out.items);
    v["completed_at"] = Value::from(meta.created_at);
    serde_json::to_vec(&v).map_err(|e| GatewayError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            id: "resp_x".into(),
            created_at: 1,
            model: "gemini-2.5-flash".into(),
            summaries: false,
            echo: Map::new(),
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
            serde_json::from_slice(&response(g.to_string().as_bytes(), &meta()).unwrap()).unwrap();
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
