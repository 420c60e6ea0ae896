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
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            secure_cookies: false,
            jwt_algorithm: JwtAlgorithm::Hs256,
            session_lifetime: Duration::from_secs(30 * 60),
            protect_status_page: false,
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
        Ok(AdminConfig {
            secure_cookies: r.secure_cookies.unwrap_or(d.secure_cookies),
            jwt_algorithm,
            session_lifetime: Duration::from_secs(minutes * 60),
            protect_status_page: r.protect_status_page.unwrap_or(d.protect_status_page),
        })
    }
}
