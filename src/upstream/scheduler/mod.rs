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

mod key;
mod policy;
mod queue;
mod window;

pub use key::{Health, KeyId, PoolKey};
pub use policy::HELD_REASON;
pub use window::{score, Windows};

use super::catalog::OTHER;
use super::limits::{Limits, ModelLimits};
use super::pacific;
use super::tiers::LimitHit;
use crate::config::{FailoverConfig, KeyConfig};
use crate::error::StartupError;
use crate::sync::{lock, read, write};
use chrono::{DateTime, NaiveDate, Utc};
use http::HeaderValue;
use queue::{shortage, Full, KeyModel, ModelState, Slot};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use window::{precheck, tier, Wait, TIERS};

/// Most models tracked separately (a defence behind the model catalog, which already bounds the
/// names callers pass); further names share the [`OTHER`] state.
const MAX_MODELS: usize = super::catalog::MAX_KNOWN + 2;

/// The outcome of choosing a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    Key(KeyId),
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
    /// The full quota of the key that comes back first, when known: kind, value, source.
    pub limit: Option<LimitHit>,
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
    ) -> Result<Scheduler, StartupError> {
        let mut out = Vec::with_capacity(keys.len());
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut group_index: HashMap<String, usize> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            let mut header =
                HeaderValue::from_str(k.key.expose()).map_err(|_| StartupError::Key {
                    index: i,
                    reason: "not a valid header value",
                })?;
            header.set_sensitive(true);
            let g = *group_index.entry(k.project.clone()).or_insert_with(|| {
                groups.push((k.project.clone(), Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i as u32);
            out.push(PoolKey {
                fingerprint: HeaderValue::from_str(&k.key.fingerprint()).map_err(|_| {
                    StartupError::Key {
                        index: i,
                        reason: "bad fingerprint",
                    }
                })?,
                secret: k.key.clone(),
                header,
                group: g,
                invalid: Mutex::new(None),
                held: std::sync::atomic::AtomicBool::new(false),
                last_error: Mutex::new(None),
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
    pub fn get(&self, id: KeyId) -> Option<&PoolKey> {
        self.keys.get(id.index())
    }
    pub fn iter(&self) -> impl Iterator<Item = &PoolKey> {
        self.keys.iter()
    }
    /// Every key's id, in configured order.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> {
        (0..self.keys.len()).map(KeyId::new)
    }
    /// Every key with its id.
    pub fn entries(&self) -> impl Iterator<Item = (KeyId, &PoolKey)> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| (KeyId::new(i), k))
    }
    pub fn group_name(&self, g: usize) -> &str {
        self.groups.get(g).map_or("", |(n, _)| n.as_str())
    }
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|(n, _)| n.as_str())
    }
    /// Models seen so far.
    pub fn models(&self) -> Vec<String> {
        read(&self.models).keys().cloned().collect()
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
        {
            let mut p = lock(&self.preload);
            p.insert(
                (group.to_string(), model.to_string()),
                (day, requests, input, output),
            );
        }
        if let Some(m) = self.model_if_known(model) {
            if let Some(g) = self.groups.iter().position(|(n, _)| n == group) {
                let mut st = lock(&m);
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
        read(&self.models).get(model).cloned()
    }

    fn model(&self, model: &str, now: Instant, wall: DateTime<Utc>) -> Arc<Mutex<ModelState>> {
        if let Some(m) = self.model_if_known(model) {
            return m;
        }
        if !model.is_empty() && model != OTHER && read(&self.models).len() >= MAX_MODELS {
            return self.model(OTHER, now, wall);
        }
        let today = pacific::day_of(wall);
        let mut windows: Vec<Windows> = self.groups.iter().map(|_| Windows::new(today)).collect();
        {
            let p = lock(&self.preload);
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
        write(&self.models)
            .entry(model.to_string())
            .or_insert(arc)
            .clone()
    }

    /// Choose a key for `model` whose group can take a request of `est` input tokens now, skipping
    /// keys in `tried`. The request is counted against the group when a key is returned.
    pub fn pick(
        &self,
        model: &str,
        est: u64,
        tried: &[KeyId],
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Pick {
        let m = self.model(model, now, wall);
        let mut st = lock(&m);
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
                if tried.contains(&KeyId::new(ku)) {
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
                    Err(Wait::Seconds(s, kind)) => {
                        let until = now + Duration::from_secs(s.max(1));
                        self.set_slot(
                            &mut st,
                            ku,
                            Slot::Waiting {
                                until,
                                reason: "window_full",
                                limit: Some(Full {
                                    kind,
                                    by_google: false,
                                }),
                            },
                        );
                    }
                    Err(Wait::Midnight(kind)) => {
                        let until_wall = pacific::next_midnight(wall);
                        let until = now
                            + (until_wall - wall)
                                .to_std()
                                .unwrap_or(Duration::from_secs(3600));
                        self.set_slot(
                            &mut st,
                            ku,
                            Slot::Parked {
                                until,
                                until_wall,
                                limit: Some(Full {
                                    kind,
                                    by_google: false,
                                }),
                            },
                        );
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
            let (mut why, full) = shortage(&st, tried, now);
            why.limit = full.map(|(k, f)| {
                self.limits.explain(
                    self.group_name(self.keys[k].group),
                    model,
                    f.kind,
                    f.by_google,
                )
            });
            return Pick::Exhausted { retry_after, why };
        };
        // Count the request when it is sent; re-tier every ready key of the group (their score changed).
        let g = self.keys[k].group;
        let b = st.windows[g].bucket(sec);
        b.1 += 1;
        st.windows[g].day_requests += 1;
        self.retier_group(&mut st, model, g, sec, Some(k));
        Pick::Key(KeyId::new(k))
    }

    /// Re-tier every ready key of every model from its current windows (run in the background:
    /// windows slide with time, so scores change without requests).
    pub fn refresh(&self, now: Instant, wall: DateTime<Utc>) {
        let models: Vec<(String, Arc<Mutex<ModelState>>)> = read(&self.models)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let sec = self.sec(now);
        let today = pacific::day_of(wall);
        for (model, m) in models {
            let mut st = lock(&m);
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
        id: KeyId,
        model: &str,
        input: u64,
        output: u64,
        now: Instant,
        wall: DateTime<Utc>,
    ) {
        let Some(key) = self.keys.get(id.index()) else {
            return;
        };
        let m = self.model(model, now, wall);
        let mut st = lock(&m);
        let sec = self.sec(now);
        let w = &mut st.windows[key.group];
        w.roll_day(pacific::day_of(wall));
        w.bucket(sec).2 += input;
        w.day_input += input;
        w.day_output += output;
    }

    /// A key's state for a model (invalid wins over per-model state).
    pub fn health(&self, id: KeyId, model: &str, now: Instant) -> Health {
        let idx = id.index();
        let Some(key) = self.keys.get(idx) else {
            return Health::Active;
        };
        if let Some((since, reason)) = key.invalid() {
            return Health::Invalid { since, reason };
        }
        let Some(m) = self.model_if_known(model) else {
            return Health::Active;
        };
        let st = lock(&m);
        match &st.keys[idx].slot {
            Slot::Waiting { until, reason, .. } if *until > now => Health::Cooling {
                until: *until,
                reason,
            },
            Slot::Parked {
                until, until_wall, ..
            } if *until > now => Health::Parked {
                until: *until,
                until_wall: *until_wall,
            },
            _ => Health::Active,
        }
    }

    /// The key's worst state over all models seen (for readiness and listings).
    /// The gateway's own holds (a full window found by the pre-check) are not a key fault and count
    /// as active here; so do the quota-free listing/counting calls (model "").
    pub fn overall(&self, id: KeyId, now: Instant) -> Health {
        let idx = id.index();
        let mut worst = Health::Active;
        for m in self.models().iter().filter(|m| !m.is_empty()) {
            let h = match self.health(id, m, now) {
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
        let mut st = lock(&m);
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
        let st = lock(&m);
        st.windows
            .get(group)
            .map_or(1.0, |w| score(w, &lim, self.sec(now)))
    }
}

/// Day counts loaded from the store: (day, requests, input tokens, output tokens).
type Preload = (NaiveDate, u64, u64, u64);
