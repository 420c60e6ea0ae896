//! Key identity: the [`KeyId`] every part of the gateway names a key by, the key itself (secret,
//! header, fingerprint, group) and the public view of a key's state.

use crate::secret::Secret;
use crate::sync::lock;
use chrono::{DateTime, Utc};
use http::HeaderValue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// A key of the pool: its position in the configured list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(u32);

impl KeyId {
    pub fn new(index: usize) -> KeyId {
        KeyId(index as u32)
    }
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

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
    pub(super) secret: Secret,
    pub(super) header: HeaderValue,
    /// Short fingerprint (never the key), kept as a header value: the `x-gateway-key` response
    /// header clones it without allocating, logs and the admin API read it as text.
    pub(super) fingerprint: HeaderValue,
    /// Index into the scheduler's groups.
    pub group: usize,
    pub(super) invalid: Mutex<Option<(SystemTime, String)>>,
    /// Disabled by an administrator: out of every queue until enabled again; a key check does
    /// not bring it back.
    pub(super) held: AtomicBool,
    /// The last upstream fault on this key (when, what), for the admin UI.
    pub(super) last_error: Mutex<Option<(SystemTime, String)>>,
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
        lock(&self.invalid).clone()
    }
    /// Whether an administrator disabled the key.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }
    /// The last upstream fault on this key: when, and what.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        lock(&self.last_error).clone()
    }
}
