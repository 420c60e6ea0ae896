//! `upstream:` — where Gemini is (base URL, API version), timeouts, connection pool, TLS.

use super::{err, ConfigError};
use serde::Deserialize;
use std::time::Duration;

/// Default Gemini API origin.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

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

/// The upstream (Google, a relay, or the simulator).
#[derive(Debug, Clone, PartialEq)]
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

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            tls: true,
            host: "generativelanguage.googleapis.com".into(),
            port: 443,
            base_path: String::new(),
            api_version: "v1beta".into(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(300),
            read_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(90),
            http2: true,
            verify_cert: true,
            ca_file: None,
            pool_size: 128,
            dns_refresh: Duration::from_secs(300),
        }
    }
}

impl UpstreamConfig {
    /// The defaults, pointed at `base_url`.
    pub fn at(base_url: &str) -> Result<UpstreamConfig, ConfigError> {
        let (tls, host, port, base_path) = parse_base_url(base_url)?;
        Ok(UpstreamConfig {
            tls,
            host,
            port,
            base_path,
            ..UpstreamConfig::default()
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub(super) fn from_raw(u: RawUpstream) -> Result<Self, ConfigError> {
        let d = UpstreamConfig::at(u.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        let c = UpstreamConfig {
            api_version: u.api_version.unwrap_or(d.api_version),
            connect_timeout: u.connect_timeout.unwrap_or(d.connect_timeout),
            first_byte_timeout: u.first_byte_timeout.unwrap_or(d.first_byte_timeout),
            read_timeout: u.read_timeout.unwrap_or(d.read_timeout),
            write_timeout: u.write_timeout.unwrap_or(d.write_timeout),
            pool_idle_timeout: u.pool_idle_timeout.unwrap_or(d.pool_idle_timeout),
            http2: u.http2.unwrap_or(d.http2),
            verify_cert: u.verify_cert.unwrap_or(d.verify_cert),
            ca_file: u.ca_file.filter(|f| !f.is_empty()),
            pool_size: u.pool_size.unwrap_or(d.pool_size),
            dns_refresh: u.dns_refresh.unwrap_or(d.dns_refresh),
            ..d
        };
        if c.api_version.is_empty() || !c.api_version.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(err(
                "upstream.api_version",
                "must be alphanumeric, e.g. v1beta",
            ));
        }
        if let Some(f) = &c.ca_file {
            if !std::path::Path::new(f).is_file() {
                return Err(err("upstream.ca_file", format!("no such file: {f}")));
            }
        }
        if c.pool_size == 0 {
            return Err(err("upstream.pool_size", "must be at least 1"));
        }
        for (name, d) in [
            ("upstream.connect_timeout", c.connect_timeout),
            ("upstream.first_byte_timeout", c.first_byte_timeout),
            ("upstream.read_timeout", c.read_timeout),
            ("upstream.write_timeout", c.write_timeout),
        ] {
            if d.is_zero() {
                return Err(err(name, "must be greater than zero"));
            }
        }
        Ok(c)
    }
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
        None if tls => 443,
        None => 80,
    };
    Ok((tls, host, port, path.trim_end_matches('/').to_string()))
}
