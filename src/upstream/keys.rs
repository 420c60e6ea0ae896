//! The pool of upstream Gemini keys: each key's health, and choosing the next usable key.

use super::classify::Fault;
use super::pacific;
use crate::config::{FailoverConfig, KeyConfig};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use http::HeaderValue;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A key's state as the failure classifier left it.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    Active,
    /// Rate-limited or failing: unusable until `until`.
    Cooling {
        until: Instant,
        reason: &'static str,
    },
    /// Daily quota spent: unusable until the next Pacific midnight.
    Parked {
        until: Instant,
        until_wall: DateTime<Utc>,
    },
    /// Rejected by Google as invalid or forbidden.
    Invalid {
        since: SystemTime,
        reason: String,
    },
}

/// One upstream key.
pub struct PoolKey {
    secret: Secret,
    /// Precomputed `x-goog-api-key` header value (marked sensitive).
    header: HeaderValue,
    pub fingerprint: String,
    pub project: String,
    health: Mutex<Health>,
    pub successes: AtomicU64,
    pub failures: AtomicU64,
}

impl PoolKey {
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
    pub fn secret(&self) -> &Secret {
        &self.secret
    }
    pub fn health(&self) -> Health {
        self.health
            .lock()
            .map(|h| h.clone())
            .unwrap_or(Health::Active)
    }
}

/// The outcome of choosing a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    Key(usize),
    /// No key is usable right now.
    Exhausted {
        /// Time until the soonest key recovers, if any key will recover by itself.
        retry_after: Option<Duration>,
    },
}

/// The key pool. Round-robin over usable keys; cooldowns and invalid marks from the classifier.
pub struct KeyPool {
    keys: Vec<PoolKey>,
    cursor: AtomicUsize,
    cfg: FailoverConfig,
}

impl KeyPool {
    pub fn new(keys: &[KeyConfig], cfg: FailoverConfig) -> Result<KeyPool, String> {
        let mut out = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let mut header = HeaderValue::from_str(k.key.expose())
                .map_err(|_| format!("keys[{i}]: not a valid header value"))?;
            header.set_sensitive(true);
            out.push(PoolKey {
                fingerprint: k.key.fingerprint(),
                secret: k.key.clone(),
                header,
                project: k.project.clone(),
                health: Mutex::new(Health::Active),
                successes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            });
        }
        Ok(KeyPool {
            keys: out,
            cursor: AtomicUsize::new(0),
            cfg,
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn get(&self, idx: usize) -> Option<&PoolKey> {
        self.keys.get(idx)
    }
    pub fn iter(&self) -> impl Iterator<Item = &PoolKey> {
        self.keys.iter()
    }

    /// Choose the next usable key not in `tried`, round-robin.
    pub fn pick(&self, tried: &[usize], now: Instant) -> Pick {
        let n = self.keys.len();
        if n == 0 {
            return Pick::Exhausted { retry_after: None };
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut soonest: Option<Duration> = None;
        for off in 0..n {
            let idx = (start + off) % n;
            let Ok(mut h) = self.keys[idx].health.lock() else {
                continue;
            };
            let until = match &*h {
                Health::Active => None,
                Health::Cooling { until, .. } | Health::Parked { until, .. } => Some(*until),
                Health::Invalid { .. } => continue,
            };
            if let Some(until) = until {
                if until > now {
                    let wait = until - now;
                    soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
                    continue;
                }
                *h = Health::Active;
            }
            drop(h);
            if tried.contains(&idx) {
                continue;
            }
            return Pick::Key(idx);
        }
        Pick::Exhausted {
            retry_after: soonest,
        }
    }

    /// Record a successful attempt.
    pub fn report_success(&self, idx: usize) {
        if let Some(k) = self.keys.get(idx) {
            k.successes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Apply a classified failure to the key. Client errors leave the key alone.
    pub fn report_fault(&self, idx: usize, fault: &Fault, now: Instant, wall: DateTime<Utc>) {
        let Some(k) = self.keys.get(idx) else { return };
        let next = match fault {
            Fault::Client { .. } => return,
            Fault::RateLimited { retry_after, .. } => Health::Cooling {
                until: now + *retry_after,
                reason: "rate_limited",
            },
            Fault::QuotaDay { .. } => {
                let until_wall = pacific::next_midnight(wall);
                let wait = (until_wall - wall)
                    .to_std()
                    .unwrap_or(Duration::from_secs(86_400));
                Health::Parked {
                    until: now + wait,
                    until_wall,
                }
            }
            Fault::KeyInvalid { reason, .. } => Health::Invalid {
                since: SystemTime::now(),
                reason: reason.clone(),
            },
            Fault::ServerError { .. } | Fault::Connect { .. } => Health::Cooling {
                until: now + self.cfg.server_error_cooldown,
                reason: fault.kind(),
            },
            Fault::Timeout => Health::Cooling {
                until: now + self.cfg.timeout_cooldown,
                reason: "timeout",
            },
        };
        k.failures.fetch_add(1, Ordering::Relaxed);
        match &next {
            Health::Invalid { reason, .. } => {
                tracing::warn!(key = %k.fingerprint, reason = %reason, "upstream key disabled: rejected by Gemini")
            }
            Health::Parked { until_wall, .. } => {
                tracing::warn!(key = %k.fingerprint, until = %until_wall, "upstream key parked: daily quota exhausted")
            }
            Health::Cooling { until, reason } => {
                tracing::info!(key = %k.fingerprint, reason, cooldown_ms = until.saturating_duration_since(now).as_millis() as u64, "upstream key cooling down")
            }
            Health::Active => {}
        }
        if let Ok(mut h) = k.health.lock() {
            // Never shorten an existing longer penalty (e.g. a parked key that also sees a 503).
            let keep = match (&*h, &next) {
                (Health::Invalid { .. }, _) => !matches!(next, Health::Invalid { .. }),
                (Health::Parked { until: a, .. }, Health::Cooling { until: b, .. }) => a > b,
                (Health::Cooling { until: a, .. }, Health::Cooling { until: b, .. }) => a > b,
                _ => false,
            };
            if !keep {
                *h = next;
            }
        }
    }

    /// Mark a key usable again (re-validation, admin action).
    pub fn restore(&self, idx: usize) {
        if let Some(k) = self.keys.get(idx) {
            if let Ok(mut h) = k.health.lock() {
                *h = Health::Active;
            }
        }
    }

    /// Time until the soonest cooling or parked key recovers.
    pub fn soonest_recovery(&self, now: Instant) -> Option<Duration> {
        self.keys
            .iter()
            .filter_map(|k| match k.health() {
                Health::Cooling { until, .. } | Health::Parked { until, .. } => {
                    Some(until.saturating_duration_since(now))
                }
                _ => None,
            })
            .min()
    }

    /// Number of keys usable now.
    pub fn usable(&self, now: Instant) -> usize {
        self.keys
            .iter()
            .filter(|k| match k.health() {
                Health::Active => true,
                Health::Cooling { until, .. } | Health::Parked { until, .. } => until <= now,
                Health::Invalid { .. } => false,
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::classify::QuotaHit;

    fn pool(n: usize) -> KeyPool {
        let keys: Vec<KeyConfig> = (0..n)
            .map(|i| KeyConfig {
                key: Secret::new(format!("key-{i}")),
                project: format!("p{i}"),
            })
            .collect();
        let cfg = FailoverConfig {
            max_attempts: 5,
            rate_limit_cooldown: Duration::from_secs(60),
            server_error_cooldown: Duration::from_secs(5),
            timeout_cooldown: Duration::from_secs(10),
            backoff_min: Duration::ZERO,
            backoff_max: Duration::ZERO,
        };
        KeyPool::new(&keys, cfg).unwrap()
    }

    #[test]
    fn round_robin_and_tried_skipped() {
        let p = pool(3);
        let now = Instant::now();
        let a = p.pick(&[], now);
        let b = p.pick(&[], now);
        assert_ne!(a, b);
        assert_eq!(
            p.pick(&[0, 1, 2], now),
            Pick::Exhausted { retry_after: None }
        );
        assert_eq!(p.pick(&[0, 2], now), Pick::Key(1));
    }

    #[test]
    fn cooling_key_skipped_then_back() {
        let p = pool(2);
        let now = Instant::now();
        let wall = Utc::now();
        p.report_fault(
            0,
            &Fault::RateLimited {
                retry_after: Duration::from_secs(30),
                quota: None,
            },
            now,
            wall,
        );
        for _ in 0..5 {
            assert_eq!(p.pick(&[], now), Pick::Key(1));
        }
        p.report_fault(1, &Fault::ServerError { status: 503 }, now, wall);
        assert_eq!(
            p.pick(&[], now),
            Pick::Exhausted {
                retry_after: Some(Duration::from_secs(5))
            }
        );
        let later = now + Duration::from_secs(31);
        assert_eq!(p.usable(later), 2);
        assert!(matches!(p.pick(&[], later), Pick::Key(_)));
    }

    #[test]
    fn invalid_key_never_picked_and_no_retry_after() {
        let p = pool(1);
        let now = Instant::now();
        p.report_fault(
            0,
            &Fault::KeyInvalid {
                status: 400,
                reason: "API_KEY_INVALID".into(),
            },
            now,
            Utc::now(),
        );
        assert_eq!(
            p.pick(&[], now + Duration::from_secs(10_000)),
            Pick::Exhausted { retry_after: None }
        );
        p.restore(0);
        assert_eq!(p.pick(&[], now), Pick::Key(0));
    }

    #[test]
    fn day_quota_parks_until_pacific_midnight() {
        let p = pool(1);
        let now = Instant::now();
        let wall = DateTime::parse_from_rfc3339("2026-01-15T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let q = QuotaHit {
            quota_id: "GenerateRequestsPerDayPerProjectPerModel-FreeTier".into(),
            quota_metric: None,
            quota_value: Some(250),
        };
        p.report_fault(0, &Fault::QuotaDay { quota: Some(q) }, now, wall);
        // 20:00Z = 12:00 PST; midnight PST = 08:00Z next day: 12 h.
        match p.pick(&[], now) {
            Pick::Exhausted {
                retry_after: Some(d),
            } => assert_eq!(d, Duration::from_secs(12 * 3600)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p.pick(&[], now + Duration::from_secs(12 * 3600)),
            Pick::Key(0)
        );
    }

    #[test]
    fn client_error_does_not_penalise() {
        let p = pool(1);
        let now = Instant::now();
        p.report_fault(0, &Fault::Client { status: 400 }, now, Utc::now());
        assert_eq!(p.pick(&[], now), Pick::Key(0));
    }

    #[test]
    fn shorter_cooldown_does_not_shorten_park() {
        let p = pool(1);
        let now = Instant::now();
        p.report_fault(0, &Fault::QuotaDay { quota: None }, now, Utc::now());
        p.report_fault(0, &Fault::ServerError { status: 503 }, now, Utc::now());
        assert!(matches!(p.keys[0].health(), Health::Parked { .. }));
    }
}
