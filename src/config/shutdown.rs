//! `shutdown:` — how long open requests get after SIGTERM.

use super::{err, ConfigError};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawShutdown {
    #[serde(with = "humantime_serde")]
    pub grace_period: Option<Duration>,
}

/// Graceful shutdown (SIGTERM).
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownConfig {
    /// Time open requests get to finish after SIGTERM; streams still open then end with an error event.
    pub grace_period: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_period: Duration::from_secs(30),
        }
    }
}

impl ShutdownConfig {
    pub(super) fn from_raw(s: RawShutdown) -> Result<Self, ConfigError> {
        let c = ShutdownConfig {
            grace_period: s
                .grace_period
                .unwrap_or(ShutdownConfig::default().grace_period),
        };
        if c.grace_period > Duration::from_secs(3600) {
            return Err(err("shutdown.grace_period", "must be at most 1h"));
        }
        Ok(c)
    }
}
