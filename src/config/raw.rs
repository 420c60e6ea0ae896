//! The configuration file as written: serde types that reject unknown keys. Each section's own
//! raw type lives in its section's file.

use super::admin::RawAdmin;
use super::anthropic::RawAnthropic;
use super::context::RawContext;
use super::failover::RawFailover;
use super::key_health::RawKeyHealth;
use super::keys::RawKey;
use super::limits::RawLimits;
use super::log::RawLog;
use super::model_limits::RawModelLimits;
use super::openai::RawOpenAi;
use super::report::RawReport;
use super::shutdown::RawShutdown;
use super::store::RawStore;
use super::upstream::RawUpstream;
use serde::Deserialize;

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
    pub key_tier: Option<String>,
    pub upstream: RawUpstream,
    pub failover: RawFailover,
    pub limits: RawLimits,
    pub pipeline: Option<Vec<String>>,
    pub openai: RawOpenAi,
    pub anthropic: RawAnthropic,
    pub model_limits: RawModelLimits,
    pub store: RawStore,
    pub context: RawContext,
    pub key_health: RawKeyHealth,
    pub report: RawReport,
    pub shutdown: RawShutdown,
    pub log: RawLog,
    pub admin: RawAdmin,
}
