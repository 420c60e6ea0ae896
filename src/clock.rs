//! The gateway's clock: real time plus an offset that tests can advance (cooldowns, Pacific days).

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Monotonic and wall-clock time, both shifted by the same adjustable offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicU64,
}

impl Clock {
    /// Monotonic now.
    pub fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// Wall-clock now (UTC).
    pub fn now_utc(&self) -> DateTime<Utc> {
        let off = chrono::Duration::from_std(self.offset()).unwrap_or_default();
        Utc::now() + off
    }

    /// Move time forward (tests only need this; production never calls it).
    pub fn advance(&self, d: Duration) {
        self.offset_ms
            .fetch_add(d.as_millis() as u64, Ordering::Relaxed);
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_both_clocks() {
        let c = Clock::default();
        let (a, w) = (c.now(), c.now_utc());
        c.advance(Duration::from_secs(3600));
        assert!(c.now() >= a + Duration::from_secs(3600));
        assert!(c.now_utc() >= w + chrono::Duration::seconds(3600));
    }
}
