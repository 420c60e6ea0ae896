//! Per (key, model) quota windows: RPM and TPM over a sliding 60 s window, RPD per Pacific day.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::Quota;

/// Length of the per-minute window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// Which limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    Rpm,
    Tpm,
    Rpd,
}

/// Which family of quota ids a method uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Generate,
    Embed,
}

impl Family {
    /// `(quotaMetric, quotaId)` as Google names them.
    pub(crate) fn ids(self, limit: Limit) -> (&'static str, &'static str) {
        match (self, limit) {
            (Family::Generate, Limit::Rpm) => (
                "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            ),
            (Family::Generate, Limit::Tpm) => (
                "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
                "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            ),
            (Family::Generate, Limit::Rpd) => (
                "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            ),
            (Family::Embed, Limit::Rpm) => (
                "generativelanguage.googleapis.com/embed_content_free_tier_requests",
                "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier",
            ),
            (Family::Embed, Limit::Tpm) => (
                "generativelanguage.googleapis.com/embed_content_free_tier_input_token_count",
                "EmbedContentInputTokensPerModelPerMinute-FreeTier",
            ),
            (Family::Embed, Limit::Rpd) => (
                "generativelanguage.googleapis.com/embed_content_free_tier_requests",
                "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier",
            ),
        }
    }
}

/// One exceeded limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub limit: Limit,
    pub value: u64,
    /// Time until this limit would admit the request.
    pub wait: Duration,
}

/// The time inputs of a quota decision (injected so tests can move the clock).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub now: Instant,
    /// Index of the current Pacific day.
    pub day: u64,
    /// Time until the next Pacific midnight.
    pub until_next_day: Duration,
}

/// Pacific time as a fixed UTC-8 (no daylight saving): good enough for a simulator.
const PACIFIC_OFFSET_SECS: u64 = 8 * 3600;

impl Clock {
    pub(crate) fn now() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let pacific = unix.saturating_sub(Duration::from_secs(PACIFIC_OFFSET_SECS));
        let day = pacific.as_secs() / 86_400;
        let into_day = pacific - Duration::from_secs(day * 86_400);
        Clock {
            now: Instant::now(),
            day,
            until_next_day: Duration::from_secs(86_400).saturating_sub(into_day),
        }
    }
}

#[derive(Default)]
struct Window {
    /// Admitted requests of the last 60 s with their prompt tokens, oldest first.
    minute: VecDeque<(Instant, u64)>,
    day: u64,
    day_count: u32,
}

/// All quota windows of one simulator.
#[derive(Default)]
pub(crate) struct QuotaBook {
    windows: HashMap<(String, String), Window>,
}

impl QuotaBook {
    /// Admit one request of `tokens` prompt tokens for (key, model), or say which limits it hits.
    /// A rejected request is not counted.
    pub(crate) fn admit(
        &mut self,
        key: &str,
        model: &str,
        q: &Quota,
        tokens: u64,
        clock: &Clock,
    ) -> Result<(), Vec<Violation>> {
        if q.rpm.is_none() && q.tpm.is_none() && q.rpd.is_none() {
            return Ok(());
        }
        let w = self
            .windows
            .entry((key.to_owned(), model.to_owned()))
            .or_default();
        let now = clock.now;
        while let Some(&(t, _)) = w.minute.front() {
            if now.saturating_duration_since(t) >= WINDOW {
                w.minute.pop_front();
            } else {
                break;
            }
        }
        if w.day != clock.day {
            w.day = clock.day;
            w.day_count = 0;
        }
        let expiry = |t: Instant| (t + WINDOW).saturating_duration_since(now);
        let mut out = Vec::new();
        if let Some(rpm) = q.rpm {
            let n = w.minute.len();
            let limit = rpm as usize;
            if n >= limit {
                // The request fits once the (n - limit + 1) oldest entries have left the window.
                let wait = if limit == 0 {
                    WINDOW
                } else {
                    w.minute.get(n - limit).map_or(WINDOW, |&(t, _)| expiry(t))
                };
                out.push(Violation {
                    limit: Limit::Rpm,
                    value: u64::from(rpm),
                    wait,
                });
            }
        }
        if let Some(tpm) = q.tpm {
            let used: u64 = w.minute.iter().map(|&(_, n)| n).sum();
            if used.saturating_add(tokens) > tpm {
                let mut wait = WINDOW;
                if tokens <= tpm {
                    let mut remaining = used;
                    for &(t, n) in &w.minute {
                        remaining -= n;
                        if remaining + tokens <= tpm {
                            wait = expiry(t);
                            break;
                        }
                    }
                }
                out.push(Violation {
                    limit: Limit::Tpm,
                    value: tpm,
                    wait,
                });
            }
        }
        if let Some(rpd) = q.rpd {
            if w.day_count >= rpd {
                out.push(Violation {
                    limit: Limit::Rpd,
                    value: u64::from(rpd),
                    wait: clock.until_next_day,
                });
            }
        }
        if !out.is_empty() {
            return Err(out);
        }
        w.minute.push_back((now, tokens));
        w.day_count += 1;
        Ok(())
    }

    pub(crate) fn clear(&mut self) {
        self.windows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(start: Instant, secs: u64, day: u64) -> Clock {
        Clock {
            now: start + Duration::from_secs(secs),
            day,
            until_next_day: Duration::from_secs(1000),
        }
    }

    #[test]
    fn rpm_sliding_window_and_honest_wait() {
        let mut b = QuotaBook::default();
        let q = Quota {
            rpm: Some(2),
            ..Quota::default()
        };
        let t0 = Instant::now();
        assert!(b.admit("k", "m", &q, 1, &clock(t0, 0, 0)).is_ok());
        assert!(b.admit("k", "m", &q, 1, &clock(t0, 10, 0)).is_ok());
        let v = b.admit("k", "m", &q, 1, &clock(t0, 15, 0)).unwrap_err();
        assert_eq!(v[0].limit, Limit::Rpm);
        assert_eq!(v[0].wait, Duration::from_secs(45));
        // another key / model is independent
        assert!(b.admit("k2", "m", &q, 1, &clock(t0, 15, 0)).is_ok());
        assert!(b.admit("k", "m2", &q, 1, &clock(t0, 15, 0)).is_ok());
        // rejected requests were not counted: at 60 s the first one left the window
        assert!(b.admit("k", "m", &q, 1, &clock(t0, 60, 0)).is_ok());
        let v = b.admit("k", "m", &q, 1, &clock(t0, 61, 0)).unwrap_err();
        assert_eq!(v[0].wait, Duration::from_secs(9));
    }

    #[test]
    fn tpm_counts_prompt_tokens() {
        let mut b = QuotaBook::default();
        let q = Quota {
            tpm: Some(100),
            ..Quota::default()
        };
        let t0 = Instant::now();
        assert!(b.admit("k", "m", &q, 60, &clock(t0, 0, 0)).is_ok());
        assert!(b.admit("k", "m", &q, 30, &clock(t0, 5, 0)).is_ok());
        let v = b.admit("k", "m", &q, 50, &clock(t0, 6, 0)).unwrap_err();
        assert_eq!(v[0].limit, Limit::Tpm);
        assert_eq!(v[0].wait, Duration::from_secs(54));
        let v = b.admit("k", "m", &q, 500, &clock(t0, 6, 0)).unwrap_err();
        assert_eq!(v[0].wait, WINDOW);
        assert!(b.admit("k", "m", &q, 10, &clock(t0, 6, 0)).is_ok());
    }

    #[test]
    fn rpd_resets_on_new_day() {
        let mut b = QuotaBook::default();
        let q = Quota {
            rpd: Some(1),
            ..Quota::default()
        };
        let t0 = Instant::now();
        assert!(b.admit("k", "m", &q, 1, &clock(t0, 0, 7)).is_ok());
        let v = b.admit("k", "m", &q, 1, &clock(t0, 100, 7)).unwrap_err();
        assert_eq!(v[0].limit, Limit::Rpd);
        assert_eq!(v[0].wait, Duration::from_secs(1000));
        assert!(b.admit("k", "m", &q, 1, &clock(t0, 200, 8)).is_ok());
    }

    #[test]
    fn clock_is_consistent() {
        let c = Clock::now();
        assert!(c.until_next_day <= Duration::from_secs(86_400));
        assert!(c.until_next_day > Duration::ZERO);
    }
}
