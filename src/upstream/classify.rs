//! The one upstream failure classifier: every attempt's outcome is decided here and nowhere else.

use serde::Deserialize;
use std::time::Duration;

/// What one upstream attempt's failure means for the request and for the key.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 per-minute (or unspecified) quota: cool the key down for `retry_after`.
    RateLimited {
        retry_after: Duration,
        quota: Option<QuotaHit>,
    },
    /// 429 whose quota is per day: park the key until the next Pacific midnight.
    QuotaDay { quota: Option<QuotaHit> },
    /// The key itself is rejected (400 API_KEY_INVALID, 401, 403): disable it.
    KeyInvalid { status: u16, reason: String },
    /// 500/502/503/504 from Google: short cooldown, try another key.
    ServerError { status: u16 },
    /// No answer in time (connect, first byte or read).
    Timeout,
    /// Connection refused, reset, TLS failure, closed before the answer.
    Connect { detail: String },
    /// Any other 4xx: the client's own error, passed through, not retried, key not penalised.
    Client { status: u16 },
}

/// The quota Google says was hit (`google.rpc.QuotaFailure.violations[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaHit {
    pub quota_id: String,
    pub quota_metric: Option<String>,
    pub quota_value: Option<u64>,
}

impl Fault {
    /// Whether another key may be tried for this request.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Fault::Client { .. })
    }

    /// Low-cardinality label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::RateLimited { .. } => "rate_limited",
            Fault::QuotaDay { .. } => "quota_day",
            Fault::KeyInvalid { .. } => "key_invalid",
            Fault::ServerError { .. } => "server_error",
            Fault::Timeout => "timeout",
            Fault::Connect { .. } => "connect_error",
            Fault::Client { .. } => "client_error",
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "@type", default)]
    type_url: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default, rename = "retryDelay")]
    retry_delay: Option<String>,
    #[serde(default)]
    violations: Vec<Violation>,
}

#[derive(Deserialize)]
struct Violation {
    #[serde(default, rename = "quotaId")]
    quota_id: Option<String>,
    #[serde(default, rename = "quotaMetric")]
    quota_metric: Option<String>,
    #[serde(default, rename = "quotaValue")]
    quota_value: Option<serde_json::Value>,
}

/// Classify an upstream HTTP answer. `None` means success (2xx/3xx).
/// `body` is the (capped) error body; `default_retry` applies to 429s without `RetryInfo`.
pub fn classify(status: u16, body: &[u8], default_retry: Duration) -> Option<Fault> {
    if status < 400 {
        return None;
    }
    let parsed: Option<Status> = serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error);
    let reason = parsed
        .as_ref()
        .and_then(|s| {
            s.details
                .iter()
                .find(|d| d.type_url.ends_with("google.rpc.ErrorInfo"))
        })
        .and_then(|d| d.reason.clone());
    Some(match status {
        400 => {
            let key_invalid = reason.as_deref() == Some("API_KEY_INVALID")
                || parsed
                    .as_ref()
                    .is_some_and(|s| s.message.contains("API key not valid"));
            if key_invalid {
                Fault::KeyInvalid {
                    status,
                    reason: "API_KEY_INVALID".into(),
                }
            } else {
                Fault::Client { status }
            }
        }
        401 => Fault::KeyInvalid {
            status,
            reason: reason.unwrap_or_else(|| "UNAUTHENTICATED".into()),
        },
        403 => Fault::KeyInvalid {
            status,
            reason: reason
                .or_else(|| {
                    parsed
                        .as_ref()
                        .map(|s| s.status.clone())
                        .filter(|s| !s.is_empty())
                })
                .unwrap_or_else(|| "PERMISSION_DENIED".into()),
        },
        429 => classify_429(parsed.as_ref(), default_retry),
        500 | 502 | 503 | 504 => Fault::ServerError { status },
        s if s >= 500 => Fault::ServerError { status: s },
        s => Fault::Client { status: s },
    })
}

fn classify_429(status: Option<&Status>, default_retry: Duration) -> Fault {
    let details = status.map(|s| s.details.as_slice()).unwrap_or_default();
    let quota = details
        .iter()
        .filter(|d| d.type_url.ends_with("google.rpc.QuotaFailure"))
        .flat_map(|d| d.violations.iter())
        .find_map(|v| {
            v.quota_id.as_ref().map(|id| QuotaHit {
                quota_id: id.clone(),
                quota_metric: v.quota_metric.clone(),
                quota_value: v.quota_value.as_ref().and_then(|q| match q {
                    serde_json::Value::String(s) => s.parse().ok(),
                    serde_json::Value::Number(n) => n.as_u64(),
                    _ => None,
                }),
            })
        });
    if quota
        .as_ref()
        .is_some_and(|q| q.quota_id.contains("PerDay"))
    {
        return Fault::QuotaDay { quota };
    }
    let retry_after = details
        .iter()
        .filter(|d| d.type_url.ends_with("google.rpc.RetryInfo"))
        .find_map(|d| d.retry_delay.as_deref().and_then(parse_proto_duration))
        .unwrap_or(default_retry);
    Fault::RateLimited { retry_after, quota }
}

/// Parse a protobuf JSON duration such as `"41s"` or `"1.5s"`.
pub fn parse_proto_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    if (0.0..1e9).contains(&secs) {
        Some(Duration::from_secs_f64(secs))
    } else {
        None
    }
}

/// Classify a transport error from Pingora's client.
pub fn classify_transport(e: &pingora::Error) -> Fault {
    use pingora::ErrorType::*;
    match e.etype() {
        ConnectTimedout | ReadTimedout | WriteTimedout => Fault::Timeout,
        _ => Fault::Connect {
            detail: e.etype().as_str().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(60);

    #[test]
    fn success_is_none() {
        assert_eq!(classify(200, b"", D), None);
    }

    #[test]
    fn api_key_invalid() {
        let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
          "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        assert!(matches!(
            classify(400, body, D),
            Some(Fault::KeyInvalid { status: 400, .. })
        ));
    }

    #[test]
    fn plain_400_is_the_clients() {
        let body = br#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#;
        let f = classify(400, body, D).unwrap();
        assert_eq!(f, Fault::Client { status: 400 });
        assert!(!f.is_retryable());
        assert_eq!(classify(404, b"{}", D), Some(Fault::Client { status: 404 }));
        assert_eq!(
            classify(413, b"not json", D),
            Some(Fault::Client { status: 413 })
        );
    }

    #[test]
    fn forbidden_disables() {
        let body =
            br#"{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            classify(403, body, D),
            Some(Fault::KeyInvalid { status: 403, .. })
        ));
    }

    #[test]
    fn rate_limited_reads_retry_info() {
        let body = br#"{"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED",
          "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"model":"gemini-2.5-flash"},"quotaValue":"10"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"41s"}]}}"#;
        match classify(429, body, D).unwrap() {
            Fault::RateLimited { retry_after, quota } => {
                assert_eq!(retry_after, Duration::from_secs(41));
                let q = quota.unwrap();
                assert_eq!(q.quota_value, Some(10));
                assert!(q.quota_id.contains("PerMinute"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limited_default_delay() {
        assert_eq!(
            classify(429, b"{}", D),
            Some(Fault::RateLimited {
                retry_after: D,
                quota: None
            })
        );
    }

    #[test]
    fn per_day_quota_parks() {
        let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure",
          "violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaValue":"250"}]},
          {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}"#;
        match classify(429, body, D).unwrap() {
            Fault::QuotaDay { quota } => assert_eq!(quota.unwrap().quota_value, Some(250)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_retry() {
        for s in [500, 502, 503, 504] {
            let f = classify(s, b"", D).unwrap();
            assert_eq!(f, Fault::ServerError { status: s });
            assert!(f.is_retryable());
        }
    }

    #[test]
    fn proto_durations() {
        assert_eq!(parse_proto_duration("41s"), Some(Duration::from_secs(41)));
        assert_eq!(
            parse_proto_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_proto_duration("abc"), None);
        assert_eq!(parse_proto_duration("-1s"), None);
    }
}
