//! State shared by every connection of one simulator: records, counters, faults and quota windows.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::fault::{self, FaultAction, FaultRule};
use crate::quota::QuotaBook;
use crate::{Quota, SimConfig};

/// One request as it arrived on a Gemini API path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// HTTP version as received, e.g. `HTTP/1.1` or `HTTP/2.0`.
    #[serde(default)]
    pub version: String,
    pub path: String,
    pub query: Option<String>,
    /// Value of `x-goog-api-key`, or of `?key=` when the header is absent.
    pub api_key: Option<String>,
    /// All request headers, lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    /// Lowercase hex SHA-256 of the body.
    pub body_sha256: String,
    /// The parsed JSON body when it is valid JSON of at most 1 MiB.
    pub body: Option<serde_json::Value>,
}

/// Counters snapshot served by `GET /_sim/stats`.
#[derive(Serialize, Debug)]
pub(crate) struct Stats {
    pub calls: usize,
    pub by_key: BTreeMap<String, usize>,
    pub cancelled: usize,
    pub events_sent: usize,
}

pub(crate) struct Shared {
    pub cfg: SimConfig,
    faults: Mutex<Vec<FaultRule>>,
    records: Mutex<Vec<RecordedRequest>>,
    by_key: Mutex<BTreeMap<String, usize>>,
    pub quotas: Mutex<QuotaBook>,
    calls: AtomicUsize,
    cancelled: AtomicUsize,
    events_sent: AtomicUsize,
    seq: AtomicU64,
    seed: u64,
}

/// Lock a mutex, ignoring poisoning (a panicked holder cannot leave these structures inconsistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(cfg: SimConfig) -> Shared {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x1234_5678);
        Shared {
            cfg,
            faults: Mutex::new(Vec::new()),
            records: Mutex::new(Vec::new()),
            by_key: Mutex::new(BTreeMap::new()),
            quotas: Mutex::new(QuotaBook::default()),
            calls: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            events_sent: AtomicUsize::new(0),
            seq: AtomicU64::new(1),
            seed,
        }
    }

    /// A fresh seed for ids (unique per call).
    pub(crate) fn next_seed(&self) -> u64 {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut s = self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        crate::content::splitmix(&mut s)
    }

    pub(crate) fn add_fault(&self, rule: FaultRule) {
        if rule.times == Some(0) {
            return;
        }
        lock(&self.faults).push(rule);
    }

    pub(crate) fn clear_faults(&self) -> usize {
        let mut f = lock(&self.faults);
        let n = f.len();
        f.clear();
        n
    }

    pub(crate) fn faults(&self) -> Vec<FaultRule> {
        lock(&self.faults).clone()
    }

    pub(crate) fn take_fault(&self, key: Option<&str>, model: Option<&str>) -> Option<FaultAction> {
        fault::take(&mut lock(&self.faults), key, model)
    }

    pub(crate) fn note_call(&self, key: Option<&str>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(k) = key {
            *lock(&self.by_key).entry(k.to_owned()).or_insert(0) += 1;
        }
    }

    pub(crate) fn record(&self, r: RecordedRequest) {
        if self.cfg.record {
            lock(&self.records).push(r);
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.records).clone()
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    pub(crate) fn calls_for_key(&self, key: &str) -> usize {
        lock(&self.by_key).get(key).copied().unwrap_or(0)
    }

    pub(crate) fn note_cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub(crate) fn note_event(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn events_sent(&self) -> usize {
        self.events_sent.load(Ordering::Relaxed)
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            calls: self.calls(),
            by_key: lock(&self.by_key).clone(),
            cancelled: self.cancelled(),
            events_sent: self.events_sent(),
        }
    }

    /// The quota that applies to a key.
    pub(crate) fn quota_for(&self, key: &str) -> Option<Quota> {
        self.cfg.key_quotas.get(key).copied().or(self.cfg.quota)
    }

    pub(crate) fn reset(&self) {
        lock(&self.records).clear();
        lock(&self.by_key).clear();
        lock(&self.faults).clear();
        lock(&self.quotas).clear();
        self.calls.store(0, Ordering::Relaxed);
        self.cancelled.store(0, Ordering::Relaxed);
        self.events_sent.store(0, Ordering::Relaxed);
    }
}
