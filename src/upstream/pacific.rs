//! Google's daily quotas reset at midnight America/Los_Angeles; this computes that boundary.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;

/// The next midnight in America/Los_Angeles strictly after `now`, as UTC (DST-correct).
pub fn next_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&Los_Angeles);
    let tomorrow = local
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap_or(local.date_naive());
    let midnight = tomorrow.and_time(NaiveTime::MIN);
    // Midnight exists on every DST day in Los Angeles (changes happen at 02:00); `earliest` covers any ambiguity.
    match Los_Angeles.from_local_datetime(&midnight).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => now + chrono::Duration::hours(24),
    }
}

/// The Pacific calendar day of `now`, e.g. `2026-11-22`.
pub fn day_of(now: DateTime<Utc>) -> chrono::NaiveDate {
    now.with_timezone(&Los_Angeles).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn winter_midnight_is_08_utc() {
        assert_eq!(
            next_midnight(utc("2026-01-15T12:00:00Z")),
            utc("2026-01-16T08:00:00Z")
        );
    }

    #[test]
    fn summer_midnight_is_07_utc() {
        assert_eq!(
            next_midnight(utc("2026-07-15T12:00:00Z")),
            utc("2026-07-16T07:00:00Z")
        );
    }

    #[test]
    fn just_before_and_at_midnight() {
        // 23:59 PST on Jan 15 = 07:59Z Jan 16
        assert_eq!(
            next_midnight(utc("2026-01-16T07:59:00Z")),
            utc("2026-01-16T08:00:00Z")
        );
        // exactly midnight PST -> the following one
        assert_eq!(
            next_midnight(utc("2026-01-16T08:00:00Z")),
            utc("2026-01-17T08:00:00Z")
        );
    }

    #[test]
    fn dst_change_days() {
        // 2026-03-08 spring forward: day is 23 h long; midnight after it is 07:00Z on the 9th.
        assert_eq!(
            next_midnight(utc("2026-03-08T10:00:00Z")),
            utc("2026-03-09T07:00:00Z")
        );
        // 2026-11-01 fall back: day is 25 h long; midnight after it is 08:00Z on the 2nd.
        assert_eq!(
            next_midnight(utc("2026-11-01T10:00:00Z")),
            utc("2026-11-02T08:00:00Z")
        );
    }

    #[test]
    fn day_boundary() {
        assert_eq!(
            day_of(utc("2026-01-16T07:59:59Z")).to_string(),
            "2026-01-15"
        );
        assert_eq!(
            day_of(utc("2026-01-16T08:00:00Z")).to_string(),
            "2026-01-16"
        );
    }
}
