//! The gateway's one error type: a closed set of kinds, each with its status, metric label, OpenAI
//! `type`/`code`, Gemini status and `Retry-After` behaviour decided in one place, rendered in each
//! API surface's own envelope — as a whole answer, or as the terminal event of a stream.

use crate::pipeline::route::Framing;
use bytes::Bytes;
use serde_json::json;
use std::time::Duration;

/// The error envelope (and stream framing) of the API a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// Gemini's `{"error":{code,message,status}}` (`/v2`, `/v1beta`).
    Gemini,
    /// OpenAI's `{"error":{message,type,param,code}}` (`/v1`).
    OpenAi,
    /// Anthropic's `{"type":"error","error":{type,message}}` (`/v1/messages`).
    Anthropic,
    /// `{"error":{code,message}}` for anything else (unknown paths, the admin API).
    Plain,
}

/// Why the gateway answered with an error. Every property of an error answer is a function of its
/// kind (see the `impl`), so call sites choose a kind, never a status or a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (body, parameters, model name, path parameters).
    BadRequest,
    /// A parameter the gateway understands but cannot honour against Gemini.
    UnsupportedParameter,
    /// Gemini blocked the prompt (OpenAI's `content_filter`).
    ContentFilter,
    /// Missing or wrong client credential (also: expired, disabled).
    Unauthorized,
    /// A valid credential that may not do this (a model outside its allow-list, an admin route).
    Forbidden,
    /// No such route on this surface.
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    HeaderTooLarge,
    UnsupportedMediaType,
    /// The client is over its per-IP (or per-credential) request limits.
    ClientRateLimited,
    /// Google says the model does not exist (or lacks the method).
    ModelNotFound,
    /// Any other 4xx from Google, passed to the client with Google's status.
    UpstreamRejected(u16),
    /// Every key is out of quota for the model right now.
    KeysOutOfQuota,
    /// Every key this request tried was rate-limited by Google.
    UpstreamRateLimited,
    /// Google is failing (5xx, connection failures) on the keys tried or cooling.
    UpstreamUnavailable,
    /// Google did not answer in time.
    UpstreamTimeout,
    /// No key is usable at all: every configured key was rejected by Google.
    NoValidKey,
    /// Google's answer could not be used (unreadable, truncated).
    BadGateway,
    /// The upstream connection failed after the answer started (a stream's terminal event).
    UpstreamCut,
    /// The upstream went quiet for longer than the read timeout after the answer started.
    UpstreamStalled,
    /// The shutdown grace period ended before the answer did.
    ShuttingDown,
    /// A bug or an impossible state in the gateway.
    Internal,
}

impl ErrorKind {
    /// The HTTP status of the answer.
    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            BadRequest | UnsupportedParameter | ContentFilter => 400,
            Unauthorized => 401,
            Forbidden => 403,
            NotFound | ModelNotFound => 404,
            MethodNotAllowed => 405,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            HeaderTooLarge => 431,
            ClientRateLimited | KeysOutOfQuota | UpstreamRateLimited => 429,
            UpstreamRejected(s) => s,
            Internal => 500,
            BadGateway | UpstreamCut => 502,
            UpstreamUnavailable | NoValidKey | ShuttingDown => 503,
            UpstreamTimeout | UpstreamStalled => 504,
        }
    }

    /// The low-cardinality label of metrics and the access log.
    pub fn label(self) -> &'static str {
        use ErrorKind::*;
        match self {
            BadRequest => "bad_request",
            UnsupportedParameter => "unsupported_parameter",
            ContentFilter => "content_filter",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            HeaderTooLarge => "header_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            ClientRateLimited => "client_rate_limited",
            ModelNotFound => "model_not_found",
            UpstreamRejected(_) => "client_error",
            KeysOutOfQuota => "no_key_available",
            UpstreamRateLimited => "upstream_rate_limited",
            UpstreamUnavailable => "upstream_unavailable",
            UpstreamTimeout => "upstream_timeout",
            NoValidKey => "no_valid_key",
            BadGateway => "upstream_error",
            UpstreamCut => "upstream_cut",
            UpstreamStalled => "upstream_stalled",
            ShuttingDown => "shutting_down",
            Internal => "internal",
        }
    }

    /// OpenAI's error `type` and `code`.
    pub fn openai(self) -> (&'static str, Option<&'static str>) {
        use ErrorKind::*;
        match self {
            Unauthorized => ("invalid_request_error", Some("invalid_api_key")),
            UpstreamRejected(401) => ("authentication_error", None),
            Forbidden => ("permission_error", Some("model_not_allowed")),
            UpstreamRejected(403) => ("permission_error", None),
            ModelNotFound => ("invalid_request_error", Some("model_not_found")),
            PayloadTooLarge => ("invalid_request_error", Some("request_too_large")),
            HeaderTooLarge => ("invalid_request_error", Some("request_header_too_large")),
            UnsupportedParameter => ("invalid_request_error", Some("unsupported_parameter")),
            ContentFilter => ("invalid_request_error", Some("content_filter")),
            ClientRateLimited | KeysOutOfQuota | UpstreamRateLimited => {
                ("rate_limit_error", Some("rate_limit_exceeded"))
            }
            UpstreamCut | UpstreamStalled => ("server_error", Some("upstream_stream_error")),
            ShuttingDown => ("server_error", Some("gateway_shutting_down")),
            k if k.status() >= 500 => ("server_error", None),
            _ => ("invalid_request_error", None),
        }
    }

    /// Anthropic's error `type`.
    pub fn anthropic(self) -> &'static str {
        use ErrorKind::*;
        match self {
            Unauthorized | UpstreamRejected(401) => "authentication_error",
            UpstreamRejected(403) | Forbidden => "permission_error",
            NotFound | ModelNotFound => "not_found_error",
            PayloadTooLarge => "request_too_large",
            ClientRateLimited | KeysOutOfQuota | UpstreamRateLimited => "rate_limit_error",
            UpstreamUnavailable | NoValidKey | ShuttingDown => "overloaded_error",
            k if k.status() >= 500 => "api_error",
            _ => "invalid_request_error",
        }
    }

    /// Whether the answer carries `Retry-After` (the value comes with the error).
    pub fn retries_after(self) -> bool {
        use ErrorKind::*;
        matches!(
            self,
            ClientRateLimited
                | KeysOutOfQuota
                | UpstreamRateLimited
                | UpstreamUnavailable
                | UpstreamTimeout
                | ShuttingDown
        )
    }

    /// Whether the client connection cannot carry another request after this answer (the body
    /// was not read).
    pub fn closes_connection(self) -> bool {
        matches!(self, ErrorKind::PayloadTooLarge | ErrorKind::HeaderTooLarge)
    }
}

/// A failure the gateway answers with: its kind, a client-safe message, and what goes with it.
#[derive(Debug, Clone)]
pub struct GatewayError {
    kind: ErrorKind,
    /// Client-safe; never contains a secret.
    message: String,
    retry_after: Option<Duration>,
    /// Google's own error body, passed through on the Gemini surface.
    upstream_body: Option<Bytes>,
    /// The request parameter at fault (OpenAI `param`).
    param: Option<String>,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            message: message.into(),
            retry_after: None,
            upstream_body: None,
            param: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorKind::Unauthorized,
            "Missing or invalid API key for this gateway.",
        )
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::MethodNotAllowed, message)
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorKind::PayloadTooLarge,
            format!("Request body exceeds the gateway limit of {limit} bytes."),
        )
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedMediaType, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// `Retry-After` to send; kept only for kinds that carry one.
    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d.filter(|_| self.kind.retries_after());
        self
    }
    pub fn with_param(mut self, p: impl Into<String>) -> Self {
        self.param = Some(p.into());
        self
    }
    pub fn with_upstream_body(mut self, body: Bytes) -> Self {
        self.upstream_body = Some(body);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn status(&self) -> u16 {
        self.kind.status()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// Retry-After in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(retry_after_secs)
    }

    /// Whether the body is Google's own (its content type is Google's too).
    pub fn is_upstream_body(&self, envelope: Envelope) -> bool {
        envelope == Envelope::Gemini && self.upstream_body.is_some()
    }

    /// The error object of the envelope (without any framing).
    fn object(&self, envelope: Envelope) -> serde_json::Value {
        let status = self.status();
        match envelope {
            Envelope::Gemini => {
                json!({"error": {"code": status, "message": self.message, "status": grpc_status(status)}})
            }
            Envelope::OpenAi => {
                let (etype, code) = self.kind.openai();
                json!({"error": {"message": self.message, "type": etype, "param": self.param, "code": code}})
            }
            Envelope::Anthropic => {
                // Anthropic's envelope has no `param`: the message names it.
                let message = match &self.param {
                    Some(p) if !self.message.contains(p.as_str()) => {
                        format!("{p}: {}", self.message)
                    }
                    _ => self.message.clone(),
                };
                json!({"type": "error", "error": {"type": self.kind.anthropic(), "message": message}})
            }
            Envelope::Plain => json!({"error": {"code": status, "message": self.message}}),
        }
    }

    /// The response body in the envelope.
    pub fn body(&self, envelope: Envelope) -> Bytes {
        if let (Envelope::Gemini, Some(b)) = (envelope, &self.upstream_body) {
            return b.clone();
        }
        Bytes::from(self.object(envelope).to_string())
    }

    /// The last piece of a stream that this error ends, in the stream's framing: an SSE `data:`
    /// event, or the closing element of Gemini's JSON-array stream. `None` for a plain JSON answer
    /// (nothing can be appended to it; it is cut instead).
    pub fn stream_event(&self, envelope: Envelope, framing: Framing) -> Option<Bytes> {
        let obj = self.object(envelope);
        Some(Bytes::from(match (envelope, framing) {
            (_, Framing::Json) => return None,
            (Envelope::OpenAi, _) => format!("data: {obj}\n\n"),
            (Envelope::Anthropic, _) => format!("event: error\ndata: {obj}\n\n"),
            (_, Framing::Sse) => format!("data: {obj}\r\n\r\n"),
            (_, Framing::JsonArray) => format!(",\r\n{obj}]"),
        }))
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.label())
    }
}

impl std::error::Error for GatewayError {}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("model_limits.path: {0}")]
    ModelLimits(String),
    #[error("keys[{index}]: {reason}")]
    Key { index: usize, reason: &'static str },
    #[error("upstream.base_url: {0}")]
    Upstream(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("admin routes: {0}")]
    Admin(String),
    #[error("demo: {0}")]
    Demo(String),
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

/// The `google.rpc.Code` name Google uses for an HTTP status.
pub fn grpc_status(status: u16) -> &'static str {
    match status {
        400 | 405 | 413 | 415 | 431 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ if status < 500 => "FAILED_PRECONDITION",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn gemini_envelope() {
        let e = GatewayError::bad_request("bad thing");
        let v = parse(&e.body(Envelope::Gemini));
        assert_eq!(v["error"]["code"], 400);
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(v["error"]["message"], "bad thing");
    }

    #[test]
    fn openai_envelope() {
        let e = GatewayError::unauthorized();
        let v = parse(&e.body(Envelope::OpenAi));
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert!(v["error"]["param"].is_null());
        let e = GatewayError::new(ErrorKind::KeysOutOfQuota, "x");
        let v = parse(&e.body(Envelope::OpenAi));
        assert_eq!(v["error"]["type"], "rate_limit_error");
        let e = GatewayError::new(ErrorKind::UpstreamUnavailable, "x");
        assert_eq!(
            parse(&e.body(Envelope::OpenAi))["error"]["type"],
            "server_error"
        );
    }

    #[test]
    fn upstream_body_passes_through_on_gemini_only() {
        let e = GatewayError::new(ErrorKind::UpstreamRejected(400), "upstream said no")
            .with_upstream_body(Bytes::from_static(b"{\"error\":{\"code\":400}}"));
        assert_eq!(&e.body(Envelope::Gemini)[..], b"{\"error\":{\"code\":400}}");
        let v = parse(&e.body(Envelope::OpenAi));
        assert_eq!(v["error"]["message"], "upstream said no");
    }

    #[test]
    fn retry_after_only_where_the_kind_has_one() {
        let d = Some(Duration::from_millis(1500));
        let e = GatewayError::new(ErrorKind::KeysOutOfQuota, "x").with_retry_after(d);
        assert_eq!(e.retry_after_secs(), Some(2));
        let e = GatewayError::bad_request("x").with_retry_after(d);
        assert_eq!(e.retry_after_secs(), None);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }

    #[test]
    fn stream_events_in_each_framing() {
        let e = GatewayError::new(ErrorKind::UpstreamCut, "cut");
        let sse = e.stream_event(Envelope::Gemini, Framing::Sse).unwrap();
        assert!(sse.starts_with(b"data: {") && sse.ends_with(b"}\r\n\r\n"));
        assert_eq!(
            parse(&sse[6..sse.len() - 4])["error"]["status"],
            "UNAVAILABLE"
        );
        let arr = e
            .stream_event(Envelope::Gemini, Framing::JsonArray)
            .unwrap();
        assert!(arr.starts_with(b",\r\n{") && arr.ends_with(b"}]"));
        let oa = e.stream_event(Envelope::OpenAi, Framing::Sse).unwrap();
        assert_eq!(
            parse(&oa[6..oa.len() - 2])["error"]["code"],
            "upstream_stream_error"
        );
        assert!(e.stream_event(Envelope::Gemini, Framing::Json).is_none());
    }

    #[test]
    fn status_and_label_follow_the_kind() {
        assert_eq!(ErrorKind::UpstreamRejected(409).status(), 409);
        assert_eq!(ErrorKind::UpstreamRejected(409).label(), "client_error");
        assert_eq!(ErrorKind::KeysOutOfQuota.status(), 429);
        assert_eq!(ErrorKind::UpstreamUnavailable.status(), 503);
        assert_ne!(
            ErrorKind::KeysOutOfQuota.label(),
            ErrorKind::NoValidKey.label()
        );
    }
}
