//! The gateway's one error type, rendered in each API surface's own envelope.

use bytes::Bytes;
use serde_json::json;
use std::time::Duration;

/// Which API the client spoke; decides the error envelope and stream framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// Gemini-native API under `/v2` and `/v1beta`.
    Gemini,
    /// OpenAI-compatible API under `/v1`.
    OpenAi,
    /// Anything else (admin, health, unknown paths).
    Plain,
}

impl Surface {
    /// The surface a request path belongs to.
    pub fn of_path(path: &str) -> Surface {
        if path.starts_with("/v2/")
            || path == "/v2"
            || path.starts_with("/v1beta/")
            || path == "/v1beta"
        {
            Surface::Gemini
        } else if path.starts_with("/v1/") || path == "/v1" {
            Surface::OpenAi
        } else {
            Surface::Plain
        }
    }
}

/// A failure the gateway answers with: its HTTP status, a client-safe message, a metric kind.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: u16,
    /// Low-cardinality label for metrics and logs.
    pub kind: &'static str,
    /// Client-safe message; never contains a secret.
    pub message: String,
    /// `Retry-After` to send, if any.
    pub retry_after: Option<Duration>,
    /// The upstream's own Gemini error body, passed through on the Gemini surface.
    pub upstream_body: Option<Bytes>,
    /// The request parameter at fault, if known (OpenAI `param`).
    pub param: Option<String>,
}

impl GatewayError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        GatewayError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
            upstream_body: None,
            param: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "unauthorized",
            "Missing or invalid API key for this gateway.",
        )
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", message)
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            format!("Request body exceeds the gateway limit of {limit} bytes."),
        )
    }
    pub fn unsupported_media_type(got: &str) -> Self {
        Self::new(
            415,
            "unsupported_media_type",
            format!("Content-Type must be application/json (got {got:?})."),
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, "upstream_error", message)
    }
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(504, "upstream_timeout", message)
    }

    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
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

    /// Retry-After in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(retry_after_secs)
    }

    /// The response body in the surface's envelope.
    pub fn body(&self, surface: Surface) -> Bytes {
        match surface {
            Surface::Gemini => {
                if let Some(b) = &self.upstream_body {
                    return b.clone();
                }
                Bytes::from(
                    json!({"error": {"code": self.status, "message": self.message, "status": grpc_status(self.status)}})
                        .to_string(),
                )
            }
            Surface::OpenAi => {
                let (etype, code) = openai_type_code(self.status, self.kind);
                Bytes::from(
                    json!({"error": {"message": self.message, "type": etype, "param": self.param, "code": code}})
                        .to_string(),
                )
            }
            Surface::Plain => Bytes::from(
                json!({"error": {"code": self.status, "message": self.message}}).to_string(),
            ),
        }
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

/// The `google.rpc.Code` name Google uses for an HTTP status.
pub fn grpc_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 | 415 => "INVALID_ARGUMENT",
        409 => "ABORTED",
        413 | 431 => "INVALID_ARGUMENT",
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

/// OpenAI error `type` and `code` for a status and gateway kind.
fn openai_type_code(status: u16, kind: &str) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        404 if kind == "model_not_found" => ("invalid_request_error", Some("model_not_found")),
        404 => ("invalid_request_error", None),
        413 => ("invalid_request_error", Some("request_too_large")),
        431 => ("invalid_request_error", Some("request_header_too_large")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        s if s >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_by_path() {
        assert_eq!(Surface::of_path("/v2/models"), Surface::Gemini);
        assert_eq!(
            Surface::of_path("/v1beta/models/x:generateContent"),
            Surface::Gemini
        );
        assert_eq!(Surface::of_path("/v1/chat/completions"), Surface::OpenAi);
        assert_eq!(Surface::of_path("/v1betax"), Surface::Plain);
        assert_eq!(Surface::of_path("/"), Surface::Plain);
    }

    #[test]
    fn gemini_envelope() {
        let e = GatewayError::bad_request("bad thing");
        let v: serde_json::Value = serde_json::from_slice(&e.body(Surface::Gemini)).unwrap();
        assert_eq!(v["error"]["code"], 400);
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(v["error"]["message"], "bad thing");
    }

    #[test]
    fn openai_envelope() {
        let e = GatewayError::unauthorized();
        let v: serde_json::Value = serde_json::from_slice(&e.body(Surface::OpenAi)).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert!(v["error"]["param"].is_null());
        let e = GatewayError::new(429, "no_key", "x");
        let v: serde_json::Value = serde_json::from_slice(&e.body(Surface::OpenAi)).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
    }

    #[test]
    fn upstream_body_passes_through_on_gemini_only() {
        let e = GatewayError::new(400, "client_error", "upstream said no")
            .with_upstream_body(Bytes::from_static(b"{\"error\":{\"code\":400}}"));
        assert_eq!(&e.body(Surface::Gemini)[..], b"{\"error\":{\"code\":400}}");
        let v: serde_json::Value = serde_json::from_slice(&e.body(Surface::OpenAi)).unwrap();
        assert_eq!(v["error"]["message"], "upstream said no");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
