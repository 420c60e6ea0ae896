//! Configuration: the YAML file, overridden by environment variables, then by the command line,
//! validated into the typed [`Config`] the gateway runs with.

pub mod raw;

use crate::secret::Secret;
use raw::{RawConfig, RawKey};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// Default Gemini API origin.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The filter stages, in order, when the config does not name them.
pub const DEFAULT_PIPELINE: &[&str] = &[
    "auth",
    "limits",
    "openai",
    "surface",
    "key_select",
    "exchange",
    "usage",
];

/// A configuration problem, naming the field at fault.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
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
    /// Model limits file; None = the built-in table.
    pub model_limits_path: Option<std::path::PathBuf>,
    /// Skip keys whose group would exceed a limit before calling them (off for paid-tier keys).
    pub enforce_limits: bool,
    pub store: StoreConfig,
    pub key_health: KeyHealthConfig,
    pub report: ReportConfig,
    pub shutdown: ShutdownConfig,
    pub log: LogConfig,
}

/// Graceful shutdown (SIGTERM).
#[derive(Debug, Clone)]
pub struct ShutdownConfig {
    /// Time open requests get to finish after SIGTERM; streams still open then end with an error event.
    pub grace_period: Duration,
}

/// Usage persistence.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// SQLite file; None = in-memory (counts do not survive a restart).
    pub path: Option<std::path::PathBuf>,
    pub flush_interval: Duration,
    pub retention_days: u32,
}

/// Key checks.
#[derive(Debug, Clone)]
pub struct KeyHealthConfig {
    pub startup_check: bool,
    pub revalidate_interval: Duration,
    pub check_timeout: Duration,
    pub concurrency: usize,
}

/// The periodic usage report.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// Minutes between reports; 0 = off.
    pub interval_minutes: u64,
    pub level: tracing::Level,
}

/// The OpenAI-compatible surface.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Safety threshold sent with translated requests: `OFF` when filtering is disabled, else `BLOCK_NONE`.
    pub disable_safety_filtering: bool,
    /// Add `line_count` to `write_to_file` tool calls that lack it (Roo Code).
    pub roo_code_line_count: bool,
    /// Model ids listed by `/v1/models` besides the upstream's.
    pub extra_models: Vec<String>,
    /// How often the upstream model list is refreshed.
    pub models_refresh: Duration,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// False only when the file says `auth: none`.
    pub required: bool,
    pub passwords: Vec<Secret>,
    pub admin_api_key: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub key: Secret,
    /// Google Cloud project label; keys of one project share quota. Default: the key's fingerprint.
    pub project: String,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix of the base URL without a trailing slash (usually empty).
    pub base_path: String,
    pub api_version: String,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub http2: bool,
    pub verify_cert: bool,
    /// Extra CA bundle (PEM) trusted for the upstream, besides the system roots.
    pub ca_file: Option<String>,
    /// Idle upstream connections kept per peer.
    pub pool_size: usize,
    pub dns_refresh: Duration,
}

impl Config {
    /// Whether the OpenAI surface is served (`openai` in `pipeline:`).
    pub fn openai_enabled(&self) -> bool {
        self.pipeline.contains(&Stage::OpenAi)
    }
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

impl UpstreamConfig {
    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub max_body_bytes: usize,
    /// Largest request header block (request line and all headers), in bytes.
    pub max_header_bytes: usize,
    /// Most request headers.
    pub max_headers: usize,
    /// Per client IP, per minute; 0 = off.
    pub max_requests_per_minute: u32,
    /// Per client IP, per Pacific day; 0 = off.
    pub max_requests_per_day_per_ip: u32,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub json: bool,
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
        apply_env(&mut raw, env)?;
        apply_cli(&mut raw, cli);
        validate(raw)
    }

    /// Parse and validate YAML alone (no environment), as tests do.
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        Self::from_parts(yaml, &HashMap::new(), &Overrides::default())
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

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn env_bool(env: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ConfigError> {
    match env.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => match v.as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(err(name, format!("must be true or false (got {v:?})"))),
        },
    }
}

fn env_u32(env: &HashMap<String, String>, name: &str) -> Result<Option<u32>, ConfigError> {
    match env.get(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| err(name, format!("must be a whole number (got {v:?})"))),
    }
}

/// Environment variables, with the seed system's names where it had them.
fn apply_env(raw: &mut RawConfig, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    if let Some(v) = env.get("GEMINI_API_KEYS") {
        raw.keys = split_list(v).into_iter().map(RawKey::Plain).collect();
    }
    if let Some(v) = env.get("PASSWORD") {
        raw.passwords = split_list(v);
    }
    if let Some(v) = env.get("ADMIN_API_KEY").filter(|v| !v.is_empty()) {
        raw.admin_api_key = Some(v.clone());
    }
    if let Some(v) = env.get("SECRET_KEY").filter(|v| !v.is_empty()) {
        raw.secret_key = Some(v.clone());
    }
    if let Some(v) = env.get("GEMINI_BASE_URL").filter(|v| !v.is_empty()) {
        raw.upstream.base_url = Some(v.clone());
    }
    if let Some(v) = env.get("AUTH").filter(|v| !v.is_empty()) {
        raw.auth = Some(v.clone());
    }
    let host = env.get("HOST").filter(|v| !v.is_empty());
    let port = env.get("PORT").filter(|v| !v.is_empty());
    if host.is_some() || port.is_some() {
        let current = raw.listen.clone().unwrap_or_else(|| "0.0.0.0:7860".into());
        let (cur_host, cur_port) = current.rsplit_once(':').unwrap_or(("0.0.0.0", "7860"));
        let h = host.map(String::as_str).unwrap_or(cur_host);
        let p = port.map(String::as_str).unwrap_or(cur_port);
        raw.listen = Some(join_host_port(h, p));
    }
    if let Some(p) = env.get("ADMIN_PORT").filter(|v| !v.is_empty()) {
        let current = raw
            .admin_listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:7861".into());
        let (h, _) = current.rsplit_once(':').unwrap_or(("127.0.0.1", "7861"));
        raw.admin_listen = Some(join_host_port(h, p));
    }
    if let Some(v) = env_u32(env, "MAX_REQUESTS_PER_MINUTE")? {
        raw.limits.max_requests_per_minute = Some(v);
    }
    if let Some(v) = env_u32(env, "MAX_REQUESTS_PER_DAY_PER_IP")? {
        raw.limits.max_requests_per_day_per_ip = Some(v);
    }
    if let Some(v) = env.get("MAX_BODY_BYTES").filter(|v| !v.is_empty()) {
        raw.limits.max_body_bytes = Some(v.clone());
    }
    if let Some(b) = env_bool(env, "DISABLE_SAFETY_FILTERING")? {
        raw.openai.disable_safety_filtering = Some(b);
    }
    if let Some(v) = env.get("CONTEXT_DB_PATH").filter(|v| !v.is_empty()) {
        raw.store.path = Some(v.clone());
    }
    if let Some(b) = env_bool(env, "ENFORCE_MODEL_LIMITS")? {
        raw.model_limits.enforce = Some(b);
    }
    if let Some(v) = env.get("MODEL_LIMITS_PATH").filter(|v| !v.is_empty()) {
        raw.model_limits.path = Some(v.clone());
    }
    if let Some(v) = env
        .get("USAGE_REPORT_INTERVAL_MINUTES")
        .filter(|v| !v.is_empty())
    {
        raw.report.interval_minutes = Some(v.trim().parse().map_err(|_| {
            err(
                "USAGE_REPORT_INTERVAL_MINUTES",
                format!("must be a whole number (got {v:?})"),
            )
        })?);
    }
    if let Some(v) = env.get("REPORT_LOG_LEVEL").filter(|v| !v.is_empty()) {
        raw.report.level = Some(v.clone());
    }
    if let Some(v) = env.get("EXTRA_MODELS") {
        raw.openai.extra_models = split_list(v);
    }
    if let Some(v) = env.get("LOG_LEVEL").filter(|v| !v.is_empty()) {
        raw.log.level = Some(v.clone());
    }
    Ok(())
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
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

fn parse_addr(field: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| {
        err(
            field,
            format!("must be IP:PORT, e.g. 0.0.0.0:7860 (got {v:?})"),
        )
    })
}

fn parse_bytes(field: &str, v: &str) -> Result<usize, ConfigError> {
    let parsed: bytesize::ByteSize = v
        .trim()
        .parse()
        .map_err(|e| err(field, format!("must be a size like 20MiB (got {v:?}: {e})")))?;
    usize::try_from(parsed.as_u64()).map_err(|_| err(field, "too large"))
}

/// Parse a base URL into (tls, host, port, path prefix).
pub fn parse_base_url(v: &str) -> Result<(bool, String, u16, String), ConfigError> {
    const F: &str = "upstream.base_url";
    let (tls, rest) = if let Some(r) = v.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = v.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(err(
            F,
            format!("must start with http:// or https:// (got {v:?})"),
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || path.contains('?') || path.contains('#') {
        return Err(err(
            F,
            format!("must be scheme://host[:port][/path] with no credentials or query (got {v:?})"),
        ));
    }
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        let (h, p) = stripped
            .split_once(']')
            .ok_or_else(|| err(F, "unterminated IPv6 literal"))?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| err(F, format!("bad port {p:?}")))?,
        None => {
            if tls {
                443
            } else {
                80
            }
        }
    };
    Ok((tls, host, port, path.trim_end_matches('/').to_string()))
}

/// A name in `pipeline:`: an optional policy stage, or one of the fixed steps the list must name
/// in place (they always run; naming them documents the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Auth,
    Limits,
    /// The OpenAI surface's translation (leave it out to serve no `/v1`).
    OpenAi,
    /// Routing by the surfaces (fixed).
    Surface,
    /// Key selection (fixed).
    KeySelect,
    /// The upstream exchange (fixed).
    Exchange,
    Usage,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Auth,
        Stage::Limits,
        Stage::OpenAi,
        Stage::Surface,
        Stage::KeySelect,
        Stage::Exchange,
        Stage::Usage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Auth => "auth",
            Stage::Limits => "limits",
            Stage::OpenAi => "openai",
            Stage::Surface => "surface",
            Stage::KeySelect => "key_select",
            Stage::Exchange => "exchange",
            Stage::Usage => "usage",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Stage names exist, each at most once, the fixed steps present, in a workable order.
fn check_pipeline(names: &[String], auth_required: bool) -> Result<Vec<Stage>, ConfigError> {
    let mut p: Vec<Stage> = Vec::new();
    for name in names {
        let Some(s) = Stage::from_name(name) else {
            let known: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
            return Err(err(
                "pipeline",
                format!("unknown stage {name:?} (known: {})", known.join(", ")),
            ));
        };
        if p.contains(&s) {
            return Err(err("pipeline", format!("stage {name:?} is listed twice")));
        }
        p.push(s);
    }
    let pos = |s: Stage| p.iter().position(|n| *n == s);
    for required in [Stage::Surface, Stage::KeySelect, Stage::Exchange] {
        if pos(required).is_none() {
            return Err(err(
                "pipeline",
                format!(
                    "the {:?} step is required (it is not optional)",
                    required.name()
                ),
            ));
        }
    }
    if auth_required && pos(Stage::Auth).is_none() {
        return Err(err(
            "pipeline",
            "the \"auth\" stage is required unless `auth: none`",
        ));
    }
    for (before, after) in [
        (Stage::Auth, Stage::Surface),
        (Stage::OpenAi, Stage::Surface),
        (Stage::Limits, Stage::Surface),
        (Stage::Surface, Stage::KeySelect),
        (Stage::KeySelect, Stage::Exchange),
        (Stage::Exchange, Stage::Usage),
    ] {
        if let (Some(a), Some(b)) = (pos(before), pos(after)) {
            if a > b {
                return Err(err(
                    "pipeline",
                    format!("{:?} must come before {:?}", before.name(), after.name()),
                ));
            }
        }
    }
    Ok(p)
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let listen = parse_addr("listen", raw.listen.as_deref().unwrap_or("0.0.0.0:7860"))?;
    let admin_listen = parse_addr(
        "admin_listen",
        raw.admin_listen.as_deref().unwrap_or("127.0.0.1:7861"),
    )?;
    if listen == admin_listen {
        return Err(err("admin_listen", "must differ from listen"));
    }
    let threads = raw.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if threads == 0 || threads > 256 {
        return Err(err("threads", "must be between 1 and 256"));
    }

    let required = match raw.auth.as_deref().map(str::trim) {
        None | Some("required") => true,
        Some("none") => false,
        Some(other) => {
            return Err(err(
                "auth",
                format!("must be \"required\" or \"none\" (got {other:?})"),
            ))
        }
    };
    let passwords: Vec<Secret> = raw
        .passwords
        .iter()
        .filter(|p| !p.is_empty())
        .map(Secret::new)
        .collect();
    let admin_api_key = raw.admin_api_key.filter(|k| !k.is_empty()).map(Secret::new);
    if required && passwords.is_empty() && admin_api_key.is_none() {
        return Err(err(
            "passwords",
            "no client credential configured: set passwords (env PASSWORD) or admin_api_key (env ADMIN_API_KEY), \
             or write `auth: none` to run an open gateway on purpose",
        ));
    }

    let mut keys = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, k) in raw.keys.into_iter().enumerate() {
        let (key, project) = match k {
            RawKey::Plain(k) => (k, None),
            RawKey::Labeled(l) => (l.key, l.project),
        };
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(err(&format!("keys[{i}]"), "empty key"));
        }
        if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(err(
                &format!("keys[{i}]"),
                "key contains whitespace or control characters",
            ));
        }
        if !seen.insert(key.clone()) {
            continue; // the same key twice is one key
        }
        let secret = Secret::new(key);
        let project = project
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| secret.fingerprint());
        keys.push(KeyConfig {
            key: secret,
            project,
        });
    }
    if keys.is_empty() {
        return Err(err(
            "keys",
            "no Gemini API key configured: list them under keys: or set GEMINI_API_KEYS",
        ));
    }

    let u = raw.upstream;
    let base_url = u.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
    let (tls, host, port, base_path) = parse_base_url(base_url)?;
    let api_version = u.api_version.unwrap_or_else(|| "v1beta".into());
    if api_version.is_empty() || !api_version.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(err(
            "upstream.api_version",
            "must be alphanumeric, e.g. v1beta",
        ));
    }
    let upstream = UpstreamConfig {
        tls,
        host,
        port,
        base_path,
        api_version,
        connect_timeout: u.connect_timeout.unwrap_or(Duration::from_secs(10)),
        first_byte_timeout: u.first_byte_timeout.unwrap_or(Duration::from_secs(300)),
        read_timeout: u.read_timeout.unwrap_or(Duration::from_secs(120)),
        write_timeout: u.write_timeout.unwrap_or(Duration::from_secs(60)),
        pool_idle_timeout: u.pool_idle_timeout.unwrap_or(Duration::from_secs(90)),
        http2: u.http2.unwrap_or(true),
        verify_cert: u.verify_cert.unwrap_or(true),
        ca_file: u.ca_file.filter(|f| !f.is_empty()),
        pool_size: u.pool_size.unwrap_or(128),
        dns_refresh: u.dns_refresh.unwrap_or(Duration::from_secs(300)),
    };
    if let Some(f) = &upstream.ca_file {
        if !Path::new(f).is_file() {
            return Err(err("upstream.ca_file", format!("no such file: {f}")));
        }
    }
    if upstream.pool_size == 0 {
        return Err(err("upstream.pool_size", "must be at least 1"));
    }
    for (name, d) in [
        ("upstream.connect_timeout", upstream.connect_timeout),
        ("upstream.first_byte_timeout", upstream.first_byte_timeout),
        ("upstream.read_timeout", upstream.read_timeout),
        ("upstream.write_timeout", upstream.write_timeout),
    ] {
        if d.is_zero() {
            return Err(err(name, "must be greater than zero"));
        }
    }

    let f = raw.failover;
    let d = FailoverConfig::default();
    let failover = FailoverConfig {
        max_attempts: f.max_attempts.unwrap_or(d.max_attempts),
        rate_limit_cooldown: f.rate_limit_cooldown.unwrap_or(d.rate_limit_cooldown),
        server_error_cooldown: f.server_error_cooldown.unwrap_or(d.server_error_cooldown),
        timeout_cooldown: f.timeout_cooldown.unwrap_or(d.timeout_cooldown),
        backoff_min: f.backoff_min.unwrap_or(d.backoff_min),
        backoff_max: f.backoff_max.unwrap_or(d.backoff_max),
        unknown_model_ttl: f.unknown_model_ttl.unwrap_or(d.unknown_model_ttl),
    };
    if failover.max_attempts == 0 || failover.max_attempts > 100 {
        return Err(err("failover.max_attempts", "must be between 1 and 100"));
    }
    if failover.backoff_min > failover.backoff_max {
        return Err(err(
            "failover.backoff_min",
            "must not exceed failover.backoff_max",
        ));
    }

    let l = raw.limits;
    let max_body_bytes = match l.max_body_bytes.as_deref() {
        Some(v) => parse_bytes("limits.max_body_bytes", v)?,
        None => 20 * 1024 * 1024,
    };
    if max_body_bytes < 1024 {
        return Err(err("limits.max_body_bytes", "must be at least 1KiB"));
    }
    let max_header_bytes = match l.max_header_bytes.as_deref() {
        Some(v) => parse_bytes("limits.max_header_bytes", v)?,
        None => 64 * 1024,
    };
    if !(1024..=1024 * 1024).contains(&max_header_bytes) {
        return Err(err(
            "limits.max_header_bytes",
            "must be between 1KiB and 1MiB (the HTTP parser's own limit)",
        ));
    }
    let max_headers = l.max_headers.unwrap_or(100);
    if !(8..=256).contains(&max_headers) {
        return Err(err(
            "limits.max_headers",
            "must be between 8 and 256 (the HTTP parser's own limit)",
        ));
    }
    let mut trusted_proxies = Vec::new();
    for (i, p) in l.trusted_proxies.iter().enumerate() {
        let net = match p.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => p.parse::<IpAddr>().map(ipnet::IpNet::from).map_err(|_| {
                err(
                    &format!("limits.trusted_proxies[{i}]"),
                    format!("not an IP or CIDR: {p:?}"),
                )
            })?,
        };
        trusted_proxies.push(net);
    }
    let limits = LimitsConfig {
        max_body_bytes,
        max_header_bytes,
        max_headers,
        max_requests_per_minute: l.max_requests_per_minute.unwrap_or(0),
        max_requests_per_day_per_ip: l.max_requests_per_day_per_ip.unwrap_or(0),
        trusted_proxies,
    };

    let names: Vec<String> = raw
        .pipeline
        .unwrap_or_else(|| DEFAULT_PIPELINE.iter().map(|s| s.to_string()).collect());
    let pipeline = check_pipeline(&names, required)?;

    let o = raw.openai;
    let mut extra_models = Vec::new();
    for (i, m) in o.extra_models.iter().enumerate() {
        let m = crate::model::ModelId::parse(m.trim())
            .map_err(|e| err(&format!("openai.extra_models[{i}]"), e.message()))?;
        extra_models.push(m.to_string());
    }
    let openai = OpenAiConfig {
        disable_safety_filtering: o.disable_safety_filtering.unwrap_or(false),
        roo_code_line_count: o.roo_code_line_count.unwrap_or(true),
        extra_models,
        models_refresh: o.models_refresh.unwrap_or(Duration::from_secs(600)),
    };
    if openai.models_refresh < Duration::from_secs(10) {
        return Err(err("openai.models_refresh", "must be at least 10s"));
    }

    let store = StoreConfig {
        path: raw
            .store
            .path
            .filter(|p| !p.is_empty() && p != ":memory:")
            .map(std::path::PathBuf::from),
        flush_interval: raw.store.flush_interval.unwrap_or(Duration::from_secs(2)),
        retention_days: raw.store.retention_days.unwrap_or(30),
    };
    if store.flush_interval < Duration::from_millis(10) {
        return Err(err("store.flush_interval", "must be at least 10ms"));
    }
    if store.retention_days < 8 {
        return Err(err(
            "store.retention_days",
            "must be at least 8 (the report uses 7 days of history)",
        ));
    }
    let kh = raw.key_health;
    let key_health = KeyHealthConfig {
        startup_check: kh.startup_check.unwrap_or(true),
        revalidate_interval: kh.revalidate_interval.unwrap_or(Duration::from_secs(600)),
        check_timeout: kh.check_timeout.unwrap_or(Duration::from_secs(10)),
        concurrency: kh.concurrency.unwrap_or(16),
    };
    if key_health.concurrency == 0 {
        return Err(err("key_health.concurrency", "must be at least 1"));
    }
    if key_health.revalidate_interval < Duration::from_secs(1) {
        return Err(err("key_health.revalidate_interval", "must be at least 1s"));
    }
    let report = ReportConfig {
        interval_minutes: raw.report.interval_minutes.unwrap_or(30),
        level: match raw
            .report
            .level
            .as_deref()
            .map(|l| l.trim().to_ascii_uppercase())
        {
            None => tracing::Level::INFO,
            Some(l) => match l.as_str() {
                "TRACE" => tracing::Level::TRACE,
                "DEBUG" => tracing::Level::DEBUG,
                "INFO" => tracing::Level::INFO,
                "WARN" | "WARNING" => tracing::Level::WARN,
                "ERROR" | "CRITICAL" => tracing::Level::ERROR,
                other => {
                    return Err(err(
                        "report.level",
                        format!("must be DEBUG, INFO, WARNING, ERROR or CRITICAL (got {other:?})"),
                    ))
                }
            },
        },
    };
    let model_limits_path = raw
        .model_limits
        .path
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from);
    if let Some(p) = &model_limits_path {
        if !p.is_file() {
            return Err(err(
                "model_limits.path",
                format!("no such file: {}", p.display()),
            ));
        }
    }

    let level = raw.log.level.unwrap_or_else(|| "info".into());
    let json = match raw.log.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(o) => {
            return Err(err(
                "log.format",
                format!("must be text or json (got {o:?})"),
            ))
        }
    };

    Ok(Config {
        listen,
        admin_listen,
        threads,
        auth: AuthConfig {
            required,
            passwords,
            admin_api_key,
        },
        secret_key: raw.secret_key.filter(|s| !s.is_empty()).map(Secret::new),
        keys,
        upstream,
        failover,
        limits,
        pipeline,
        openai,
        model_limits_path,
        enforce_limits: raw.model_limits.enforce.unwrap_or(true),
        store,
        key_health,
        report,
        shutdown: ShutdownConfig {
            grace_period: raw.shutdown.grace_period.unwrap_or(Duration::from_secs(30)),
        },
        log: LogConfig { level, json },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "passwords: [pw]\nkeys: [k1]\n";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let c = Config::from_yaml(MIN).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:7860");
        assert_eq!(c.admin_listen.to_string(), "127.0.0.1:7861");
        assert_eq!(c.upstream.host, "generativelanguage.googleapis.com");
        assert!(c.upstream.tls);
        assert_eq!(c.upstream.port, 443);
        assert_eq!(c.limits.max_body_bytes, 20 * 1024 * 1024);
        let names: Vec<&str> = c.pipeline.iter().map(|s| s.name()).collect();
        assert_eq!(names, DEFAULT_PIPELINE);
        assert_eq!(c.keys.len(), 1);
    }

    #[test]
    fn unknown_key_is_rejected_and_named() {
        let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nlisten_port: 1\n").unwrap_err();
        assert_eq!(e.field, "listen_port", "{e}");
        let e =
            Config::from_yaml("passwords: [pw]\nkeys: [k]\nupstream:\n  base_ur: x\n").unwrap_err();
        assert_eq!(e.field, "base_ur", "{e}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nupstream:\n  base_url: ftp://x\n")
            .unwrap_err();
        assert_eq!(e.field, "upstream.base_url");
        let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nlisten: nope\n").unwrap_err();
        assert_eq!(e.field, "listen");
        let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nlimits:\n  max_body_bytes: lots\n")
            .unwrap_err();
        assert_eq!(e.field, "limits.max_body_bytes");
        let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nfailover:\n  max_attempts: 0\n")
            .unwrap_err();
        assert_eq!(e.field, "failover.max_attempts");
    }

    #[test]
    fn refuses_to_run_open_unless_explicit() {
        let e = Config::from_yaml("keys: [k]\n").unwrap_err();
        assert_eq!(e.field, "passwords");
        let c = Config::from_yaml("keys: [k]\nauth: none\n").unwrap();
        assert!(!c.auth.required);
        let e = Config::from_yaml("keys: [k]\nauth: maybe\n").unwrap_err();
        assert_eq!(e.field, "auth");
    }

    #[test]
    fn needs_a_key() {
        let e = Config::from_yaml("passwords: [pw]\n").unwrap_err();
        assert_eq!(e.field, "keys");
    }

    #[test]
    fn keys_with_projects_and_duplicates() {
        let c =
            Config::from_yaml("passwords: [pw]\nkeys:\n  - a\n  - {key: b, project: p1}\n  - a\n")
                .unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys[1].project, "p1");
        assert_eq!(c.keys[0].project, c.keys[0].key.fingerprint());
    }

    #[test]
    fn env_overrides_file_and_cli_overrides_env() {
        let e = env(&[
            ("GEMINI_API_KEYS", "e1, e2,,"),
            ("PASSWORD", "p1,p2"),
            ("ADMIN_API_KEY", "adm"),
            ("PORT", "9000"),
            ("ADMIN_PORT", "9001"),
            ("GEMINI_BASE_URL", "http://127.0.0.1:5555/prefix/"),
            ("MAX_REQUESTS_PER_MINUTE", "30"),
        ]);
        let file = "listen: 127.0.0.1:1234\nkeys: [f1]\npasswords: [fp]\n";
        let c = Config::from_parts(file, &e, &Overrides::default()).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys[0].key.expose(), "e1");
        assert_eq!(c.auth.passwords.len(), 2);
        assert!(c.auth.admin_api_key.is_some());
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9001");
        assert!(!c.upstream.tls);
        assert_eq!(c.upstream.port, 5555);
        assert_eq!(c.upstream.base_path, "/prefix");
        assert_eq!(c.limits.max_requests_per_minute, 30);
        let cli = Overrides {
            listen: Some("127.0.0.1:7000".into()),
            ..Default::default()
        };
        let c = Config::from_parts(file, &e, &cli).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
    }

    #[test]
    fn bad_env_number_is_named() {
        let e = Config::from_parts(
            MIN,
            &env(&[("MAX_REQUESTS_PER_MINUTE", "lots")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.field, "MAX_REQUESTS_PER_MINUTE");
    }

    #[test]
    fn base_url_forms() {
        assert_eq!(
            parse_base_url("https://h").unwrap(),
            (true, "h".into(), 443, "".into())
        );
        assert_eq!(
            parse_base_url("http://h:8080/").unwrap(),
            (false, "h".into(), 8080, "".into())
        );
        assert_eq!(
            parse_base_url("http://[::1]:81/x").unwrap(),
            (false, "::1".into(), 81, "/x".into())
        );
        assert!(parse_base_url("https://user:pw@h").is_err());
        assert!(parse_base_url("h:80").is_err());
    }

    #[test]
    fn shipped_configs_validate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
        let e = env(&[
            ("GEMINI_API_KEYS", "placeholder"),
            ("PASSWORD", "placeholder"),
        ]);
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                let text = std::fs::read_to_string(&p).unwrap();
                Config::from_parts(&text, &e, &Overrides::default())
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            }
        }
    }
}
