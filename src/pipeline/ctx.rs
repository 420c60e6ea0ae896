//! Per-request state: one `ReqCtx` per request, owned by Pingora, dropped when the request ends.

use crate::error::{GatewayError, Surface};
use crate::model::{ModelId, Resource};
use crate::upstream::Fault;
use bytes::Bytes;
use std::net::IpAddr;
use std::time::Instant;

/// Who the client is, once the auth stage has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId {
    /// Fingerprint of the credential (never the credential), shared with the auth stage's table.
    pub id: std::sync::Arc<str>,
    pub admin: bool,
}

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

/// The request the upstream exchange will send (minus the key, chosen per attempt).
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: http::Method,
    /// Resource under the API version, built from a validated model id and method only.
    pub resource: Resource,
    /// Query string to forward (built by the gateway from known parameters), without `?`.
    pub query: Option<String>,
    /// Body to send on every attempt (shared, never copied).
    pub body: Option<Bytes>,
    pub framing: Framing,
}

/// One upstream attempt, as recorded for logs and metrics.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub key: usize,
    pub status: Option<u16>,
    /// `ok` or a [`Fault::kind`].
    pub outcome: &'static str,
}

/// Token counts reported by Gemini's `usageMetadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt: u64,
    pub candidates: u64,
    pub thoughts: u64,
    pub total: u64,
}

/// Per-request state shared by the filter stages.
#[derive(Debug)]
pub struct ReqCtx {
    pub started: Instant,
    pub surface: Surface,
    pub client: Option<ClientId>,
    pub client_ip: Option<IpAddr>,
    /// Model named by the request (validated), without a `models/` prefix.
    pub model: Option<ModelId>,
    /// The name the model's per-model state is kept under (itself when known, else `other`); set
    /// once when the attempts start.
    pub bucket: Option<std::sync::Arc<str>>,
    pub upstream: Option<UpstreamRequest>,
    /// Keys already tried in this request.
    pub tried: Vec<usize>,
    pub attempts: Vec<AttemptRecord>,
    /// The key of the attempt in flight.
    pub key: Option<usize>,
    /// The last retryable fault seen in this request.
    pub last_fault: Option<Fault>,
    /// Status sent to the client (0 until a response header went out).
    pub status: u16,
    /// True once response bytes reached the client: no retry is possible after that.
    pub response_started: bool,
    /// The client went away before the answer was complete.
    pub cancelled: bool,
    /// The upstream failed after the response started.
    pub midstream_error: Option<&'static str>,
    pub error: Option<GatewayError>,
    pub usage: Option<TokenUsage>,
    /// Last bytes of the upstream answer (for usage accounting), bounded.
    pub tail: Vec<u8>,
    pub bytes_out: u64,
    /// Read the whole upstream answer before sending anything, so stages can transform it or turn it
    /// into an error (OpenAI JSON answers). Streams are never buffered.
    pub buffer_response: bool,
    /// Estimated input tokens of the upstream request (for quota pre-checks).
    pub est_tokens: u64,
    /// Whether the upstream call counts against the model's generate/embed quota.
    pub counts_quota: bool,
    /// Upstream time to response header of the attempt that answered.
    pub upstream_ttfb: Option<std::time::Duration>,
    /// Time from the request's start to the response header reaching the client.
    pub first_byte: Option<std::time::Duration>,
    /// Counts this request as in flight for the shutdown grace period until it is dropped.
    pub inflight: Option<crate::drain::InFlight>,
    /// State of the OpenAI translation for `/v1` requests.
    pub openai: Option<Box<crate::filters::openai_compat::OpenAiState>>,
}

impl Default for ReqCtx {
    fn default() -> Self {
        ReqCtx {
            started: Instant::now(),
            surface: Surface::Plain,
            client: None,
            client_ip: None,
            model: None,
            bucket: None,
            upstream: None,
            tried: Vec::new(),
            attempts: Vec::new(),
            key: None,
            last_fault: None,
            status: 0,
            response_started: false,
            cancelled: false,
            midstream_error: None,
            error: None,
            usage: None,
            tail: Vec::new(),
            bytes_out: 0,
            buffer_response: false,
            est_tokens: 0,
            counts_quota: false,
            upstream_ttfb: None,
            first_byte: None,
            inflight: None,
            openai: None,
        }
    }
}
