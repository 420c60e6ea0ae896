//! Configuration: the YAML file, overridden by environment variables, then by the command line,
//! validated into the typed [`Config`] the gateway runs with. One file per section, each with its
//! raw type, its validated type and its defaults (`Default`).

pub mod admin;
pub mod anthropic;
pub mod auth;
pub mod context;
pub mod env;
pub mod failover;
pub mod key_health;
pub mod keys;
pub mod limits;
pub mod log;
pub mod model_limits;
pub mod openai;
pub mod pipeline;
pub mod raw;
pub mod report;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod upstream;

pub use anthropic::AnthropicConfig;
pub use auth::AuthConfig;
pub use context::{ContextConfig, ContextMode};
pub use failover::FailoverConfig;
pub use key_health::KeyHealthConfig;
pub use keys::{KeyConfig, Tier};
pub use limits::LimitsConfig;
pub use log::LogConfig;
pub use model_limits::ModelLimitsConfig;
pub use openai::OpenAiConfig;
pub use pipeline::{Stage, DEFAULT_PIPELINE};
pub use report::ReportConfig;
pub use server::ServerConfig;
pub use shutdown::ShutdownConfig;
pub use store::StoreConfig;
pub use upstream::{parse_base_url, UpstreamConfig, DEFAULT_BASE_URL};

use crate::secret::Secret;
use raw::RawConfig;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

/// A configuration problem, naming the field at fault.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

pub(crate) fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub threads: usize,
    pub auth: AuthConfig,
    pub secret_key: Option<Secret>,
    pub keys: Vec<KeyConfig>,
    pub upstream: UpstreamConfig,
    pub failover: FailoverConfig,
    pub limits: LimitsConfig,
    pub pipeline: Vec<Stage>,
    pub openai: OpenAiConfig,
    pub anthropic: AnthropicConfig,
    pub model_limits: ModelLimitsConfig,
    pub store: StoreConfig,
    pub context: ContextConfig,
    pub key_health: KeyHealthConfig,
    pub report: ReportConfig,
    pub shutdown: ShutdownConfig,
    pub log: LogConfig,
    pub admin: admin::AdminConfig,
}

/// Command-line overrides (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub base_url: Option<String>,
    pub threads: Option<usize>,
}

impl Config {
    /// The defaults of every section, with this upstream, these keys and this client password:
    /// what the demo and the tests start from (no YAML involved).
    pub fn local(
        base_url: &str,
        keys: Vec<KeyConfig>,
        password: &str,
    ) -> Result<Config, ConfigError> {
        let server = ServerConfig::default();
        let auth = AuthConfig {
            passwords: vec![Secret::new(password)],
            ..AuthConfig::default()
        };
        Ok(Config {
            listen: server.listen,
            admin_listen: server.admin_listen,
            threads: server.threads,
            pipeline: pipeline::check_pipeline(
                &DEFAULT_PIPELINE
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
                auth.required,
            )?,
            auth,
            secret_key: None,
            keys,
            upstream: UpstreamConfig::at(base_url)?,
            failover: FailoverConfig::default(),
            // The demo and the tests send many requests from loopback: no per-IP limits.
            limits: LimitsConfig {
                max_requests_per_minute: 0,
                max_requests_per_day_per_ip: 0,
                ..LimitsConfig::default()
            },
            openai: OpenAiConfig::default(),
            anthropic: AnthropicConfig::default(),
            model_limits: ModelLimitsConfig::default(),
            store: StoreConfig::default(),
            context: ContextConfig::default(),
            key_health: KeyHealthConfig::default(),
            report: ReportConfig::default(),
            shutdown: ShutdownConfig::default(),
            log: LogConfig::default(),
            admin: admin::AdminConfig::default(),
        })
    }

    /// Load a file (or defaults when `path` is None), apply the process environment, then `cli`.
    pub fn load(path: Option<&Path>, cli: &Overrides) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| err("config", format!("cannot read {}: {e}", p.display())))?,
            None => String::new(),
        };
        Self::from_parts(&text, &env, cli)
    }

    /// Parse YAML text, apply `env` then `cli`, validate.
    pub fn from_parts(
        yaml: &str,
        env: &HashMap<String, String>,
        cli: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut raw = parse_yaml(yaml)?;
        env::apply(&mut raw, env)?;
        apply_cli(&mut raw, cli);
        validate(raw)
    }

    /// Parse and validate YAML alone (no environment).
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        Self::from_parts(yaml, &HashMap::new(), &Overrides::default())
    }

    /// Whether the OpenAI surface is served (`openai` in `pipeline:`).
    pub fn openai_enabled(&self) -> bool {
        self.pipeline.contains(&Stage::OpenAi)
    }
}

fn parse_yaml(yaml: &str) -> Result<RawConfig, ConfigError> {
    if yaml.trim().is_empty() {
        return Ok(RawConfig::default());
    }
    serde_yaml_ng::from_str(yaml).map_err(|e| {
        let msg = e.to_string();
        // serde names the unknown or mistyped field in its message: "unknown field `x`, expected ..."
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field") || msg.contains(": unknown field"))
            .unwrap_or("config")
            .to_string();
        ConfigError {
            field,
            message: msg,
        }
    })
}

fn apply_cli(raw: &mut RawConfig, cli: &Overrides) {
    if let Some(v) = &cli.listen {
        raw.listen = Some(v.clone());
    }
    if let Some(v) = &cli.admin_listen {
        raw.admin_listen = Some(v.clone());
    }
    if let Some(v) = &cli.base_url {
        raw.upstream.base_url = Some(v.clone());
    }
    if let Some(v) = cli.threads {
        raw.threads = Some(v);
    }
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let server = ServerConfig::from_raw(
        raw.listen.as_deref(),
        raw.admin_listen.as_deref(),
        raw.threads,
    )?;
    let auth = AuthConfig::from_raw(raw.auth.as_deref(), &raw.passwords, raw.admin_api_key)?;
    let keys = keys::from_raw(raw.keys, raw.key_tier.as_deref())?;
    let names: Vec<String> = raw
        .pipeline
        .unwrap_or_else(|| DEFAULT_PIPELINE.iter().map(|s| s.to_string()).collect());
    Ok(Config {
        listen: server.listen,
        admin_listen: server.admin_listen,
        threads: server.threads,
        pipeline: pipeline::check_pipeline(&names, auth.required)?,
        auth,
        secret_key: raw.secret_key.filter(|s| !s.is_empty()).map(Secret::new),
        keys,
        upstream: UpstreamConfig::from_raw(raw.upstream)?,
        failover: FailoverConfig::from_raw(raw.failover)?,
        limits: LimitsConfig::from_raw(raw.limits)?,
        openai: OpenAiConfig::from_raw(raw.openai)?,
        anthropic: AnthropicConfig::from_raw(raw.anthropic)?,
        model_limits: ModelLimitsConfig::from_raw(raw.model_limits)?,
        store: StoreConfig::from_raw(raw.store)?,
        context: ContextConfig::from_raw(raw.context)?,
        key_health: KeyHealthConfig::from_raw(raw.key_health)?,
        report: ReportConfig::from_raw(raw.report)?,
        shutdown: ShutdownConfig::from_raw(raw.shutdown)?,
        log: LogConfig::from_raw(raw.log)?,
        admin: admin::AdminConfig::from_raw(raw.admin)?,
    })
}

#[cfg(test)]
mod tests;
