//! `key_health:` — the startup check of every key and the re-validation of disabled ones.

use super::{err, ConfigError};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeyHealth {
    pub startup_check: Option<bool>,
    #[serde(with = "humantime_serde")]
    pub revalidate_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub check_timeout: Option<Duration>,
    pub concurrency: Option<usize>,
}

/// Key checks.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyHealthConfig {
    pub startup_check: bool,
    pub revalidate_interval: Duration,
    pub check_timeout: Duration,
    pub concurrency: usize,
}

impl Default for KeyHealthConfig {
    fn default() -> Self {
        KeyHealthConfig {
            startup_check: true,
            revalidate_interval: Duration::from_secs(600),
            check_timeout: Duration::from_secs(10),
            concurrency: 16,
        }
    }
}

impl KeyHealthConfig {
    pub(super) fn from_raw(k: RawKeyHealth) -> Result<Self, ConfigError> {
        let d = KeyHealthConfig::default();
        let c = KeyHealthConfig {
            startup_check: k.startup_check.unwrap_or(d.startup_check),
            revalidate_interval: k.revalidate_interval.unwrap_or(d.revalidate_interval),
            check_timeout: k.check_timeout.unwrap_or(d.check_timeout),
            concurrency: k.concurrency.unwrap_or(d.concurrency),
        };
        if c.concurrency == 0 {
            return Err(err("key_health.concurrency", "must be at least 1"));
        }
        if c.revalidate_interval < Duration::from_secs(1) {
            return Err(err("key_health.revalidate_interval", "must be at least 1s"));
        }
        Ok(c)
    }
}
