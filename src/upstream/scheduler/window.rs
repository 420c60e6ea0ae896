//! Window arithmetic: requests and tokens of one group × model over the last minute (1 s buckets)
//! and the Pacific day, the health score over them, and the pre-check of one more request.

use super::super::limits::{LimitKind, ModelLimits};
use chrono::NaiveDate;

/// Number of score tiers; tier = floor(score × (TIERS − 1)), so each tier is 5% wide.
pub(super) const TIERS: usize = 21;
/// The seed's weights for the score terms.
const W_RPD: f64 = 0.4;
const W_TPD: f64 = 0.3;
const W_RPM: f64 = 0.2;
const W_TPM: f64 = 0.1;
/// Seconds a request stays in the per-minute window (see [`Windows::minute`]).
pub(super) const WINDOW: u64 = 61;

/// Whether a bucket of second `bucket` still counts at second `sec` (unused buckets never do).
pub(super) fn in_window(bucket: u64, sec: u64) -> bool {
    bucket != u64::MAX && bucket + WINDOW > sec && bucket <= sec
}

/// Requests and tokens of one group × model: a 60 s sliding window of 1 s buckets and the Pacific day.
#[derive(Debug, Clone)]
pub struct Windows {
    pub(super) buckets: [(u64, u32, u64); 62],
    pub day: NaiveDate,
    pub day_requests: u64,
    pub day_input: u64,
    pub day_output: u64,
}

impl Windows {
    pub(super) fn new(day: NaiveDate) -> Self {
        Windows {
            buckets: [(u64::MAX, 0, 0); 62],
            day,
            day_requests: 0,
            day_input: 0,
            day_output: 0,
        }
    }

    pub(super) fn roll_day(&mut self, today: NaiveDate) {
        if self.day != today {
            *self = Windows {
                buckets: self.buckets,
                ..Windows::new(today)
            };
        }
    }

    pub(super) fn bucket(&mut self, sec: u64) -> &mut (u64, u32, u64) {
        let b = &mut self.buckets[(sec % 62) as usize];
        if b.0 != sec {
            *b = (sec, 0, 0);
        }
        b
    }

    /// Requests and input tokens in the last minute. A request is counted until the end of the
    /// 61st second after the one it was sent in: with 1 s buckets that is never earlier than
    /// Google's own 60 s sliding window forgets it, so the pre-check never frees a slot too soon.
    pub fn minute(&self, sec: u64) -> (u64, u64) {
        let mut r = 0u64;
        let mut t = 0u64;
        for (s, req, tok) in &self.buckets {
            if in_window(*s, sec) {
                r += u64::from(*req);
                t += tok;
            }
        }
        (r, t)
    }

    /// Seconds until at least `need` requests (or tokens, with `tokens`) have left the window.
    pub(super) fn frees_in(&self, sec: u64, need: u64, tokens: bool) -> u64 {
        let mut live: Vec<(u64, u64)> = self
            .buckets
            .iter()
            .filter(|(s, _, _)| in_window(*s, sec))
            .map(|(s, r, t)| (*s, if tokens { *t } else { u64::from(*r) }))
            .collect();
        live.sort_unstable();
        let mut freed = 0;
        for (s, n) in live {
            freed += n;
            if freed >= need {
                return s + WINDOW - sec;
            }
        }
        WINDOW
    }
}

/// The health score of a group for a model: remaining fractions weighted 0.4 RPD, 0.3 TPD, 0.2 RPM,
/// 0.1 TPM over the limits that exist. (The seed read the TPM limit for its TPD term; here each term
/// reads its own limit.)
pub fn score(w: &Windows, lim: &ModelLimits, sec: u64) -> f64 {
    let (mr, mt) = w.minute(sec);
    let mut sum = 0.0;
    let mut weights = 0.0;
    for (limit, weight, used) in [
        (lim.rpd, W_RPD, w.day_requests),
        (lim.tpd_input, W_TPD, w.day_input),
        (lim.rpm, W_RPM, mr),
        (lim.tpm_input, W_TPM, mt),
    ] {
        if let Some(l) = limit.filter(|l| *l > 0) {
            sum += weight * (1.0 - used as f64 / l as f64).max(0.0);
            weights += weight;
        }
    }
    if weights == 0.0 {
        1.0
    } else {
        (sum / weights).clamp(0.0, 1.0)
    }
}

pub(super) fn tier(score: f64) -> usize {
    ((score * (TIERS - 1) as f64).floor() as usize).min(TIERS - 1)
}

/// Why the pre-check holds a key back: for how long, and which limit is full.
pub(super) enum Wait {
    Seconds(u64, LimitKind),
    Midnight(LimitKind),
}

/// Would one more request of `est` input tokens fit the group's windows?
pub(super) fn precheck(w: &Windows, lim: &ModelLimits, est: u64, sec: u64) -> Result<(), Wait> {
    let (mr, mt) = w.minute(sec);
    if let Some(rpd) = lim.rpd.filter(|l| *l > 0) {
        if w.day_requests + 1 > rpd {
            return Err(Wait::Midnight(LimitKind::Rpd));
        }
    }
    if let Some(tpd) = lim.tpd_input.filter(|l| *l > 0) {
        if est <= tpd && w.day_input + est > tpd {
            return Err(Wait::Midnight(LimitKind::TpdInput));
        }
    }
    if let Some(rpm) = lim.rpm.filter(|l| *l > 0) {
        if mr + 1 > rpm {
            return Err(Wait::Seconds(
                w.frees_in(sec, mr + 1 - rpm, false),
                LimitKind::Rpm,
            ));
        }
    }
    if let Some(tpm) = lim.tpm_input.filter(|l| *l > 0) {
        // A single request larger than the whole minute budget cannot be helped by waiting: let Google judge it.
        if est <= tpm && mt + est > tpm {
            return Err(Wait::Seconds(
                w.frees_in(sec, mt + est - tpm, true),
                LimitKind::TpmInput,
            ));
        }
    }
    Ok(())
}
