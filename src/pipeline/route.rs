//! What a surface turns a client request into: the upstream request, the model, its quota use,
//! and how the reply is handled. A [`Route`] is written once, by the surface that built it.

use crate::convert::TokenUsage;
use crate::error::GatewayError;
use crate::model::{Method, ModelId, Resource};
use bytes::Bytes;

/// How the upstream answer is framed, which decides how a mid-stream failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document.
    Json,
    /// `text/event-stream`, `data: {...}\r\n\r\n` events.
    Sse,
    /// The JSON-array stream of `streamGenerateContent` without `alt=sse`.
    JsonArray,
}

/// The request the attempt loop sends upstream (the key is added per attempt).
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: http::Method,
    /// What is addressed, built from a validated model id and method only.
    pub resource: Resource,
    /// Query string (composed by the surface from known parameters), without `?`.
    pub query: Option<String>,
    /// Body sent on every attempt (shared, never copied).
    pub body: Option<Bytes>,
    pub framing: Framing,
}

/// What the request spends of the model's quota.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuotaUse {
    /// Estimated input tokens, for the scheduler's pre-check.
    pub est_tokens: u64,
    /// Whether the call counts against the model's generate/embed quota (listing and counting
    /// tokens do not).
    pub counts: bool,
}

/// A whole-answer transform: the upstream's 2xx JSON body in, the client's body out.
pub trait BufferedReply: Send + Sync {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError>;
    /// The answer's tokens, when the transform has read them (so the log need not look for
    /// them in the answer again). Default: not read.
    fn usage(&self) -> Option<TokenUsage> {
        None
    }
}

/// A per-event transform of a streamed answer; holds the translator's state between chunks.
pub trait StreamReply: Send + Sync {
    /// Translate `chunk` (any split of the upstream bytes), appending what is ready to `out`.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>);
    /// The upstream body ended: append the closing events.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// The answer failed after the stream started (connection cut, stall, shutdown): append this
    /// API's terminal events for `error` and return true; false (the default) ends the stream
    /// with the surface envelope's error event.
    fn fail(&mut self, _error: &GatewayError, _out: &mut Vec<u8>) -> bool {
        false
    }
}

/// How the successful upstream answer reaches the client.
pub enum Reply {
    /// Byte for byte, chunk by chunk (the Gemini-native surface).
    Passthrough,
    /// Read whole, transformed, sent with its length (`application/json`).
    Buffered(Box<dyn BufferedReply>),
    /// Transformed event by event as it arrives (`text/event-stream`).
    Streamed(Box<dyn StreamReply>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reply::Passthrough => "Passthrough",
            Reply::Buffered(_) => "Buffered",
            Reply::Streamed(_) => "Streamed",
        })
    }
}

/// A routed request.
#[derive(Debug)]
pub struct Route {
    pub upstream: UpstreamRequest,
    /// The model the request names (validated), if any.
    pub model: Option<ModelId>,
    pub quota: QuotaUse,
    pub reply: Reply,
    /// The route's metric label (`generateContent`, `chat.completions`, `models`, ...).
    pub label: &'static str,
    /// An exchange to store when it succeeds (the Responses API's `store`), for the context stage.
    pub thread: Option<Box<crate::context::thread::Thread>>,
}

impl Route {
    /// A translated generate call: `generateContent`, or `streamGenerateContent?alt=sse` when the
    /// reply is a stream (the one place a translating surface's stream choice becomes a request).
    pub fn generate(
        model: ModelId,
        body: Vec<u8>,
        est_tokens: u64,
        reply: Reply,
        label: &'static str,
    ) -> Route {
        let (method, query, framing) = match reply {
            Reply::Streamed(_) => (
                Method::StreamGenerateContent,
                Some("alt=sse".to_string()),
                Framing::Sse,
            ),
            _ => (Method::GenerateContent, None, Framing::Json),
        };
        Route {
            quota: QuotaUse {
                est_tokens,
                counts: true,
            },
            upstream: UpstreamRequest {
                method: http::Method::POST,
                resource: Resource::Call(model.clone(), method),
                query,
                body: Some(Bytes::from(body)),
                framing,
            },
            model: Some(model),
            reply,
            label,
            thread: None,
        }
    }
}

/// A response given without going upstream (a cached listing, a stage's answer).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Response {
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: body.into(),
        }
    }
}

/// What a surface made of a request.
#[derive(Debug)]
pub enum Routed {
    /// Go upstream.
    Upstream(Route),
    /// Answer now (no upstream call).
    Answer(Response),
}
