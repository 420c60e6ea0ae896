//! `admin:` — the admin web UI's sessions (cookie, JWT algorithm and lifetime) and whether the
//! gateway port's status page needs a credential.

use super::{err, ConfigError};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    pub secure_cookies: Option<bool>,
    pub jwt_algorithm: Option<String>,
    pub access_token_expire_minutes: Option<u64>,
    pub protect_status_page: Option<bool>,
    pub allow_cidrs: Option<Vec<String>>,
}

/// The JWT algorithms a session can be signed with (HMAC: the secret is shared with nobody).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Hs384 => "HS384",
            JwtAlgorithm::Hs512 => "HS512",
        }
    }
}

/// The admin UI's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// Mark the session cookie `Secure` (set it when the admin side is reached over HTTPS).
    pub secure_cookies: bool,
    pub jwt_algorithm: JwtAlgorithm,
    /// How long a login lasts.
    pub session_lifetime: Duration,
    /// `GET /` on the gateway port needs a client credential.
    pub protect_status_page: bool,
    /// Source addresses that may use the admin side (everything else gets 403): loopback by
    /// default; add a monitoring network's range to let Prometheus scrape it.
    pub allow_cidrs: Vec<ipnet::IpNet>,
}

/// The admin side's default sources: loopback only.
pub fn loopback_only() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            secure_cookies: false,
            jwt_algorithm: JwtAlgorithm::Hs256,
            session_lifetime: Duration::from_secs(30 * 60),
            protect_status_page: false,
            allow_cidrs: loopback_only(),
        }
    }
}

impl AdminConfig {
    pub(super) fn from_raw(r: RawAdmin) -> Result<Self, ConfigError> {
        let d = AdminConfig::default();
        let jwt_algorithm = match r.jwt_algorithm.as_deref().map(str::trim) {
            None | Some("") => d.jwt_algorithm,
            Some(a) => match a.to_ascii_uppercase().as_str() {
                "HS256" => JwtAlgorithm::Hs256,
                "HS384" => JwtAlgorithm::Hs384,
                "HS512" => JwtAlgorithm::Hs512,
                _ => {
                    return Err(err(
                        "admin.jwt_algorithm",
                        format!("must be HS256, HS384 or HS512 (got {a:?})"),
                    ))
                }
            },
        };
        let minutes = r.access_token_expire_minutes.unwrap_or(30);
        if minutes == 0 || minutes > 60 * 24 * 30 {
            return Err(err(
                "admin.access_token_expire_minutes",
                "must be between 1 and 43200 (30 days)",
            ));
        }
        let allow_cidrs = match r.allow_cidrs {
            None => d.allow_cidrs,
            Some(list) => {
                let mut v = Vec::new();
                for (i, n) in list.iter().enumerate() {
                    let n = n.trim();
                    let net = n
                        .parse::<ipnet::IpNet>()
                        .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            err(
                                &format!("admin.allow_cidrs[{i}]"),
                                format!("not an IP or CIDR: {n:?}"),
                            )
                        })?;
                    v.push(net);
                }
                v
            }
        };
        Ok(AdminConfig {
            allow_cidrs,
            secure_cookies: r.secure_cookies.unwrap_or(d.secure_cookies),
            jwt_algorithm,
            session_lifetime: Duration::from_secs(minutes * 60),
            protect_status_page: r.protect_status_page.unwrap_or(d.protect_status_page),
        })
    }
}

impl AdminConfig {
    /// Whether `ip` may use the admin side (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.allow_cidrs.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_default_and_listed_networks_when_set() {
        let d = AdminConfig::default();
        assert!(d.allows("127.0.0.1".parse().unwrap()) && d.allows("::1".parse().unwrap()));
        assert!(d.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!d.allows("10.1.2.3".parse().unwrap()));
        let raw = RawAdmin {
            allow_cidrs: Some(vec!["10.89.0.0/24".into(), "192.168.1.7".into()]),
            ..RawAdmin::default()
        };
        let c = AdminConfig::from_raw(raw).unwrap();
        assert!(c.allows("10.89.0.5".parse().unwrap()) && c.allows("192.168.1.7".parse().unwrap()));
        assert!(!c.allows("10.89.1.5".parse().unwrap()) && !c.allows("127.0.0.1".parse().unwrap()));
        let bad = RawAdmin {
            allow_cidrs: Some(vec!["nope".into()]),
            ..RawAdmin::default()
        };
        assert_eq!(
            AdminConfig::from_raw(bad).unwrap_err().field,
            "admin.allow_cidrs[0]"
        );
    }
}
