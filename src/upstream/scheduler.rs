//! The quota-aware key scheduler: per key × model health, per group × model usage windows, and the
//! choice of key for each attempt.
//!
//! Google applies quotas per Cloud project, so usage is kept per *group* (a project label; by default
//! each key is its own group) and model. Each model has its own ready set of keys, bucketed into
//! score tiers (5% wide): a pick takes the least-recently-used key of the best tier, after a
//! pre-check that this request fits the group's RPM, RPD, TPM and TPD. Keys that cannot be used
//! (cooling, parked until Pacific midnight, over a window) wait in a timer heap and return when due;
//! invalid keys are out of every model until restored. A pick therefore never scans all keys: its
//! cost does not grow with the pool. Scores drift as windows slide; [`Scheduler::refresh`] re-tiers
//! keys in the background.

use super::catalog::OTHER;
use super::classify::Fault;
use super::limits::{Limits, ModelLimits};
use super::pacific;
use crate::config::{FailoverConfig, KeyConfig};
use crate::secret::Secret;
use chrono::{DateTime, NaiveDate, Utc};
use http::HeaderValue;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// Number of score tiers; tier = floor(score × (TIERS − 1)), so each tier is 5% wide.
const TIERS: usize = 21;
/// The seed's weights for the score terms.
const W_RPD: f64 = 0.4;
const W_TPD: f64 = 0.3;
const W_RPM: f64 = 0.2;
const W_TPM: f64 = 0.1;
/// Seconds a request stays in the per-minute window (see [`Windows::minute`]).
const WINDOW: u64 = 61;
/// Most models tracked separately (a defence behind the model catalog, which already bounds the
/// names callers pass); further names share the [`OTHER`] state.
const MAX_MODELS: usize = super::catalog::MAX_KNOWN + 2;

/// A key's state for one model (or globally, when invalid).
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    Active,
    /// Rate-limited, failing, or over a per-minute window: unusable until `until`.
    Cooling {
        until: Instant,
        reason: &'static str,
    },
    /// Daily quota spent: unusable until the next Pacific midnight.
    Parked {
        until: Instant,
        until_wall: DateTime<Utc>,
    },
    /// Rejected by Google as invalid or forbidden (all models).
    Invalid {
        since: SystemTime,
        reason: String,
    },
}

/// One upstream key.
pub struct PoolKey {
    secret: Secret,
    header: HeaderValue,
    /// Short fingerprint (never the key), kept as a header value: the `x-gateway-key` response
    /// header clones it without allocating, logs and the admin API read it as text.
    fingerprint: HeaderValue,
    /// Index into the scheduler's groups.
    pub group: usize,
    invalid: Mutex<Option<(SystemTime, String)>>,
    pub successes: AtomicU64,
    pub failures: AtomicU64,
}

impl PoolKey {
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
    /// The key's short fingerprint, for logs, the admin API and reports.
    pub fn fingerprint(&self) -> &str {
        self.fingerprint.to_str().unwrap_or("?")
    }
    /// The fingerprint, for the `x-gateway-key` response header.
    pub fn fingerprint_header(&self) -> &HeaderValue {
        &self.fingerprint
    }
    pub fn secret(&self) -> &Secret {
        &self.secret
    }
    /// `Some((since, reason))` when the key is disabled.
    pub fn invalid(&self) -> Option<(SystemTime, String)> {
        self.invalid.lock().ok().and_then(|g| g.clone())
    }
}

/// The outcome of choosing a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    Key(usize),
    /// No key is usable right now; `retry_after` is the soonest recovery if any key will recover,
    /// `why` says what keeps the keys out.
    Exhausted {
        retry_after: Option<Duration>,
        why: Shortage,
    },
}

/// Why no key could be picked: the keys out of use for this model, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shortage {
    /// Cooling after a 429, parked until Pacific midnight, or held by the pre-check (a full window).
    pub quota: usize,
    /// Cooling after a 5xx, a timeout or a connection failure: Google is failing.
    pub failing: usize,
    /// Disabled: rejected by Google as invalid or forbidden.
    pub invalid: usize,
    /// Usable, but already tried by this request.
    pub tried: usize,
}

impl Shortage {
    /// True when upstream failures, not quota, are what keeps the keys out.
    pub fn is_outage(&self) -> bool {
        self.failing > 0 && self.failing >= self.quota
    }
}

/// Whether a bucket of second `bucket` still counts at second `sec` (unused buckets never do).
fn in_window(bucket: u64, sec: u64) -> bool {
    bucket != u64::MAX && bucket + WINDOW > sec && bucket <= sec
}

/// Requests and tokens of one group × model: a 60 s sliding window of 1 s buckets and the Pacific day.
#[derive(Debug, Clone)]
pub struct Windows {
    buckets: [(u64, u32, u64); 62],
    pub day: NaiveDate,
    pub day_requests: u64,
    pub day_input: u64,
    pub day_output: u64,
}

impl Windows {
    fn new(day: NaiveDate) -> Self {
        Windows {
            buckets: [(u64::MAX, 0, 0); 62],
            day,
            day_requests: 0,
            day_input: 0,
            day_output: 0,
        }
    }

    fn roll_day(&mut self, today: NaiveDate) {
        if self.day != today {
            *self = Windows {
                buckets: self.buckets,
                ..Windows::new(today)
            };
        }
    }

    fn bucket(&mut self, sec: u64) -> &mut (u64, u32, u64) {
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
    fn frees_in(&self, sec: u64, need: u64, tokens: bool) -> u64 {
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

fn tier(score: f64) -> usize {
    ((score * (TIERS - 1) as f64).floor() as usize).min(TIERS - 1)
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Ready,
    Waiting {
        until: Instant,
        reason: &'static str,
    },
    Parked {
        until: Instant,
        until_wall: DateTime<Utc>,
    },
    /// Invalid key: in no queue.
    Out,
}

struct KeyModel {
    gen: u32,
    slot: Slot,
}

/// One model's scheduling state.
struct ModelState {
    tiers: Vec<VecDeque<(u32, u32)>>,
    keys: Vec<KeyModel>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    windows: Vec<Windows>,
    entries: usize,
}

/// The scheduler: keys, groups, and per-model state.
pub struct Scheduler {
    keys: Vec<PoolKey>,
    groups: Vec<(String, Vec<u32>)>,
    models: RwLock<HashMap<String, Arc<Mutex<ModelState>>>>,
    pub limits: Arc<Limits>,
    cfg: FailoverConfig,
    /// Pre-check limits before choosing a key.
    enforce: bool,
    base: Instant,
    /// Day counts loaded from the store at startup, applied when a model is first seen.
    preload: Mutex<HashMap<(String, String), Preload>>,
}

impl Scheduler {
    pub fn new(
        keys: &[KeyConfig],
        cfg: FailoverConfig,
        limits: Arc<Limits>,
    ) -> Result<Scheduler, String> {
        let mut out = Vec::with_capacity(keys.len());
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut group_index: HashMap<String, usize> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            let mut header = HeaderValue::from_str(k.key.expose())
                .map_err(|_| format!("keys[{i}]: not a valid header value"))?;
            header.set_sensitive(true);
            let g = *group_index.entry(k.project.clone()).or_insert_with(|| {
                groups.push((k.project.clone(), Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i as u32);
            out.push(PoolKey {
                fingerprint: HeaderValue::from_str(&k.key.fingerprint())
                    .map_err(|_| format!("keys[{i}]: bad fingerprint"))?,
                secret: k.key.clone(),
                header,
                group: g,
                invalid: Mutex::new(None),
                successes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            });
        }
        Ok(Scheduler {
            keys: out,
            groups,
            models: RwLock::new(HashMap::new()),
            limits,
            cfg,
            enforce: true,
            base: Instant::now(),
            preload: Mutex::new(HashMap::new()),
        })
    }

    /// Turn the limit pre-check on or off (paid-tier pools).
    pub fn with_enforcement(mut self, enforce: bool) -> Self {
        self.enforce = enforce;
        self
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
    pub fn group_name(&self, g: usize) -> &str {
        self.groups.get(g).map_or("", |(n, _)| n.as_str())
    }
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|(n, _)| n.as_str())
    }
    /// Models seen so far.
    pub fn models(&self) -> Vec<String> {
        self.models
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Models with quota state, for reports ("" is the limit-free state of listing and counting).
    pub fn quota_models(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .models()
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect();
        v.sort();
        v
    }

    /// Limits for a group × model; the empty model (listing, counting tokens) has none.
    fn lim(&self, group: usize, model: &str) -> ModelLimits {
        if model.is_empty() {
            ModelLimits::default()
        } else {
            self.limits.get(self.group_name(group), model)
        }
    }

    fn sec(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.base).as_secs()
    }

    /// Counts of today loaded from the store, per (group, model): applied when the model is first seen.
    pub fn preload_day(
        &self,
        day: NaiveDate,
        group: &str,
        model: &str,
        requests: u64,
        input: u64,
        output: u64,
    ) {
        if let Ok(mut p) = self.preload.lock() {
            p.insert(
                (group.to_string(), model.to_string()),
                (day, requests, input, output),
            );
        }
        if let Some(m) = self.model_if_known(model) {
            if let (Ok(mut st), Some(g)) =
                (m.lock(), self.groups.iter().position(|(n, _)| n == group))
            {
                let w = &mut st.windows[g];
                if w.day == day {
                    w.day_requests = w.day_requests.max(requests);
                    w.day_input = w.day_input.max(input);
                    w.day_output = w.day_output.max(output);
                }
            }
        }
    }

    /// Create the scheduling state of `model` now if it does not exist yet (applying preloaded
    /// day counts), so listings show it before its first request.
    pub fn touch(&self, model: &str, now: Instant, wall: DateTime<Utc>) {
        self.model(model, now, wall);
    }

    fn model_if_known(&self, model: &str) -> Option<Arc<Mutex<ModelState>>> {
        self.models.read().ok()?.get(model).cloned()
    }

    fn model(&self, model: &str, now: Instant, wall: DateTime<Utc>) -> Arc<Mutex<ModelState>> {
        if let Some(m) = self.model_if_known(model) {
            return m;
        }
        if !model.is_empty()
            && model != OTHER
            && self.models.read().is_ok_and(|m| m.len() >= MAX_MODELS)
        {
            return self.model(OTHER, now, wall);
        }
        let today = pacific::day_of(wall);
        let mut windows: Vec<Windows> = self.groups.iter().map(|_| Windows::new(today)).collect();
        if let Ok(p) = self.preload.lock() {
            for (g, (name, _)) in self.groups.iter().enumerate() {
                if let Some((day, r, i, o)) = p.get(&(name.clone(), model.to_string())) {
                    if *day == today {
                        windows[g].day_requests = *r;
                        windows[g].day_input = *i;
                        windows[g].day_output = *o;
                    }
                }
            }
        }
        let mut st = ModelState {
            tiers: (0..TIERS).map(|_| VecDeque::new()).collect(),
            keys: Vec::with_capacity(self.keys.len()),
            timers: BinaryHeap::new(),
            windows,
            entries: 0,
        };
        let sec = self.sec(now);
        for (i, k) in self.keys.iter().enumerate() {
            if k.invalid().is_some() {
                st.keys.push(KeyModel {
                    gen: 0,
                    slot: Slot::Out,
                });
                continue;
            }
            st.keys.push(KeyModel {
                gen: 0,
                slot: Slot::Ready,
            });
            let lim = self.lim(k.group, model);
            let t = tier(score(&st.windows[k.group], &lim, sec));
            st.tiers[t].push_back((i as u32, 0));
            st.entries += 1;
        }
        let arc = Arc::new(Mutex::new(st));
        match self.models.write() {
            Ok(mut map) => map.entry(model.to_string()).or_insert(arc).clone(),
            Err(_) => arc,
        }
    }

    /// Choose a key for `model` whose group can take a request of `est` input tokens now, skipping
    /// keys in `tried`. The request is counted against the group when a key is returned.
    pub fn pick(
        &self,
        model: &str,
        est: u64,
        tried: &[usize],
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Pick {
        let m = self.model(model, now, wall);
        let Ok(mut st) = m.lock() else {
            return Pick::Exhausted {
                retry_after: None,
                why: Shortage::default(),
            };
        };
        let sec = self.sec(now);
        let today = pacific::day_of(wall);
        self.release_due(&mut st, model, now, sec);
        let mut skipped: Vec<(usize, (u32, u32))> = Vec::new();
        let mut chosen = None;
        'tiers: for t in (0..TIERS).rev() {
            while let Some((k, gen)) = st.tiers[t].pop_front() {
                st.entries -= 1;
                let ku = k as usize;
                if st.keys[ku].gen != gen || st.keys[ku].slot != Slot::Ready {
                    continue; // stale entry
                }
                if tried.contains(&ku) {
                    skipped.push((t, (k, gen)));
                    continue;
                }
                let g = self.keys[ku].group;
                st.windows[g].roll_day(today);
                let lim = self.lim(g, model);
                let checked = if self.enforce {
                    precheck(&st.windows[g], &lim, est, sec)
                } else {
                    Ok(())
                };
                match checked {
                    Ok(()) => {
                        chosen = Some(ku);
                        break 'tiers;
                    }
                    Err(Wait::Seconds(s)) => {
                        let until = now + Duration::from_secs(s.max(1));
                        self.set_slot(
                            &mut st,
                            ku,
                            Slot::Waiting {
                                until,
                                reason: "window_full",
                            },
                        );
                    }
                    Err(Wait::Midnight) => {
                        let until_wall = pacific::next_midnight(wall);
                        let until = now
                            + (until_wall - wall)
                                .to_std()
                                .unwrap_or(Duration::from_secs(3600));
                        self.set_slot(&mut st, ku, Slot::Parked { until, until_wall });
                    }
                }
            }
        }
        for (t, e) in skipped.into_iter().rev() {
            st.tiers[t].push_front(e);
            st.entries += 1;
        }
        let Some(k) = chosen else {
            let retry_after = st
                .timers
                .peek()
                .map(|Reverse((until, _, _))| until.saturating_duration_since(now));
            return Pick::Exhausted {
                retry_after,
                why: shortage(&st, tried, now),
            };
        };
        // Count the request when it is sent; re-tier every ready key of the group (their score changed).
        let g = self.keys[k].group;
        let b = st.windows[g].bucket(sec);
        b.1 += 1;
        st.windows[g].day_requests += 1;
        self.retier_group(&mut st, model, g, sec, Some(k));
        Pick::Key(k)
    }

    /// Move timers that are due back into the ready tiers.
    fn release_due(&self, st: &mut ModelState, model: &str, now: Instant, sec: u64) {
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

    fn push_ready(&self, st: &mut ModelState, model: &str, k: usize, sec: u64) {
        st.keys[k].gen = st.keys[k].gen.wrapping_add(1);
        let g = self.keys[k].group;
        let lim = self.lim(g, model);
        let t = tier(score(&st.windows[g], &lim, sec));
        let gen = st.keys[k].gen;
        st.tiers[t].push_back((k as u32, gen));
        st.entries += 1;
    }

    fn set_slot(&self, st: &mut ModelState, k: usize, slot: Slot) {
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
    fn retier_group(
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
    fn compact(&self, st: &mut ModelState) {
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

    /// Re-tier every ready key of every model from its current windows (run in the background:
    /// windows slide with time, so scores change without requests).
    pub fn refresh(&self, now: Instant, wall: DateTime<Utc>) {
        let models: Vec<(String, Arc<Mutex<ModelState>>)> = self
            .models
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let sec = self.sec(now);
        let today = pacific::day_of(wall);
        for (model, m) in models {
            let Ok(mut st) = m.lock() else { continue };
            self.release_due(&mut st, &model, now, sec);
            for w in st.windows.iter_mut() {
                w.roll_day(today);
            }
            for k in 0..st.keys.len() {
                if st.keys[k].slot == Slot::Ready {
                    self.push_ready(&mut st, &model, k, sec);
                }
            }
            self.compact(&mut st);
        }
    }

    /// Record the tokens Gemini reported for a request on key `k`.
    pub fn record_tokens(
        &self,
        k: usize,
        model: &str,
        input: u64,
        output: u64,
        now: Instant,
        wall: DateTime<Utc>,
    ) {
        let Some(key) = self.keys.get(k) else { return };
        let m = self.model(model, now, wall);
        let Ok(mut st) = m.lock() else { return };
        let sec = self.sec(now);
        let w = &mut st.windows[key.group];
        w.roll_day(pacific::day_of(wall));
        w.bucket(sec).2 += input;
        w.day_input += input;
        w.day_output += output;
    }

    /// Record a successful attempt.
    pub fn report_success(&self, idx: usize) {
        if let Some(k) = self.keys.get(idx) {
            k.successes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Apply a classified failure. Quota faults apply to the key's whole group (one project, one
    /// quota) for this model; server trouble to the key for this model; an invalid key to all models.
    pub fn report_fault(
        &self,
        idx: usize,
        model: &str,
        fault: &Fault,
        now: Instant,
        wall: DateTime<Utc>,
    ) {
        let Some(key) = self.keys.get(idx) else {
            return;
        };
        if matches!(fault, Fault::Client { .. }) {
            return;
        }
        key.failures.fetch_add(1, Ordering::Relaxed);
        if let Fault::KeyInvalid { reason, .. } = fault {
            tracing::warn!(key = %key.fingerprint(), reason = %reason, "upstream key disabled: rejected by Gemini");
            if let Ok(mut g) = key.invalid.lock() {
                *g = Some((SystemTime::now(), reason.clone()));
            }
            let models: Vec<Arc<Mutex<ModelState>>> = self
                .models
                .read()
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            for m in models {
                if let Ok(mut st) = m.lock() {
                    st.keys[idx].gen = st.keys[idx].gen.wrapping_add(1);
                    st.keys[idx].slot = Slot::Out;
                }
            }
            return;
        }
        if let Fault::RateLimited {
            quota: Some(hit), ..
        }
        | Fault::QuotaDay { quota: Some(hit) } = fault
        {
            self.limits.learn(self.group_name(key.group), model, hit);
        }
        let m = self.model(model, now, wall);
        let Ok(mut st) = m.lock() else { return };
        let group_members: Vec<usize> = self.groups[key.group]
            .1
            .iter()
            .map(|k| *k as usize)
            .collect();
        match fault {
            Fault::RateLimited { retry_after, .. } => {
                let until = now + *retry_after;
                tracing::info!(key = %key.fingerprint(), group = %self.group_name(key.group), model, cooldown_s = retry_after.as_secs(), "rate-limited: group cooling down");
                for k in group_members {
                    self.set_slot(
                        &mut st,
                        k,
                        Slot::Waiting {
                            until,
                            reason: "rate_limited",
                        },
                    );
                }
            }
            Fault::QuotaDay { .. } => {
                let until_wall = pacific::next_midnight(wall);
                let until = now
                    + (until_wall - wall)
                        .to_std()
                        .unwrap_or(Duration::from_secs(86_400));
                tracing::warn!(key = %key.fingerprint(), group = %self.group_name(key.group), model, until = %until_wall, "daily quota exhausted: group parked until Pacific midnight");
                for k in group_members {
                    self.set_slot(&mut st, k, Slot::Parked { until, until_wall });
                }
            }
            Fault::ServerError { .. } | Fault::Connect { .. } => {
                let until = now + self.cfg.server_error_cooldown;
                tracing::info!(key = %key.fingerprint(), model, kind = fault.kind(), "upstream failure: key cooling down");
                self.set_slot(
                    &mut st,
                    idx,
                    Slot::Waiting {
                        until,
                        reason: fault.kind(),
                    },
                );
            }
            Fault::Timeout => {
                let until = now + self.cfg.timeout_cooldown;
                tracing::info!(key = %key.fingerprint(), model, "upstream timeout: key cooling down");
                self.set_slot(
                    &mut st,
                    idx,
                    Slot::Waiting {
                        until,
                        reason: "timeout",
                    },
                );
            }
            Fault::KeyInvalid { .. } | Fault::Client { .. } => {}
        }
    }

    /// Mark a disabled key usable again (re-validation).
    pub fn restore(&self, idx: usize, now: Instant) {
        let Some(key) = self.keys.get(idx) else {
            return;
        };
        if let Ok(mut g) = key.invalid.lock() {
            if g.take().is_none() {
                return;
            }
        }
        tracing::info!(key = %key.fingerprint(), "upstream key restored");
        let models: Vec<(String, Arc<Mutex<ModelState>>)> = self
            .models
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let sec = self.sec(now);
        for (model, m) in models {
            if let Ok(mut st) = m.lock() {
                st.keys[idx].slot = Slot::Ready;
                self.push_ready(&mut st, &model, idx, sec);
            }
        }
    }

    /// A key's state for a model (invalid wins over per-model state).
    pub fn health(&self, idx: usize, model: &str, now: Instant) -> Health {
        let Some(key) = self.keys.get(idx) else {
            return Health::Active;
        };
        if let Some((since, reason)) = key.invalid() {
            return Health::Invalid { since, reason };
        }
        let Some(m) = self.model_if_known(model) else {
            return Health::Active;
        };
        let Ok(st) = m.lock() else {
            return Health::Active;
        };
        match &st.keys[idx].slot {
            Slot::Waiting { until, reason } if *until > now => Health::Cooling {
                until: *until,
                reason,
            },
            Slot::Parked { until, until_wall } if *until > now => Health::Parked {
                until: *until,
                until_wall: *until_wall,
            },
            _ => Health::Active,
        }
    }

    /// The key's worst state over all models seen (for readiness and listings).
    /// The gateway's own holds (a full window found by the pre-check) are not a key fault and count
    /// as active here; so do the quota-free listing/counting calls (model "").
    pub fn overall(&self, idx: usize, now: Instant) -> Health {
        let mut worst = Health::Active;
        for m in self.models().iter().filter(|m| !m.is_empty()) {
            let h = match self.health(idx, m, now) {
                Health::Cooling {
                    reason: "window_full",
                    ..
                } => Health::Active,
                h => h,
            };
            match (&worst, &h) {
                (_, Health::Invalid { .. }) => return h,
                (Health::Active, Health::Cooling { .. } | Health::Parked { .. }) => worst = h,
                (Health::Cooling { .. }, Health::Parked { .. }) => worst = h,
                _ => {}
            }
        }
        if let Some((since, reason)) = self.keys.get(idx).and_then(|k| k.invalid()) {
            return Health::Invalid { since, reason };
        }
        worst
    }

    /// Keys not disabled.
    pub fn valid_count(&self) -> usize {
        self.keys.iter().filter(|k| k.invalid().is_none()).count()
    }

    /// Snapshot of one group × model window: (minute requests, minute input tokens, day requests, day input, day output).
    pub fn usage(
        &self,
        group: usize,
        model: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<(u64, u64, u64, u64, u64)> {
        let m = self.model_if_known(model)?;
        let mut st = m.lock().ok()?;
        let w = st.windows.get_mut(group)?;
        w.roll_day(pacific::day_of(wall));
        let (r, t) = w.minute(self.sec(now));
        Some((r, t, w.day_requests, w.day_input, w.day_output))
    }

    /// The score of a group for a model now.
    pub fn group_score(&self, group: usize, model: &str, now: Instant) -> f64 {
        let lim = self.lim(group, model);
        let Some(m) = self.model_if_known(model) else {
            return 1.0;
        };
        let Ok(st) = m.lock() else { return 1.0 };
        st.windows
            .get(group)
            .map_or(1.0, |w| score(w, &lim, self.sec(now)))
    }
}

/// Count the keys of a model's state by what keeps them out (run only when no key could be picked).
fn shortage(st: &ModelState, tried: &[usize], now: Instant) -> Shortage {
    let mut s = Shortage::default();
    for (k, km) in st.keys.iter().enumerate() {
        match &km.slot {
            Slot::Out => s.invalid += 1,
            Slot::Parked { until, .. } if *until > now => s.quota += 1,
            Slot::Waiting { until, reason } if *until > now => {
                if matches!(*reason, "rate_limited" | "window_full" | "quota_day") {
                    s.quota += 1
                } else {
                    s.failing += 1
                }
            }
            _ if tried.contains(&k) => s.tried += 1,
            _ => {}
        }
    }
    s
}

/// Day counts loaded from the store: (day, requests, input tokens, output tokens).
type Preload = (NaiveDate, u64, u64, u64);

enum Wait {
    Seconds(u64),
    Midnight,
}

/// Would one more request of `est` input tokens fit the group's windows?
fn precheck(w: &Windows, lim: &ModelLimits, est: u64, sec: u64) -> Result<(), Wait> {
    let (mr, mt) = w.minute(sec);
    if let Some(rpd) = lim.rpd.filter(|l| *l > 0) {
        if w.day_requests + 1 > rpd {
            return Err(Wait::Midnight);
        }
    }
    if let Some(tpd) = lim.tpd_input.filter(|l| *l > 0) {
        if est <= tpd && w.day_input + est > tpd {
            return Err(Wait::Midnight);
        }
    }
    if let Some(rpm) = lim.rpm.filter(|l| *l > 0) {
        if mr + 1 > rpm {
            return Err(Wait::Seconds(w.frees_in(sec, mr + 1 - rpm, false)));
        }
    }
    if let Some(tpm) = lim.tpm_input.filter(|l| *l > 0) {
        // A single request larger than the whole minute budget cannot be helped by waiting: let Google judge it.
        if est <= tpm && mt + est > tpm {
            return Err(Wait::Seconds(w.frees_in(sec, mt + est - tpm, true)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::classify::QuotaHit;

    const M: &str = "test-model";

    fn limits(yaml_entry: &str) -> Arc<Limits> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.yaml");
        std::fs::write(&p, format!("default: {{rpm: null, rpd: null, tpm_input: null, tpd_input: null}}\nmodels:\n  {M}: {yaml_entry}\n")).unwrap();
        let l = Arc::new(Limits::new(Some(p)).unwrap());
        std::mem::forget(dir);
        l
    }

    fn sched(keys: &[(&str, &str)], lim: Arc<Limits>) -> Scheduler {
        let cfg = FailoverConfig {
            max_attempts: 5,
            rate_limit_cooldown: Duration::from_secs(60),
            server_error_cooldown: Duration::from_secs(5),
            timeout_cooldown: Duration::from_secs(10),
            backoff_min: Duration::ZERO,
            backoff_max: Duration::ZERO,
            unknown_model_ttl: Duration::ZERO,
        };
        let keys: Vec<KeyConfig> = keys
            .iter()
            .map(|(k, p)| KeyConfig {
                key: Secret::new(*k),
                project: p.to_string(),
            })
            .collect();
        Scheduler::new(&keys, cfg, lim).unwrap()
    }

    fn wall(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn key(p: Pick) -> usize {
        match p {
            Pick::Key(k) => k,
            other => panic!("expected a key, got {other:?}"),
        }
    }

    #[test]
    fn least_recently_used_among_equals() {
        let s = sched(&[("a", "1"), ("b", "2"), ("c", "3")], limits("{}"));
        let (now, w) = (Instant::now(), Utc::now());
        let picks: Vec<usize> = (0..6).map(|_| key(s.pick(M, 10, &[], now, w))).collect();
        assert_eq!(&picks[..3], &picks[3..]);
        let mut first = picks[..3].to_vec();
        first.sort();
        assert_eq!(first, vec![0, 1, 2]);
    }

    #[test]
    fn the_best_score_wins() {
        let s = sched(&[("a", "1"), ("b", "2")], limits("{rpd: 10}"));
        let (now, w) = (Instant::now(), Utc::now());
        // Group 1 already spent 5 of its 10 requests today (e.g. loaded from the store).
        s.preload_day(pacific::day_of(w), "1", M, 5, 0, 0);
        for _ in 0..4 {
            assert_eq!(
                key(s.pick(M, 1, &[], now, w)),
                1,
                "the fresher group is preferred"
            );
        }
        // now 5 vs 4 used: within 95%? 0.5 vs 0.6 — no; b still preferred
        assert_eq!(key(s.pick(M, 1, &[], now, w)), 1);
        // equal usage (5/5): both in the same tier, served LRU
        let a = key(s.pick(M, 1, &[], now, w));
        let b = key(s.pick(M, 1, &[], now, w));
        assert_ne!(a, b);
    }

    #[test]
    fn rpm_precheck_skips_a_full_key_before_calling_it() {
        let s = sched(&[("a", "1")], limits("{rpm: 2}"));
        let (now, w) = (Instant::now(), Utc::now());
        key(s.pick(M, 1, &[], now, w));
        key(s.pick(M, 1, &[], now, w));
        match s.pick(M, 1, &[], now + Duration::from_secs(10), w) {
            Pick::Exhausted {
                retry_after: Some(d),
                ..
            } => assert!(
                d <= Duration::from_secs(51) && d >= Duration::from_secs(49),
                "{d:?}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            s.health(0, M, now + Duration::from_secs(10)),
            Health::Cooling {
                reason: "window_full",
                ..
            }
        ));
        assert_eq!(key(s.pick(M, 1, &[], now + Duration::from_secs(61), w)), 0);
    }

    #[test]
    fn tpm_precheck_uses_the_estimate() {
        let s = sched(&[("a", "1"), ("b", "2")], limits("{tpm_input: 1000}"));
        let (now, w) = (Instant::now(), Utc::now());
        let k = key(s.pick(M, 600, &[], now, w));
        s.record_tokens(k, M, 600, 5, now, w);
        // the other key takes the next 600-token request; then neither fits
        let k2 = key(s.pick(M, 600, &[], now, w));
        assert_ne!(k, k2);
        s.record_tokens(k2, M, 600, 5, now, w);
        assert!(matches!(
            s.pick(M, 600, &[], now, w),
            Pick::Exhausted { .. }
        ));
        // a small request still fits
        assert!(matches!(
            s.pick(M, 300, &[], now + Duration::from_secs(61), w),
            Pick::Key(_)
        ));
        // a request larger than the whole budget is not blocked forever
        let s = sched(&[("a", "1")], limits("{tpm_input: 1000}"));
        assert!(matches!(s.pick(M, 5000, &[], now, w), Pick::Key(0)));
    }

    #[test]
    fn rpd_parks_until_pacific_midnight_then_rolls_over() {
        let s = sched(&[("a", "1")], limits("{rpd: 1}"));
        let now = Instant::now();
        let w = wall("2026-01-15T20:00:00Z"); // noon PST
        key(s.pick(M, 1, &[], now, w));
        match s.pick(M, 1, &[], now, w) {
            Pick::Exhausted {
                retry_after: Some(d),
                ..
            } => assert_eq!(d, Duration::from_secs(12 * 3600)),
            other => panic!("{other:?}"),
        }
        let Health::Parked { until_wall, .. } = s.health(0, M, now) else {
            panic!()
        };
        assert_eq!(until_wall, wall("2026-01-16T08:00:00Z"));
        let later = now + Duration::from_secs(12 * 3600);
        assert_eq!(
            key(s.pick(M, 1, &[], later, wall("2026-01-16T08:00:01Z"))),
            0,
            "new Pacific day, fresh counts"
        );
    }

    #[test]
    fn group_shares_one_quota() {
        let s = sched(
            &[("a", "proj"), ("b", "proj"), ("c", "other")],
            limits("{rpm: 2}"),
        );
        let (now, w) = (Instant::now(), Utc::now());
        let picks: Vec<usize> = (0..4).map(|_| key(s.pick(M, 1, &[], now, w))).collect();
        let proj = picks.iter().filter(|k| **k < 2).count();
        assert_eq!(
            proj, 2,
            "the project's two keys together get 2 requests a minute: {picks:?}"
        );
        assert!(matches!(s.pick(M, 1, &[], now, w), Pick::Exhausted { .. }));
    }

    #[test]
    fn rate_limit_cools_the_whole_group_for_that_model_only() {
        let s = sched(
            &[("a", "proj"), ("b", "proj"), ("c", "other")],
            limits("{}"),
        );
        let (now, w) = (Instant::now(), Utc::now());
        s.report_fault(
            0,
            M,
            &Fault::RateLimited {
                retry_after: Duration::from_secs(30),
                quota: None,
            },
            now,
            w,
        );
        for _ in 0..3 {
            assert_eq!(key(s.pick(M, 1, &[], now, w)), 2);
        }
        assert!(matches!(
            s.pick("other-model", 1, &[0], now, w),
            Pick::Key(1)
        ));
    }

    #[test]
    fn learned_quota_overrides_the_file_for_that_group() {
        let s = sched(&[("a", "proj"), ("c", "other")], limits("{rpm: 100}"));
        let (now, w) = (Instant::now(), Utc::now());
        let hit = QuotaHit {
            quota_id: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier".into(),
            quota_metric: None,
            quota_value: Some(5),
        };
        s.report_fault(
            0,
            M,
            &Fault::RateLimited {
                retry_after: Duration::from_secs(1),
                quota: Some(hit),
            },
            now,
            w,
        );
        assert_eq!(s.limits.get("proj", M).rpm, Some(5));
        assert_eq!(s.limits.get("other", M).rpm, Some(100));
    }

    #[test]
    fn invalid_keys_leave_every_model_and_come_back_on_restore() {
        let s = sched(&[("a", "1"), ("b", "2")], limits("{}"));
        let (now, w) = (Instant::now(), Utc::now());
        key(s.pick(M, 1, &[], now, w));
        s.report_fault(
            0,
            M,
            &Fault::KeyInvalid {
                status: 400,
                reason: "API_KEY_INVALID".into(),
            },
            now,
            w,
        );
        for m in [M, "another"] {
            for _ in 0..3 {
                assert_eq!(key(s.pick(m, 1, &[], now, w)), 1);
            }
        }
        assert!(matches!(s.overall(0, now), Health::Invalid { .. }));
        assert_eq!(
            s.pick(M, 1, &[1], now, w),
            Pick::Exhausted {
                retry_after: None,
                why: Shortage {
                    invalid: 1,
                    tried: 1,
                    ..Default::default()
                }
            }
        );
        s.restore(0, now);
        assert_eq!(key(s.pick(M, 1, &[1], now, w)), 0);
        assert_eq!(key(s.pick("another", 1, &[1], now, w)), 0);
    }

    #[test]
    fn tried_keys_are_skipped_but_keep_their_place() {
        let s = sched(&[("a", "1"), ("b", "2"), ("c", "3")], limits("{}"));
        let (now, w) = (Instant::now(), Utc::now());
        let first = key(s.pick(M, 1, &[], now, w));
        let second = key(s.pick(M, 1, &[first], now, w));
        assert_ne!(first, second);
        assert_eq!(
            s.pick(M, 1, &[0, 1, 2], now, w),
            Pick::Exhausted {
                retry_after: None,
                why: Shortage {
                    tried: 3,
                    ..Default::default()
                }
            }
        );
    }

    #[test]
    fn ten_thousand_keys_are_served_in_rotation() {
        let names: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
        let keys: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
        let s = sched(&keys, limits("{rpm: 1000, rpd: 100000}"));
        let (now, w) = (Instant::now(), Utc::now());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            seen.insert(key(s.pick(M, 10, &[], now, w)));
        }
        assert_eq!(
            seen.len(),
            10_000,
            "every key used once before any is reused"
        );
        s.refresh(now, w);
        assert!(matches!(s.pick(M, 10, &[], now, w), Pick::Key(_)));
    }

    #[test]
    fn score_weights_and_tpd_reads_its_own_limit() {
        let mut w = Windows::new(pacific::day_of(Utc::now()));
        w.day_input = 50;
        let lim = ModelLimits {
            tpd_input: Some(100),
            tpm_input: Some(1_000_000),
            ..Default::default()
        };
        // TPD term 0.5 × 0.3, TPM term 1.0 × 0.1 → (0.15 + 0.1) / 0.4
        assert!((score(&w, &lim, 0) - 0.625).abs() < 1e-9);
        assert_eq!(score(&w, &ModelLimits::default(), 0), 1.0);
    }
}
