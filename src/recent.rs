//! The last hour minute by minute — requests, errors, upstream attempts — kept in a fixed ring of
//! atomic counters, for the admin dashboard's charts (no history store, no allocation per request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Minutes kept.
pub const MINUTES: usize = 60;

#[derive(Default)]
struct Minute {
    /// Which minute (Unix minutes) the counts belong to.
    at: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    attempts: AtomicU64,
}

/// One minute's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    pub attempts: u64,
}

/// The ring.
pub struct Recent {
    ring: [Minute; MINUTES],
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            ring: std::array::from_fn(|_| Minute::default()),
        }
    }
}

fn unix_minute(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 60)
}

impl Recent {
    /// Count one finished request at `now`.
    pub fn record(&self, now: SystemTime, error: bool, attempts: u64) {
        let m = unix_minute(now);
        let slot = &self.ring[(m % MINUTES as u64) as usize];
        let at = slot.at.load(Ordering::Acquire);
        if at != m
            && slot
                .at
                .compare_exchange(at, m, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This minute's first request resets the slot (a few counts racing the reset may be
            // lost: these are charts, not accounting).
            slot.requests.store(0, Ordering::Relaxed);
            slot.errors.store(0, Ordering::Relaxed);
            slot.attempts.store(0, Ordering::Relaxed);
        }
        slot.requests.fetch_add(1, Ordering::Relaxed);
        slot.errors.fetch_add(u64::from(error), Ordering::Relaxed);
        slot.attempts.fetch_add(attempts, Ordering::Relaxed);
    }

    /// The last [`MINUTES`] minutes, oldest first, ending with the current minute.
    pub fn last_hour(&self, now: SystemTime) -> Vec<Counts> {
        let now_m = unix_minute(now);
        (0..MINUTES as u64)
            .rev()
            .map(|ago| {
                let m = now_m.saturating_sub(ago);
                let slot = &self.ring[(m % MINUTES as u64) as usize];
                if slot.at.load(Ordering::Acquire) != m {
                    return Counts::default();
                }
                Counts {
                    requests: slot.requests.load(Ordering::Relaxed),
                    errors: slot.errors.load(Ordering::Relaxed),
                    attempts: slot.attempts.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn minutes_are_counted_apart_and_old_ones_drop_out() {
        let r = Recent::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000 * 60);
        r.record(t0, false, 1);
        r.record(t0, true, 3);
        r.record(t0 + Duration::from_secs(60), false, 2);
        let h = r.last_hour(t0 + Duration::from_secs(60));
        assert_eq!(h.len(), MINUTES);
        assert_eq!(
            h[MINUTES - 1],
            Counts {
                requests: 1,
                errors: 0,
                attempts: 2
            }
        );
        assert_eq!(
            h[MINUTES - 2],
            Counts {
                requests: 2,
                errors: 1,
                attempts: 4
            }
        );
        // An hour later the slot of t0 is reused and the old counts are gone.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(r.last_hour(later)[MINUTES - 1], Counts::default());
        r.record(later, false, 1);
        assert_eq!(r.last_hour(later)[MINUTES - 1].requests, 1);
        assert!(r.last_hour(later)[..MINUTES - 1]
            .iter()
            .all(|c| c.requests <= 1));
    }
}
