//! `failover:` — attempts per request, cooldown after each kind of failure, backoff, and how long
//! Google's 404 for a model is remembered.

use super::{err, ConfigError};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFailover {
    pub max_attempts: Option<usize>,
    #[serde(with = "humantime_serde")]
    pub rate_limit_cooldown: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub server_error_cooldown: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub timeout_cooldown: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub backoff_min: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub unknown_model_ttl: Option<Duration>,
}

/// The retry policy's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverConfig {
    pub max_attempts: usize,
    pub rate_limit_cooldown: Duration,
    pub server_error_cooldown: Duration,
    pub timeout_cooldown: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long a model Google answered 404 for is answered 404 from memory (0 = never).
    pub unknown_model_ttl: Duration,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            max_attempts: 5,
            rate_limit_cooldown: Duration::from_secs(60),
            server_error_cooldown: Duration::from_secs(5),
            timeout_cooldown: Duration::from_secs(10),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(1000),
            unknown_model_ttl: Duration::from_secs(300),
        }
    }
}

impl FailoverConfig {
    pub(super) fn from_raw(f: RawFailover) -> Result<Self, ConfigError> {
        let d = FailoverConfig::default();
        let c = FailoverConfig {
            max_attempts: f.max_attempts.unwrap_or(d.max_attempts),
            rate_limit_cooldown: f.rate_limit_cooldown.unwrap_or(d.rate_limit_cooldown),
            server_error_cooldown: f.server_error_cooldown.unwrap_or(d.server_error_cooldown),
            timeout_cooldown: f.timeout_cooldown.unwrap_or(d.timeout_cooldown),
            backoff_min: f.backoff_min.unwrap_or(d.backoff_min),
            backoff_max: f.backoff_max.unwrap_or(d.backoff_max),
            unknown_model_ttl: f.unknown_model_ttl.unwrap_or(d.unknown_model_ttl),
        };
        if c.max_attempts == 0 || c.max_attempts > 100 {
            return Err(err("failover.max_attempts", "must be between 1 and 100"));
        }
        if c.backoff_min > c.backoff_max {
            return Err(err(
                "failover.backoff_min",
                "must not exceed failover.backoff_max",
            ));
        }
        Ok(c)
    }
}
