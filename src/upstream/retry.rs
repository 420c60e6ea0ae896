//! The one retry policy: from a classified [`Fault`] and the attempt number it decides whether to
//! try another key, after which backoff, or to stop with which error. Used by the request's attempt
//! loop, the model-list refresh and the key checks.

use super::classify::{classify, Fault};
use super::scheduler::Shortage;
use crate::config::FailoverConfig;
use crate::error::{retry_after_secs, ErrorKind, GatewayError};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// What the scheduler said when no key could be picked for a model.
#[derive(Debug, Clone, Copy)]
pub struct Exhausted<'a> {
    /// The model whose quota is spent ("" for calls that spend none).
    pub model: &'a str,
    /// When the first key comes back, if any will.
    pub retry_after: Option<Duration>,
    pub why: Shortage,
    /// The gateway's wall clock now.
    pub wall: DateTime<Utc>,
}

/// The last time (Unix seconds) the operator was told how to change a refusing limit.
static ADVISED_AT: AtomicI64 = AtomicI64::new(i64::MIN);

/// What to do after an attempt failed.
#[derive(Debug)]
pub enum Next {
    /// Try another key after this pause (zero: at once).
    Retry { after: Duration },
    /// Give up with this error.
    Stop(GatewayError),
}

/// The policy, from `failover:` in the config.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    cfg: FailoverConfig,
}

impl RetryPolicy {
    pub fn new(cfg: FailoverConfig) -> RetryPolicy {
        RetryPolicy { cfg }
    }

    pub fn max_attempts(&self) -> usize {
        self.cfg.max_attempts
    }

    /// Classify an upstream HTTP answer (`None`: success); a 429 without `RetryInfo` cools for
    /// `failover.rate_limit_cooldown`. A status the classifier cannot place counts as a server error.
    pub fn classify(&self, status: u16, body: &[u8]) -> Option<Fault> {
        if status < 400 {
            return None;
        }
        Some(
            classify(status, body, self.cfg.rate_limit_cooldown)
                .unwrap_or(Fault::ServerError { status }),
        )
    }

    /// After attempt number `done` (1 for the first) failed with `fault`. `answer` is Google's
    /// status and (capped) body when it answered, passed to the client for its own errors.
    pub fn after(&self, fault: &Fault, done: usize, answer: Option<(u16, Bytes)>) -> Next {
        if let Fault::Client { status } = fault {
            let (status, body) = answer.unwrap_or((*status, Bytes::new()));
            return Next::Stop(client_error(status, body));
        }
        if done >= self.cfg.max_attempts {
            return Next::Stop(self.out_of_keys(Some(fault), None));
        }
        // Server-side trouble: back off (a different key is the remedy for the rest).
        let after = match fault {
            Fault::ServerError { .. } | Fault::Timeout | Fault::Connect { .. } => {
                self.backoff(done - 1)
            }
            _ => Duration::ZERO,
        };
        Next::Retry { after }
    }

    /// How long to wait before the next attempt after `n` failed ones (exponential, jittered,
    /// capped by `failover.backoff_max`).
    pub fn backoff(&self, n: usize) -> Duration {
        let (min, max) = (self.cfg.backoff_min, self.cfg.backoff_max);
        if max.is_zero() {
            return Duration::ZERO;
        }
        let capped = min.saturating_mul(1u32 << n.min(16)).min(max);
        // full jitter in [capped/2, capped]
        let half = capped / 2;
        half + Duration::from_nanos(fastrand::u64(0..=(capped - half).as_nanos() as u64))
    }

    /// The error for a request that ran out of keys or attempts. `last` is the request's last
    /// retryable fault; `shortage` what the pool said when no key could be picked (soonest
    /// recovery, and what keeps the keys out), `None` when attempts ran out. The answer follows
    /// the cause: 503 `UNAVAILABLE` (504 after own timeouts) when upstream failures keep the keys
    /// out, 429 only when quota does; both with `Retry-After`.
    pub fn out_of_keys(
        &self,
        last: Option<&Fault>,
        shortage: Option<Exhausted<'_>>,
    ) -> GatewayError {
        let cfg = &self.cfg;
        let Some(Exhausted {
            model,
            retry_after,
            why,
            wall,
        }) = shortage
        else {
            return match last {
                Some(Fault::RateLimited { retry_after, .. }) => GatewayError::new(
                    ErrorKind::UpstreamRateLimited,
                    "Every upstream key tried is rate-limited; retry later.",
                )
                .with_retry_after(Some(*retry_after)),
                Some(Fault::QuotaDay { .. }) => GatewayError::new(
                    ErrorKind::UpstreamRateLimited,
                    "Every upstream key tried is out of its daily quota; retry later.",
                )
                .with_retry_after(Some(cfg.rate_limit_cooldown)),
                Some(Fault::Timeout) => GatewayError::new(
                    ErrorKind::UpstreamTimeout,
                    "Gemini did not answer in time on any key tried.",
                )
                .with_retry_after(Some(cfg.timeout_cooldown)),
                _ => GatewayError::new(
                    ErrorKind::UpstreamUnavailable,
                    "Gemini is failing (server errors or connection failures) on every key tried.",
                )
                .with_retry_after(Some(cfg.server_error_cooldown)),
            };
        };
        if why.quota == 0 && why.failing == 0 {
            // Nothing comes back by itself: every key is disabled (or was tried and failed for good).
            return match last {
                Some(f) if !matches!(f, Fault::KeyInvalid { .. } | Fault::Client { .. }) => {
                    self.out_of_keys(last, None)
                }
                _ => GatewayError::new(
                    ErrorKind::NoValidKey,
                    "No usable upstream key: every configured key was rejected by Gemini.",
                ),
            };
        }
        let wait = retry_after.map_or_else(String::new, |d| {
            format!(" Retry after {} s.", retry_after_secs(d))
        });
        if why.is_outage() {
            let quota = if why.quota > 0 {
                format!(", {} out of quota", why.quota)
            } else {
                String::new()
            };
            let kind = if matches!(last, Some(Fault::Timeout)) {
                ErrorKind::UpstreamTimeout
            } else {
                ErrorKind::UpstreamUnavailable
            };
            return GatewayError::new(
                kind,
                format!(
                    "Gemini is failing: {} upstream key(s) cooling down after server errors, timeouts or connection failures{quota}. This is not a quota problem.{wait}",
                    why.failing
                ),
            )
            .with_retry_after(retry_after.or(Some(cfg.server_error_cooldown)));
        }
        let failing = if why.failing > 0 {
            format!(", {} cooling after upstream failures", why.failing)
        } else {
            String::new()
        };
        let message = match why.limit {
            Some(hit) => {
                let frees = match retry_after {
                    Some(d) => {
                        let at = wall + chrono::Duration::from_std(d).unwrap_or_default();
                        format!(
                            " A key frees up in {} s (at {}).",
                            retry_after_secs(d),
                            at.format("%Y-%m-%d %H:%M:%S UTC")
                        )
                    }
                    None => String::new(),
                };
                let now = wall.timestamp();
                let last = ADVISED_AT.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= 60
                    && ADVISED_AT
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        model,
                        limit = hit.kind_name(),
                        value = ?hit.value,
                        tier = %hit.tier,
                        "requests refused: every key is at {}; to change it: {}",
                        hit.describe(),
                        hit.advice()
                    );
                }
                format!(
                    "Every upstream key is out of quota for {model} right now: {} key(s) at {}{failing}.{frees}",
                    why.quota,
                    hit.describe()
                )
            }
            None => format!(
                "Every upstream key is out of quota for this model right now ({} rate-limited or at a request/token limit{failing}).{wait}",
                why.quota
            ),
        };
        GatewayError::new(ErrorKind::KeysOutOfQuota, message)
            .with_retry_after(retry_after.or(Some(cfg.rate_limit_cooldown)))
    }
}

/// Google's own 4xx, passed to the client (its body verbatim on the Gemini surface).
pub fn client_error(status: u16, body: Bytes) -> GatewayError {
    let parsed = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("Gemini rejected the request with status {status}."));
    let kind = if status == 404 {
        ErrorKind::ModelNotFound
    } else {
        ErrorKind::UpstreamRejected(status)
    };
    let e = GatewayError::new(kind, message);
    if parsed.is_some_and(|v| v.get("error").is_some()) {
        e.with_upstream_body(body)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: usize) -> RetryPolicy {
        RetryPolicy::new(FailoverConfig {
            max_attempts,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(1000),
            ..FailoverConfig::default()
        })
    }

    #[test]
    fn backoff_is_bounded() {
        let p = policy(5);
        for n in 0..20 {
            let d = p.backoff(n);
            assert!(d <= Duration::from_millis(1000), "{d:?}");
            assert!(d >= Duration::from_millis(25), "{d:?}");
        }
        let none = RetryPolicy::new(FailoverConfig {
            backoff_max: Duration::ZERO,
            ..FailoverConfig::default()
        });
        assert_eq!(none.backoff(3), Duration::ZERO);
    }

    #[test]
    fn decisions() {
        let p = policy(3);
        let five = Fault::ServerError { status: 503 };
        assert!(matches!(p.after(&five, 1, None), Next::Retry { after } if after > Duration::ZERO));
        let rl = Fault::RateLimited {
            retry_after: Duration::from_secs(9),
            quota: None,
        };
        assert!(matches!(p.after(&rl, 1, None), Next::Retry { after } if after.is_zero()));
        let Next::Stop(e) = p.after(&rl, 3, None) else {
            panic!()
        };
        assert_eq!((e.status(), e.retry_after_secs()), (429, Some(9)));
        let Next::Stop(e) = p.after(&five, 3, None) else {
            panic!()
        };
        assert_eq!(e.kind(), ErrorKind::UpstreamUnavailable);
        let body =
            Bytes::from_static(br#"{"error":{"code":404,"message":"models/x is not found"}}"#);
        let Next::Stop(e) = p.after(&Fault::Client { status: 404 }, 1, Some((404, body))) else {
            panic!()
        };
        assert_eq!(e.kind(), ErrorKind::ModelNotFound);
        assert_eq!(e.message(), "models/x is not found");
    }

    fn exhausted(retry_after: Option<Duration>, why: Shortage) -> Exhausted<'static> {
        Exhausted {
            model: "gemini-2.5-flash",
            retry_after,
            why,
            wall: DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn a_known_full_limit_is_named_with_its_value_source_and_time() {
        use crate::config::Tier;
        use crate::upstream::limits::LimitKind;
        use crate::upstream::tiers::{LimitHit, LimitSource};
        let why = Shortage {
            quota: 2,
            limit: Some(LimitHit {
                kind: LimitKind::Rpm,
                value: Some(5),
                source: LimitSource::Builtin,
                tier: Tier::Free,
            }),
            ..Default::default()
        };
        let e = policy(5).out_of_keys(None, Some(exhausted(Some(Duration::from_secs(42)), why)));
        assert_eq!((e.status(), e.retry_after_secs()), (429, Some(42)));
        assert_eq!(
            e.message(),
            "Every upstream key is out of quota for gemini-2.5-flash right now: 2 key(s) at its RPM limit of 5 (the built-in table for tier free). A key frees up in 42 s (at 2026-05-28 20:27:22 UTC)."
        );
    }

    #[test]
    fn out_of_keys_follows_the_cause() {
        let p = policy(5);
        let outage = Shortage {
            failing: 3,
            ..Default::default()
        };
        let e = p.out_of_keys(None, Some(exhausted(Some(Duration::from_secs(4)), outage)));
        assert_eq!((e.status(), e.retry_after_secs()), (503, Some(4)));
        let quota = Shortage {
            quota: 2,
            failing: 1,
            ..Default::default()
        };
        let e = p.out_of_keys(None, Some(exhausted(Some(Duration::from_secs(30)), quota)));
        assert_eq!(e.kind(), ErrorKind::KeysOutOfQuota);
        assert!(e.message().contains("1 cooling after upstream failures"));
        let invalid = Shortage {
            invalid: 2,
            ..Default::default()
        };
        assert_eq!(
            p.out_of_keys(None, Some(exhausted(None, invalid))).kind(),
            ErrorKind::NoValidKey
        );
    }
}
