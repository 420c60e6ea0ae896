//! `store:` — where usage counts persist (SQLite file, or memory), how often they are written,
//! how long they are kept.

use super::{err, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub path: Option<String>,
    #[serde(with = "humantime_serde")]
    pub flush_interval: Option<Duration>,
    pub retention_days: Option<u32>,
}

/// Usage persistence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// SQLite file; None = in-memory (counts do not survive a restart).
    pub path: Option<PathBuf>,
    pub flush_interval: Duration,
    pub retention_days: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: None,
            flush_interval: Duration::from_secs(2),
            retention_days: 30,
        }
    }
}

impl StoreConfig {
    pub(super) fn from_raw(s: RawStore) -> Result<Self, ConfigError> {
        let d = StoreConfig::default();
        let c = StoreConfig {
            path: s
                .path
                .filter(|p| !p.is_empty() && p != ":memory:")
                .map(PathBuf::from),
            flush_interval: s.flush_interval.unwrap_or(d.flush_interval),
            retention_days: s.retention_days.unwrap_or(d.retention_days),
        };
        if c.flush_interval < Duration::from_millis(10) {
            return Err(err("store.flush_interval", "must be at least 10ms"));
        }
        if c.retention_days < 8 {
            return Err(err(
                "store.retention_days",
                "must be at least 8 (the report uses 7 days of history)",
            ));
        }
        Ok(c)
    }
}
