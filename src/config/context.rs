//! `context:` — server-side conversation context: whether it is on, when history is injected,
//! how long a conversation lives, how many are kept in memory, how the window is budgeted.

use super::{err, ConfigError};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawContext {
    pub enabled: Option<bool>,
    pub mode: Option<String>,
    #[serde(with = "humantime_serde")]
    pub ttl: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub cleanup_interval: Option<Duration>,
    pub max_records: Option<usize>,
    pub safety_margin: Option<u64>,
    pub default_max_tokens: Option<u64>,
    pub stream_save_reply: Option<bool>,
}

/// When stored history is put in front of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextMode {
    /// Only into a request with no model turn of its own; a request with its own history replaces
    /// the stored conversation.
    Auto,
    /// Always (the old system's behaviour).
    Always,
    Off,
}

impl ContextMode {
    pub fn parse(s: &str) -> Option<ContextMode> {
        match s.trim() {
            "auto" => Some(ContextMode::Auto),
            "always" => Some(ContextMode::Always),
            "off" => Some(ContextMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContextMode::Auto => "auto",
            ContextMode::Always => "always",
            ContextMode::Off => "off",
        }
    }
}

/// Conversation context.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextConfig {
    /// The global switch (a proxy key's `enable_context_completion` can only turn it off).
    pub enabled: bool,
    /// The initial mode; the admin API can change it at runtime.
    pub mode: ContextMode,
    /// A conversation is forgotten this long after its last use (initial value; the admin API
    /// changes it, stored in the `settings` table).
    pub ttl: Duration,
    pub cleanup_interval: Duration,
    /// Conversations kept in memory (all of them with a memory store; a cache with a file).
    pub max_records: usize,
    pub safety_margin: u64,
    /// The window of a model whose limits are unknown.
    pub default_max_tokens: u64,
    /// Save streamed exchanges (their reply captured from the events).
    pub stream_save_reply: bool,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            enabled: true,
            mode: ContextMode::Auto,
            ttl: Duration::from_secs(7 * 24 * 3600),
            cleanup_interval: Duration::from_secs(3600),
            max_records: 5000,
            safety_margin: 200,
            default_max_tokens: 30_000,
            stream_save_reply: true,
        }
    }
}

impl ContextConfig {
    pub(super) fn from_raw(r: RawContext) -> Result<Self, ConfigError> {
        let d = ContextConfig::default();
        let mode = match r.mode.as_deref() {
            None => d.mode,
            Some(m) => ContextMode::parse(m).ok_or_else(|| {
                err(
                    "context.mode",
                    format!("must be auto, always or off (got {m:?})"),
                )
            })?,
        };
        let c = ContextConfig {
            enabled: r.enabled.unwrap_or(d.enabled),
            mode,
            ttl: r.ttl.unwrap_or(d.ttl),
            cleanup_interval: r.cleanup_interval.unwrap_or(d.cleanup_interval),
            max_records: r.max_records.unwrap_or(d.max_records),
            safety_margin: r.safety_margin.unwrap_or(d.safety_margin),
            default_max_tokens: r.default_max_tokens.unwrap_or(d.default_max_tokens),
            stream_save_reply: r.stream_save_reply.unwrap_or(d.stream_save_reply),
        };
        if c.ttl < Duration::from_secs(60) {
            return Err(err("context.ttl", "must be at least 1m"));
        }
        if c.cleanup_interval < Duration::from_secs(1) {
            return Err(err("context.cleanup_interval", "must be at least 1s"));
        }
        if c.max_records == 0 {
            return Err(err("context.max_records", "must be at least 1"));
        }
        if c.default_max_tokens <= c.safety_margin {
            return Err(err(
                "context.default_max_tokens",
                "must be larger than context.safety_margin",
            ));
        }
        Ok(c)
    }
}
