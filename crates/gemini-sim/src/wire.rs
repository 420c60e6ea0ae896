//! Google's JSON byte styles (pretty 2-space bodies, compact `{"k": v,"k2": v2}` SSE events) and the response shapes.

use std::collections::BTreeMap;
use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use serde_json::Value;

/// Compact JSON in Google's SSE style: a space after each `:`, none after `,`
/// (`{"candidates": [{"content": {"parts": [{"text": "Hi"}],"role": "model"}}]}`).
pub fn to_compact_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = Serializer::with_formatter(&mut out, GoogleCompact);
    if value.serialize(&mut ser).is_err() {
        return b"{}".to_vec();
    }
    out
}

/// Pretty JSON with a 2-space indent and a final newline, as Google sends non-streamed bodies.
pub fn to_pretty_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}

/// One SSE event exactly as Google frames it: `data: <compact json>\r\n\r\n`.
pub fn sse_event<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let json = to_compact_json(value);
    let mut out = Vec::with_capacity(json.len() + 10);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

struct GoogleCompact;

impl Formatter for GoogleCompact {
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// A JSON number the way Google prints it: integers without a fraction.
pub(crate) fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        Value::from(x as i64)
    } else {
        Value::from(x)
    }
}

// ---------------------------------------------------------------- GenerateContentResponse

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateResponse {
    pub candidates: Vec<Candidate>,
    pub usage_metadata: Usage,
    pub model_version: String,
    pub response_id: String,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    pub content: Content,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<&'static str>,
    pub index: u32,
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct Content {
    pub parts: Vec<Part>,
    pub role: &'static str,
}

#[derive(Serialize, Clone, Debug)]
#[serde(untagged)]
pub(crate) enum Part {
    /// A thought summary (`includeThoughts`).
    Thought { text: String, thought: bool },
    Text {
        text: String,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<String>,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: FunctionCall,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<String>,
    },
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct FunctionCall {
    pub name: String,
    pub args: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Usage {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub total_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    pub prompt_tokens_details: Vec<ModalityCount>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModalityCount {
    pub modality: &'static str,
    pub token_count: u64,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CountTokensResponse {
    pub total_tokens: u64,
    pub prompt_tokens_details: Vec<ModalityCount>,
}

#[derive(Serialize, Debug)]
pub(crate) struct Embedding {
    pub values: Vec<f32>,
}

#[derive(Serialize, Debug)]
pub(crate) struct EmbedResponse {
    pub embedding: Embedding,
}

#[derive(Serialize, Debug)]
pub(crate) struct BatchEmbedResponse {
    pub embeddings: Vec<Embedding>,
}

// ---------------------------------------------------------------- errors (google.rpc.Status)

#[derive(Serialize, Debug)]
pub(crate) struct ErrorEnvelope {
    pub error: Status,
}

#[derive(Serialize, Debug)]
pub(crate) struct Status {
    pub code: u16,
    pub message: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
}

const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
const LOCALIZED: &str = "type.googleapis.com/google.rpc.LocalizedMessage";
const QUOTA_FAILURE: &str = "type.googleapis.com/google.rpc.QuotaFailure";
const HELP: &str = "type.googleapis.com/google.rpc.Help";
const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
const BAD_REQUEST: &str = "type.googleapis.com/google.rpc.BadRequest";

/// One entry of `error.details`, `@type` first.
#[derive(Serialize, Debug)]
#[serde(untagged)]
pub(crate) enum Detail {
    ErrorInfo {
        #[serde(rename = "@type")]
        type_url: &'static str,
        reason: &'static str,
        domain: &'static str,
        metadata: BTreeMap<&'static str, String>,
    },
    LocalizedMessage {
        #[serde(rename = "@type")]
        type_url: &'static str,
        locale: &'static str,
        message: String,
    },
    QuotaFailure {
        #[serde(rename = "@type")]
        type_url: &'static str,
        violations: Vec<QuotaViolation>,
    },
    Help {
        #[serde(rename = "@type")]
        type_url: &'static str,
        links: Vec<HelpLink>,
    },
    RetryInfo {
        #[serde(rename = "@type")]
        type_url: &'static str,
        #[serde(rename = "retryDelay")]
        retry_delay: String,
    },
    BadRequest {
        #[serde(rename = "@type")]
        type_url: &'static str,
        #[serde(rename = "fieldViolations")]
        field_violations: Vec<FieldViolation>,
    },
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QuotaViolation {
    pub quota_metric: &'static str,
    pub quota_id: &'static str,
    pub quota_dimensions: BTreeMap<&'static str, String>,
    pub quota_value: String,
}

#[derive(Serialize, Debug)]
pub(crate) struct HelpLink {
    pub description: &'static str,
    pub url: &'static str,
}

#[derive(Serialize, Debug)]
pub(crate) struct FieldViolation {
    pub description: String,
}

pub(crate) const SERVICE: &str = "generativelanguage.googleapis.com";

impl Detail {
    pub(crate) fn error_info(reason: &'static str, extra: &[(&'static str, String)]) -> Detail {
        let mut metadata = BTreeMap::new();
        metadata.insert("service", SERVICE.to_owned());
        for (k, v) in extra {
            metadata.insert(*k, v.clone());
        }
        Detail::ErrorInfo {
            type_url: ERROR_INFO,
            reason,
            domain: "googleapis.com",
            metadata,
        }
    }

    pub(crate) fn localized(message: &str) -> Detail {
        Detail::LocalizedMessage {
            type_url: LOCALIZED,
            locale: "en-US",
            message: message.to_owned(),
        }
    }

    pub(crate) fn quota_failure(violations: Vec<QuotaViolation>) -> Detail {
        Detail::QuotaFailure {
            type_url: QUOTA_FAILURE,
            violations,
        }
    }

    pub(crate) fn rate_limit_help() -> Detail {
        Detail::Help {
            type_url: HELP,
            links: vec![HelpLink {
                description: "Learn more about Gemini API quotas",
                url: "https://ai.google.dev/gemini-api/docs/rate-limits",
            }],
        }
    }

    pub(crate) fn retry_info(secs: u64) -> Detail {
        Detail::RetryInfo {
            type_url: RETRY_INFO,
            retry_delay: format!("{secs}s"),
        }
    }

    pub(crate) fn bad_request(description: &str) -> Detail {
        Detail::BadRequest {
            type_url: BAD_REQUEST,
            field_violations: vec![FieldViolation {
                description: description.to_owned(),
            }],
        }
    }
}

/// The canonical `status` string Google pairs with an HTTP code.
pub(crate) fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// A complete pretty-printed error body.
pub(crate) fn error_body(code: u16, message: &str, details: Vec<Detail>) -> Vec<u8> {
    to_pretty_json(&ErrorEnvelope {
        error: Status {
            code,
            message: message.to_owned(),
            status: status_name(code),
            details,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_matches_google_style() {
        let r = GenerateResponse {
            candidates: vec![Candidate {
                content: Content {
                    parts: vec![Part::Text {
                        text: "Paris".into(),
                        thought_signature: None,
                    }],
                    role: "model",
                },
                finish_reason: Some("STOP"),
                index: 0,
            }],
            usage_metadata: Usage {
                prompt_token_count: 11,
                candidates_token_count: 1,
                total_token_count: 12,
                thoughts_token_count: None,
                prompt_tokens_details: vec![ModalityCount {
                    modality: "TEXT",
                    token_count: 11,
                }],
            },
            model_version: "gemini-2.5-flash".into(),
            response_id: "abc".into(),
        };
        let s = String::from_utf8(sse_event(&r)).unwrap();
        assert_eq!(
            s,
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Paris\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 11,\"candidatesTokenCount\": 1,\"totalTokenCount\": 12,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 11}]},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n"
        );
    }

    #[test]
    fn pretty_has_two_space_indent_and_newline() {
        let s = String::from_utf8(to_pretty_json(&json!({"a": [1]}))).unwrap();
        assert_eq!(s, "{\n  \"a\": [\n    1\n  ]\n}\n");
    }

    #[test]
    fn error_envelope_order() {
        let b = error_body(
            400,
            "API key not valid. Please pass a valid API key.",
            vec![Detail::error_info("API_KEY_INVALID", &[])],
        );
        let s = String::from_utf8(b).unwrap();
        let code = s.find("\"code\"").unwrap();
        let msg = s.find("\"message\"").unwrap();
        let st = s.find("\"status\"").unwrap();
        let det = s.find("\"details\"").unwrap();
        assert!(code < msg && msg < st && st < det);
        assert!(s.contains("\"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\",\n"));
        assert!(s.contains("\"status\": \"INVALID_ARGUMENT\""));
    }

    #[test]
    fn numbers() {
        assert_eq!(num(1.0).to_string(), "1");
        assert_eq!(num(0.95).to_string(), "0.95");
    }
}
