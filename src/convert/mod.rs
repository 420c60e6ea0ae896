//! Pure translation between the OpenAI Chat Completions / Embeddings / Models API and Gemini's native API.
//!
//! Nothing here does I/O: the pipeline hands bytes in and gets bytes out. The request side
//! ([`chat_request`], [`embeddings_request`]) validates and rewrites an OpenAI body into a Gemini
//! body; the response side ([`chat_response`], [`ChatStream`], [`embeddings_response`],
//! [`gemini_model_page`]) turns Gemini answers back into OpenAI shapes. The full field-by-field
//! mapping is documented in `docs/openai-mapping.md`.

pub(crate) mod b64;
mod embed;
pub(crate) mod gemini;
pub(crate) mod gemini_request;
pub(crate) mod json_out;
pub(crate) mod json_text;
pub(crate) mod media;
mod models;
mod request;
mod response;
pub(crate) mod schema;
pub(crate) mod sse;
mod stream;
pub(crate) mod stream_event;
pub(crate) mod thinking;

use crate::error::{ErrorKind, GatewayError};
use crate::model::ModelId;
use std::fmt;

pub use embed::{embeddings_request, embeddings_response};
pub use models::{gemini_model_page, openai_model, openai_model_list};
pub use request::chat_request;
pub use response::chat_response;
pub use stream::ChatStream;

/// Why a translation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertKind {
    /// The client sent something invalid (400).
    Invalid,
    /// A parameter the gateway understands but cannot honour against Gemini (400).
    Unsupported,
    /// Gemini blocked the prompt (400 `content_filter`).
    ContentFilter,
    /// Gemini's answer could not be understood (502).
    Upstream,
    /// Gemini answered with an error object of its own, with this HTTP status.
    UpstreamStatus(u16),
    /// The gateway could not encode what it built (500).
    Internal,
}

/// A request or answer that cannot be translated. Converts into a [`GatewayError`] (OpenAI's
/// envelope names `param`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertError {
    pub kind: ConvertKind,
    /// The request parameter at fault, as a path (`messages[2].content[1].image_url.url`).
    pub param: Option<String>,
    /// Client-safe explanation.
    pub message: String,
}

impl ConvertError {
    /// A 400 naming the parameter at fault.
    pub(crate) fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ConvertError {
            kind: ConvertKind::Invalid,
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// A 400 for a parameter the gateway understands but cannot honour against Gemini.
    pub(crate) fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        ConvertError {
            kind: ConvertKind::Unsupported,
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// A 400 about the request as a whole (body not JSON, not an object).
    pub(crate) fn body(message: impl Into<String>) -> Self {
        ConvertError {
            kind: ConvertKind::Invalid,
            param: None,
            message: message.into(),
        }
    }

    /// A 502: the upstream answer could not be understood.
    pub(crate) fn upstream(message: impl Into<String>) -> Self {
        ConvertError {
            kind: ConvertKind::Upstream,
            param: None,
            message: message.into(),
        }
    }

    /// The gateway error this becomes.
    pub fn kind(&self) -> ErrorKind {
        match self.kind {
            ConvertKind::Invalid => ErrorKind::BadRequest,
            ConvertKind::Unsupported => ErrorKind::UnsupportedParameter,
            ConvertKind::ContentFilter => ErrorKind::ContentFilter,
            ConvertKind::Upstream => ErrorKind::BadGateway,
            ConvertKind::UpstreamStatus(404) => ErrorKind::ModelNotFound,
            ConvertKind::UpstreamStatus(s) if (400..500).contains(&s) && s != 429 => {
                ErrorKind::UpstreamRejected(s)
            }
            ConvertKind::UpstreamStatus(429) => ErrorKind::UpstreamRateLimited,
            ConvertKind::UpstreamStatus(503) => ErrorKind::UpstreamUnavailable,
            ConvertKind::UpstreamStatus(504) => ErrorKind::UpstreamTimeout,
            ConvertKind::UpstreamStatus(_) => ErrorKind::BadGateway,
            ConvertKind::Internal => ErrorKind::Internal,
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        self.kind().status()
    }

    /// The OpenAI error `code` of the answer.
    pub fn code(&self) -> Option<&'static str> {
        self.kind().openai().1
    }
}

impl From<ConvertError> for GatewayError {
    fn from(e: ConvertError) -> GatewayError {
        let g = GatewayError::new(e.kind(), e.message);
        match e.param {
            Some(p) => g.with_param(p),
            None => g,
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

/// Token counts of an answer, from Gemini's `usageMetadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt: u64,
    pub candidates: u64,
    pub thoughts: u64,
    pub total: u64,
}

impl TokenUsage {
    /// Output tokens as Google bills them: candidates plus thoughts.
    pub fn output(&self) -> u64 {
        self.candidates + self.thoughts
    }
}

/// The last `usageMetadata` in the tail of an answer (a whole JSON answer or stream events:
/// in streams it is cumulative, so the last one counts), read with the converter's own type.
pub fn last_usage(tail: &[u8]) -> Option<TokenUsage> {
    const NEEDLE: &[u8] = b"\"usageMetadata\"";
    let pos = tail.windows(NEEDLE.len()).rposition(|w| w == NEEDLE)?;
    let rest = &tail[pos + NEEDLE.len()..];
    let colon = rest.iter().position(|b| *b == b':')?;
    let mut it = serde_json::Deserializer::from_slice(&rest[colon + 1..])
        .into_iter::<gemini::UsageMetadata>();
    let u = it.next()?.ok()?;
    Some(TokenUsage::from(&u))
}

impl From<&gemini::UsageMetadata> for TokenUsage {
    fn from(u: &gemini::UsageMetadata) -> Self {
        TokenUsage {
            prompt: u.prompt_token_count.unwrap_or(0),
            candidates: u.candidates_token_count.unwrap_or(0),
            thoughts: u.thoughts_token_count.unwrap_or(0),
            total: u.total_token_count.unwrap_or(0),
        }
    }
}

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
    /// Estimated input tokens (for the quota pre-check), from the parts as they were built.
    pub est_tokens: u64,
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
/// `v`: `None` when absent, `Some(None)` when not a string.
pub(crate) fn model_param(v: Option<Option<&str>>) -> Result<ModelId, ConvertError> {
    match v {
        Some(Some(m)) => ModelId::parse(m.trim())
            .map_err(|e| ConvertError::invalid("model", e.message().to_string())),
        Some(None) => Err(ConvertError::invalid(
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

/// Whether `id` is one [`random_id`] made with `prefix` and 24 characters (a tool-call id this
/// gateway minted, which Gemini never saw).
pub(crate) fn minted_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|r| r.len() == 24 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Serialise into a buffer of `capacity` bytes: the translating surfaces know roughly how large
/// their JSON will be, and growing a small buffer by doubling copies it several times.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(
    value: &T,
    capacity: usize,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// A byte as one of the 62 ASCII alphanumerics, as (byte × 62) ÷ 256: no division, no loop.
#[inline]
pub(crate) fn alnum(b: u8) -> u8 {
    const DIGITS: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    DIGITS[(usize::from(b) * 62) >> 8]
}

/// `prefix` followed by `n` random ASCII alphanumerics.
pub(crate) fn random_id(prefix: &str, n: usize) -> String {
    let mut s = Vec::with_capacity(prefix.len() + n);
    s.extend_from_slice(prefix.as_bytes());
    // One generator seeded from the thread's, eight characters from each 64-bit draw: each
    // random byte picks one of the 62 characters as (byte × 62) ÷ 256 — no division, no loop,
    // and the slight unevenness (some characters 5/256, others 4/256) leaves ~5.9 bits of
    // entropy per character, which is all an id needs to be unique.
    let mut rng = fastrand::Rng::new();
    let mut left = n;
    while left > 0 {
        let chars = rng.u64(..).to_le_bytes().map(alnum);
        let take = left.min(8);
        s.extend_from_slice(&chars[..take]);
        left -= take;
    }
    // Only ASCII was added to a valid prefix.
    String::from_utf8(s).unwrap_or_default()
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
        // Every one of the 62 characters turns up, and none far more often than the others.
        let mut seen = std::collections::HashMap::new();
        for _ in 0..2000 {
            for c in random_id("", 31).chars() {
                *seen.entry(c).or_insert(0u32) += 1;
            }
        }
        assert_eq!(seen.len(), 62);
        let (min, max) = (seen.values().min().unwrap(), seen.values().max().unwrap());
        assert!(*max < *min * 2, "min {min} max {max}");
    }

    #[test]
    fn error_display_names_param() {
        let e = ConvertError::invalid("messages", "empty");
        assert_eq!(e.to_string(), "empty (param messages)");
        assert_eq!(e.status(), 400);
        let g = GatewayError::from(e);
        assert_eq!(
            (g.kind(), g.param()),
            (ErrorKind::BadRequest, Some("messages"))
        );
    }

    #[test]
    fn finds_last_cumulative_usage_in_sse() {
        let sse = b"data: {\"candidates\": [],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 1,\"totalTokenCount\": 6}}\r\n\r\n\
data: {\"candidates\": [],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 9,\"totalTokenCount\": 20,\"thoughtsTokenCount\": 6},\"modelVersion\": \"m\"}\r\n\r\n";
        assert_eq!(
            last_usage(sse),
            Some(TokenUsage {
                prompt: 5,
                candidates: 9,
                thoughts: 6,
                total: 20
            })
        );
    }

    #[test]
    fn pretty_json_usage() {
        let j = b"{\n  \"candidates\": [],\n  \"usageMetadata\": {\n    \"promptTokenCount\": 11,\n    \"candidatesTokenCount\": 1,\n    \"totalTokenCount\": 46,\n    \"promptTokensDetails\": [{\"modality\": \"TEXT\", \"tokenCount\": 11}],\n    \"thoughtsTokenCount\": 34\n  },\n  \"modelVersion\": \"gemini-2.5-flash\"\n}\n";
        assert_eq!(
            last_usage(j),
            Some(TokenUsage {
                prompt: 11,
                candidates: 1,
                thoughts: 34,
                total: 46
            })
        );
        assert_eq!(last_usage(b"{\"embedding\": {}}"), None);
    }
}
