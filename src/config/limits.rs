//! `limits:` — what a client may send: body and header sizes, requests per IP per minute and per
//! Pacific day, and which proxies may name the client's address.

use super::{err, ConfigError};
use serde::Deserialize;
use std::net::IpAddr;

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

/// Client limits.
#[derive(Debug, Clone, PartialEq)]
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

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 20 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            // The defaults of the system we replace (MAX_REQUESTS_PER_MINUTE,
            // MAX_REQUESTS_PER_DAY_PER_IP); 0 turns a limit off.
            max_requests_per_minute: 30,
            max_requests_per_day_per_ip: 600,
            trusted_proxies: Vec::new(),
        }
    }
}

/// A size like `20MiB` or `65536`.
pub(super) fn parse_bytes(field: &str, v: &str) -> Result<usize, ConfigError> {
    let parsed: bytesize::ByteSize = v
        .trim()
        .parse()
        .map_err(|e| err(field, format!("must be a size like 20MiB (got {v:?}: {e})")))?;
    usize::try_from(parsed.as_u64()).map_err(|_| err(field, "too large"))
}

impl LimitsConfig {
    pub(super) fn from_raw(l: RawLimits) -> Result<Self, ConfigError> {
        let d = LimitsConfig::default();
        let size = |field: &str, v: Option<&str>, default: usize| match v {
            Some(v) => parse_bytes(field, v),
            None => Ok(default),
        };
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
        let c = LimitsConfig {
            max_body_bytes: size(
                "limits.max_body_bytes",
                l.max_body_bytes.as_deref(),
                d.max_body_bytes,
            )?,
            max_header_bytes: size(
                "limits.max_header_bytes",
                l.max_header_bytes.as_deref(),
                d.max_header_bytes,
            )?,
            max_headers: l.max_headers.unwrap_or(d.max_headers),
            max_requests_per_minute: l
                .max_requests_per_minute
                .unwrap_or(d.max_requests_per_minute),
            max_requests_per_day_per_ip: l
                .max_requests_per_day_per_ip
                .unwrap_or(d.max_requests_per_day_per_ip),
            trusted_proxies,
        };
        if c.max_body_bytes < 1024 {
            return Err(err("limits.max_body_bytes", "must be at least 1KiB"));
        }
        if !(1024..=1024 * 1024).contains(&c.max_header_bytes) {
            return Err(err(
                "limits.max_header_bytes",
                "must be between 1KiB and 1MiB (the HTTP parser's own limit)",
            ));
        }
        if !(8..=256).contains(&c.max_headers) {
            return Err(err(
                "limits.max_headers",
                "must be between 8 and 256 (the HTTP parser's own limit)",
            ));
        }
        Ok(c)
    }
}
