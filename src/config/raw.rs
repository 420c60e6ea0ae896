//! The configuration file as written: serde types that reject unknown keys.

use serde::Deserialize;
use std::time::Duration;

/// `conf/gemini-gateway.yaml` as parsed, before validation. Every field is optional in the file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub threads: Option<usize>,
    pub auth: Option<String>,
    pub passwords: Vec<String>,
    pub admin_api_key: Option<String>,
    pub secret_key: Option<String>,
    pub keys: Vec<RawKey>,
    pub upstream: RawUpstream,
    pub failover: RawFailover,
    pub limits: RawLimits,
    pub pipeline: Option<Vec<String>>,
    pub openai: RawOpenAi,
    pub model_limits: RawModelLimits,
    pub store: RawStore,
    pub key_health: RawKeyHealth,
    pub report: RawReport,
    pub shutdown: RawShutdown,
    pub log: RawLog,
}

/// An upstream key: a bare string, or a mapping with a project label.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawKey {
    Plain(String),
    Labeled(RawLabeledKey),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabeledKey {
    pub key: String,
    #[serde(default)]
    pub project: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUpstream {
    pub base_url: Option<String>,
    pub api_version: Option<String>,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub read_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub write_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub pool_idle_timeout: Option<Duration>,
    pub http2: Option<bool>,
    pub verify_cert: Option<bool>,
    pub ca_file: Option<String>,
    pub pool_size: Option<usize>,
    #[serde(with = "humantime_serde")]
    pub dns_refresh: Option<Duration>,
}

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

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    pub max_body_bytes: Option<String>,
    pub max_header_bytes: Option<String>,
    pub max_headers: Option<usize>,
    pub max_requests_per_minute: Option<u32>,
    pub max_requests_per_day_per_ip: Option<u32>,
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOpenAi {
    pub disable_safety_filtering: Option<bool>,
    pub roo_code_line_count: Option<bool>,
    pub extra_models: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub models_refresh: Option<Duration>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawModelLimits {
    pub path: Option<String>,
    pub enforce: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub path: Option<String>,
    #[serde(with = "humantime_serde")]
    pub flush_interval: Option<Duration>,
    pub retention_days: Option<u32>,
}

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

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawReport {
    pub interval_minutes: Option<u64>,
    pub level: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawShutdown {
    #[serde(with = "humantime_serde")]
    pub grace_period: Option<Duration>,
}
