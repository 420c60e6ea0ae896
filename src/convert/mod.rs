//! Pure translation between the OpenAI Chat Completions / Embeddings / Models API and Gemini's native API.
//!
//! Nothing here does I/O: the pipeline hands bytes in and gets bytes out. The request side
//! ([`chat_request`], [`embeddings_request`]) validates and rewrites an OpenAI body into a Gemini
//! body; the response side ([`chat_response`], [`ChatStream`], [`embeddings_response`],
//! [`gemini_model_page`]) turns Gemini answers back into OpenAI shapes. The full field-by-field
//! mapping is documented in `docs/openai-mapping.md`.

mod b64;
mod embed;
mod gemini;
mod models;
mod request;
mod response;
mod schema;
mod stream;

use crate::model::ModelId;
use std::fmt;

pub use embed::{embeddings_request, embeddings_response};
pub use models::{gemini_model_page, openai_model, openai_model_list};
pub use request::chat_request;
pub use response::chat_response;
pub use stream::ChatStream;

/// A request that cannot be translated: becomes a 400 in OpenAI's envelope naming `param`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertError {
    /// HTTP status to answer with (400 for anything the client sent).
    pub status: u16,
    /// OpenAI error `code`, when there is a meaningful one (`content_filter`, `unsupported_parameter`, ...).
    pub code: Option<&'static str>,
    /// The request parameter at fault, as a path (`messages[2].content[1].image_url.url`).
    pub param: Option<String>,
    /// Client-safe explanation.
    pub message: String,
}

impl ConvertError {
    /// A 400 naming the parameter at fault.
    pub(crate) fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ConvertError {
            status: 400,
            code: None,
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// A 400 for a parameter the gateway understands but cannot honour against Gemini.
    pub(crate) fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        ConvertError {
            status: 400,
            code: Some("unsupported_parameter"),
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// A 400 about the request as a whole (body not JSON, not an object).
    pub(crate) fn body(message: impl Into<String>) -> Self {
        ConvertError {
            status: 400,
            code: None,
            param: None,
            message: message.into(),
        }
    }

    /// A 502: the upstream answer could not be understood.
    pub(crate) fn upstream(message: impl Into<String>) -> Self {
        ConvertError {
            status: 502,
            code: None,
            param: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(p) => write!(f, "{} (param {p})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Gateway options that shape the translation (from the gateway's config).
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Threshold sent for every harm category: `"BLOCK_NONE"` (default) or `"OFF"`
    /// (`DISABLE_SAFETY_FILTERING=true`).
    pub safety_threshold: &'static str,
    /// Roo Code compatibility: add `line_count` to `write_to_file` calls that lack it.
    pub roo_line_count: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            safety_threshold: "BLOCK_NONE",
            roo_line_count: true,
        }
    }
}

/// Facts the response side needs, fixed at request time.
#[derive(Debug, Clone)]
pub struct ChatMeta {
    /// `chatcmpl-...`, the same on every chunk.
    pub id: String,
    /// Unix seconds, the same on every chunk.
    pub created: u64,
    /// The model the client asked for (bare id), echoed as `model`.
    pub model: String,
    /// Thought parts become `reasoning_content`; otherwise they are dropped.
    pub include_thoughts: bool,
    /// Streaming: `"usage": null` on every chunk and a final usage chunk.
    pub include_usage: bool,
    /// Roo Code `write_to_file` `line_count` fix-up.
    pub roo_line_count: bool,
}

/// A translated chat request, ready to send upstream.
#[derive(Debug, Clone)]
pub struct ChatPlan {
    /// Validated model id for the upstream path (`models/` stripped).
    pub model: ModelId,
    /// `:streamGenerateContent?alt=sse` when true, `:generateContent` otherwise.
    pub stream: bool,
    /// Gemini `GenerateContentRequest` JSON.
    pub body: Vec<u8>,
    /// What the response side needs.
    pub meta: ChatMeta,
}

/// A translated embeddings request, ready to send to `:batchEmbedContents`.
#[derive(Debug, Clone)]
pub struct EmbedPlan {
    /// Validated model id.
    pub model: ModelId,
    /// `batchEmbedContents` JSON.
    pub body: Vec<u8>,
    /// The client asked for `encoding_format: "base64"`.
    pub base64: bool,
    /// Number of inputs (and so of expected embeddings).
    pub inputs: usize,
    /// Estimate: characters / 4 rounded up, per input, summed.
    pub prompt_tokens: u64,
}

/// The request's `model`: present, a string, and a valid Gemini model id (one validator for every
/// surface: [`crate::model::ModelId`]).
pub(crate) fn model_param(v: Option<&serde_json::Value>) -> Result<ModelId, ConvertError> {
    match v {
        Some(serde_json::Value::String(m)) => ModelId::parse(m.trim())
            .map_err(|e| ConvertError::invalid("model", e.message().to_string())),
        Some(_) => Err(ConvertError::invalid(
            "model",
            "`model` must be a non-empty string.",
        )),
        None => Err(ConvertError::invalid("model", "`model` is required.")),
    }
}

/// Strip a leading `models/` from a model id.
pub(crate) fn bare_model(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// `prefix` followed by `n` random ASCII alphanumerics.
pub(crate) fn random_id(prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    for _ in 0..n {
        s.push(fastrand::alphanumeric());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = ConvertOptions::default();
        assert_eq!(o.safety_threshold, "BLOCK_NONE");
        assert!(o.roo_line_count);
    }

    #[test]
    fn bare_model_strips_prefix_once() {
        assert_eq!(bare_model("models/gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(bare_model("gemini-2.5-flash"), "gemini-2.5-flash");
    }

    #[test]
    fn random_ids_have_shape() {
        let a = random_id("call_", 24);
        assert_eq!(a.len(), 29);
        assert!(a[5..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_id("call_", 24));
    }

    #[test]
    fn error_display_names_param() {
        let e = ConvertError::invalid("messages", "empty");
        assert_eq!(e.to_string(), "empty (param messages)");
        assert_eq!(e.status, 400);
    }
}
