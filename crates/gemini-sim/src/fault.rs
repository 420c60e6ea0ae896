//! Scripted faults: rules matched by key and model, applied in insertion order.

use serde::{Deserialize, Serialize};

/// One scripted fault. It matches a request when `key` (if set) equals the request's API key and
/// `model` (if set) equals the model id in the path; the first matching, unexpired rule applies.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct FaultRule {
    /// Match only this upstream key.
    #[serde(default)]
    pub key: Option<String>,
    /// Match only this model id (a leading `models/` is ignored).
    #[serde(default)]
    pub model: Option<String>,
    /// Apply to the next N matching requests, then expire; None = always.
    #[serde(default)]
    pub times: Option<u32>,
    /// What happens to a matching request.
    pub action: FaultAction,
}

/// What a fault does to the request it matches.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultAction {
    /// Google-shaped error body for that status.
    Status { code: u16 },
    /// 429 with QuotaFailure (per-minute quotaId) and RetryInfo `"<n>s"`.
    RateLimit { retry_delay_secs: u64 },
    /// 429 with QuotaFailure whose quotaId contains `PerDay`.
    QuotaDay,
    /// 400 API_KEY_INVALID.
    InvalidKey,
    /// Never answer; when the client leaves it counts in `cancelled()`.
    Hang,
    /// Wait before the response header, then answer normally.
    SlowFirstByte { ms: u64 },
    /// Send N events (or half a non-streamed body), then drop the connection mid-body.
    CutAfter { events: u32 },
    /// Drop the connection before any response bytes.
    Reset,
    /// Override the stream shape for this request.
    Stream { events: u32, interval_ms: u64 },
}

fn bare(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

impl FaultRule {
    pub(crate) fn matches(&self, key: Option<&str>, model: Option<&str>) -> bool {
        if let Some(k) = &self.key {
            if key != Some(k.as_str()) {
                return false;
            }
        }
        if let Some(m) = &self.model {
            if model.map(bare) != Some(bare(m)) {
                return false;
            }
        }
        !matches!(self.times, Some(0))
    }
}

/// Find the first matching rule, consume one use of it and return its action.
pub(crate) fn take(
    rules: &mut Vec<FaultRule>,
    key: Option<&str>,
    model: Option<&str>,
) -> Option<FaultAction> {
    let idx = rules.iter().position(|r| r.matches(key, model))?;
    let action = rules[idx].action.clone();
    if let Some(n) = rules[idx].times {
        if n <= 1 {
            rules.remove(idx);
        } else {
            rules[idx].times = Some(n - 1);
        }
    }
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        key: Option<&str>,
        model: Option<&str>,
        times: Option<u32>,
        a: FaultAction,
    ) -> FaultRule {
        FaultRule {
            key: key.map(str::to_owned),
            model: model.map(str::to_owned),
            times,
            action: a,
        }
    }

    #[test]
    fn first_match_and_times_expire() {
        let mut rules = vec![
            rule(Some("a"), None, Some(2), FaultAction::Reset),
            rule(None, Some("models/gemini-2.5-pro"), None, FaultAction::Hang),
            rule(None, None, None, FaultAction::InvalidKey),
        ];
        assert_eq!(
            take(&mut rules, Some("b"), Some("gemini-2.5-pro")),
            Some(FaultAction::Hang)
        );
        assert_eq!(
            take(&mut rules, Some("a"), Some("x")),
            Some(FaultAction::Reset)
        );
        assert_eq!(
            take(&mut rules, Some("a"), Some("x")),
            Some(FaultAction::Reset)
        );
        assert_eq!(rules.len(), 2);
        assert_eq!(
            take(&mut rules, Some("a"), Some("x")),
            Some(FaultAction::InvalidKey)
        );
        assert_eq!(take(&mut rules, None, None), Some(FaultAction::InvalidKey));
    }

    #[test]
    fn json_shape() {
        let r: FaultRule = serde_json::from_str(
            r#"{"key":"k1","times":1,"action":{"type":"rate_limit","retry_delay_secs":7}}"#,
        )
        .unwrap();
        assert_eq!(
            r.action,
            FaultAction::RateLimit {
                retry_delay_secs: 7
            }
        );
        let r: FaultRule = serde_json::from_str(r#"{"action":{"type":"quota_day"}}"#).unwrap();
        assert_eq!(r.action, FaultAction::QuotaDay);
        assert_eq!(r.times, None);
        let s = serde_json::to_string(&FaultAction::CutAfter { events: 2 }).unwrap();
        assert_eq!(s, r#"{"type":"cut_after","events":2}"#);
    }
}
