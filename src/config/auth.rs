//! `auth`, `passwords`, `admin_api_key`, `secret_key`: who may use the gateway.

use super::{err, ConfigError};
use crate::secret::Secret;

/// Client authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// False only when the file says `auth: none`.
    pub required: bool,
    pub passwords: Vec<Secret>,
    pub admin_api_key: Option<Secret>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            required: true,
            passwords: Vec::new(),
            admin_api_key: None,
        }
    }
}

impl AuthConfig {
    pub(super) fn from_raw(
        auth: Option<&str>,
        passwords: &[String],
        admin_api_key: Option<String>,
    ) -> Result<Self, ConfigError> {
        let required = match auth.map(str::trim) {
            None | Some("required") => true,
            Some("none") => false,
            Some(other) => {
                return Err(err(
                    "auth",
                    format!("must be \"required\" or \"none\" (got {other:?})"),
                ))
            }
        };
        let c = AuthConfig {
            required,
            passwords: passwords
                .iter()
                .filter(|p| !p.is_empty())
                .map(Secret::new)
                .collect(),
            admin_api_key: admin_api_key.filter(|k| !k.is_empty()).map(Secret::new),
        };
        if c.required && c.passwords.is_empty() && c.admin_api_key.is_none() {
            return Err(err(
                "passwords",
                "no client credential configured: set passwords (env PASSWORD) or admin_api_key (env ADMIN_API_KEY), \
                 or write `auth: none` to run an open gateway on purpose",
            ));
        }
        Ok(c)
    }
}
