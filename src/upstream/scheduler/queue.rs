//! The ready queue of one model: keys in score tiers (least recently used first within a tier),
//! timers for keys that wait (cooling, parked, over a window), and the moves between them.

use super::super::limits::LimitKind;
use super::window::{score, tier, Windows};
use super::{KeyId, Scheduler, Shortage};
use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Slot {
    Ready,
    Waiting {
        until: Instant,
        reason: &'static str,
        /// The quota that is full, when known (the pre-check's, or the one Google's 429 named).
        limit: Option<Full>,
    },
    Parked {
        until: Instant,
        until_wall: DateTime<Utc>,
        limit: Option<Full>,
    },
    /// Invalid key: in no queue.
    Out,
}

/// A full quota that keeps a key out: which one, and whether Google's 429 said so (else the
/// gateway's pre-check found the window full).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Full {
    pub(super) kind: LimitKind,
    pub(super) by_google: bool,
}

pub(super) struct KeyModel {
    pub(super) gen: u32,
    pub(super) slot: Slot,
}

/// One model's scheduling state.
pub(super) struct ModelState {
    pub(super) tiers: Vec<VecDeque<(u32, u32)>>,
    pub(super) keys: Vec<KeyModel>,
    pub(super) timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    pub(super) windows: Vec<Windows>,
    pub(super) entries: usize,
}

impl Scheduler {
    /// Move timers that are due back into the ready tiers.
    pub(super) fn release_due(&self, st: &mut ModelState, model: &str, now: Instant, sec: u64) {
        while let Some(Reverse((until, k, gen))) = st.timers.peek().copied() {
            if until > now {
                break;
            }
            st.timers.pop();
            let ku = k as usize;
            if st.keys[ku].gen != gen || matches!(st.keys[ku].slot, Slot::Ready | Slot::Out) {
                continue;
            }
            st.keys[ku].slot = Slot::Ready;
            self.push_ready(st, model, ku, sec);
        }
    }

    pub(super) fn push_ready(&self, st: &mut ModelState, model: &str, k: usize, sec: u64) {
        st.keys[k].gen = st.keys[k].gen.wrapping_add(1);
        let g = self.keys[k].group;
        let lim = self.lim(g, model);
        let t = tier(score(&st.windows[g], &lim, sec));
        let gen = st.keys[k].gen;
        st.tiers[t].push_back((k as u32, gen));
        st.entries += 1;
    }

    pub(super) fn set_slot(&self, st: &mut ModelState, k: usize, slot: Slot) {
        // A longer penalty is never shortened by a shorter one.
        let until_new = match &slot {
            Slot::Waiting { until, .. } | Slot::Parked { until, .. } => Some(*until),
            _ => None,
        };
        match (&st.keys[k].slot, until_new) {
            (Slot::Out, _) => return,
            (Slot::Waiting { until: a, .. } | Slot::Parked { until: a, .. }, Some(b))
                if *a >= b =>
            {
                return
            }
            _ => {}
        }
        st.keys[k].gen = st.keys[k].gen.wrapping_add(1);
        if let Some(until) = until_new {
            let gen = st.keys[k].gen;
            st.timers.push(Reverse((until, k as u32, gen)));
        }
        st.keys[k].slot = slot;
    }

    /// Re-tier the ready keys of group `g` (the used key goes to the back of its tier: least recently used first).
    pub(super) fn retier_group(
        &self,
        st: &mut ModelState,
        model: &str,
        g: usize,
        sec: u64,
        used: Option<usize>,
    ) {
        let members = &self.groups[g].1;
        for &k in members {
            let ku = k as usize;
            if st.keys[ku].slot == Slot::Ready && (Some(ku) == used || members.len() > 1) {
                self.push_ready(st, model, ku, sec);
            }
        }
        if st.entries > 4 * self.keys.len() + 64 {
            self.compact(st);
        }
    }

    /// Drop stale entries from the tiers.
    pub(super) fn compact(&self, st: &mut ModelState) {
        let mut n = 0;
        let keys = &st.keys;
        for t in st.tiers.iter_mut() {
            t.retain(|(k, gen)| {
                let km = &keys[*k as usize];
                km.gen == *gen && km.slot == Slot::Ready
            });
            n += t.len();
        }
        st.entries = n;
    }
}

/// Count the keys of a model's state by what keeps them out (run only when no key could be picked),
/// and find the known full quota of the key that comes back first: (key index, limit).
pub(super) fn shortage(
    st: &ModelState,
    tried: &[KeyId],
    now: Instant,
) -> (Shortage, Option<(usize, Full)>) {
    let mut s = Shortage::default();
    let mut first: Option<(Instant, usize, Full)> = None;
    let mut note = |until: Instant, k: usize, limit: &Option<Full>| {
        if let Some(l) = limit {
            if first.is_none_or(|(u, _, _)| until < u) {
                first = Some((until, k, *l));
            }
        }
    };
    for (k, km) in st.keys.iter().enumerate() {
        match &km.slot {
            Slot::Out => s.invalid += 1,
            Slot::Parked { until, limit, .. } if *until > now => {
                s.quota += 1;
                note(*until, k, limit);
            }
            Slot::Waiting {
                until,
                reason,
                limit,
            } if *until > now => {
                if matches!(*reason, "rate_limited" | "window_full" | "quota_day") {
                    s.quota += 1;
                    note(*until, k, limit);
                } else {
                    s.failing += 1
                }
            }
            _ if tried.contains(&KeyId::new(k)) => s.tried += 1,
            _ => {}
        }
    }
    (s, first.map(|(_, k, l)| (k, l)))
}
