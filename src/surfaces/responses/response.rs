//! The `response` object (whole, and as the stream's lifecycle events carry it): what the request
//! asked for echoed back, the output items, status and usage.

use super::output::{Item, NoEvents, Output};
use super::request::Reasoning;
use crate::convert::gemini::{
    blocked_error, finish, upstream_error, Finish, GenerateResponse, UsageMetadata,
};
use crate::convert::ConvertError;
use crate::error::GatewayError;
use serde::Serialize;
use serde_json::Value;

/// What every response object of one request repeats.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    /// `resp_` + 48 alphanumerics.
    pub id: String,
    pub created_at: u64,
    /// The model as the client named it.
    pub model: String,
    pub summaries: bool,
    /// The request's settings as the response echoes them.
    pub echo: Echo,
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
}

/// A client's value, or the API's default.
struct OrDefault<'a>(&'a Option<Value>, Fallback);

/// The defaults the response object shows for fields the client left out.
#[derive(Clone, Copy)]
enum Fallback {
    /// `text`: `{"format": {"type": "text"}}`.
    TextFormat,
    /// `tool_choice`: `"auto"`.
    Auto,
    /// `metadata`: `{}`.
    Empty,
}

impl Serialize for OrDefault<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match (self.0, self.1) {
            (Some(v), _) => v.serialize(s),
            (None, Fallback::Auto) => s.serialize_str("auto"),
            (None, Fallback::Empty) => s.serialize_map(Some(0))?.end(),
            (None, Fallback::TextFormat) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("format", &TextType { kind: "text" })?;
                m.end()
            }
        }
    }
}

#[derive(Serialize)]
struct TextType {
    #[serde(rename = "type")]
    kind: &'static str,
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

/// `incomplete_details`.
#[derive(Serialize)]
pub(super) struct Reason {
    reason: &'static str,
}

/// The response object, serialised straight from what it borrows (no `Value` tree is built).
#[derive(Serialize)]
pub(super) struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<u64>,
    status: &'static str,
    background: bool,
    error: Option<&'a Value>,
    incomplete_details: Option<Reason>,
    model: &'a str,
    output: &'a [Item],
    previous_response_id: Option<&'a str>,
    /// Nothing is stored, whatever `store` asked.
    store: bool,
    truncation: &'static str,
    instructions: &'a Option<String>,
    max_output_tokens: Option<u64>,
    parallel_tool_calls: bool,
    reasoning: &'a Reasoning,
    temperature: Option<f64>,
    top_p: Option<f64>,
    text: OrDefault<'a>,
    tool_choice: OrDefault<'a>,
    tools: &'a [Value],
    metadata: OrDefault<'a>,
    user: &'a Option<String>,
    usage: Option<Usage>,
}

impl Meta {
    /// The response object with this status, output and usage.
    pub fn object<'a>(&'a self, end: &'a Ending<'_>, output: &'a [Item]) -> ResponseObject<'a> {
        ResponseObject {
            id: &self.id,
            object: "response",
            created_at: self.created_at,
            completed_at: end.completed.then_some(self.created_at),
            status: end.status,
            background: false,
            error: end.error.as_ref(),
            incomplete_details: end.incomplete.map(|reason| Reason { reason }),
            model: &self.model,
            output,
            previous_response_id: None,
            store: false,
            truncation: "disabled",
            instructions: &self.echo.instructions,
            max_output_tokens: self.echo.max_output_tokens,
            parallel_tool_calls: self.echo.parallel_tool_calls,
            reasoning: &self.echo.reasoning,
            temperature: self.echo.temperature,
            top_p: self.echo.top_p,
            text: OrDefault(&self.echo.text, Fallback::TextFormat),
            tool_choice: OrDefault(&self.echo.tool_choice, Fallback::Auto),
            tools: &self.echo.tools,
            metadata: OrDefault(&self.echo.metadata, Fallback::Empty),
            user: &self.echo.user,
            usage: end.usage.map(usage),
        }
    }
}

/// Responses `usage`.
#[derive(Serialize)]
pub(super) struct Usage {
    input_tokens: u64,
    input_tokens_details: Cached,
    output_tokens: u64,
    output_tokens_details: ReasoningTokens,
    total_tokens: u64,
}

#[derive(Serialize)]
struct Cached {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
}

/// Responses `usage` from Gemini's `usageMetadata`.
pub(super) fn usage(u: &UsageMetadata) -> Usage {
    let (input, output) = (u.prompt(), u.completion());
    Usage {
        input_tokens: input,
        input_tokens_details: Cached {
            cached_tokens: u.cached_content_token_count.unwrap_or(0),
        },
        output_tokens: output,
        output_tokens_details: ReasoningTokens {
            reasoning_tokens: u.thoughts_token_count.unwrap_or(0),
        },
        total_tokens: u.total_token_count.unwrap_or(input + output),
    }
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
        completed: true,
    };
    crate::convert::to_json(&meta.object(&end, &out.items), gemini.len() + 1024)
        .map_err(|e| GatewayError::internal(e.to_string()))
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
            echo: Echo::default(),
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
