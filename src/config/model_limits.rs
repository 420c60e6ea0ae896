//! `model_limits:` — the per-model quota table the scheduler uses, and whether it is enforced.

use super::{err, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawModelLimits {
    pub path: Option<String>,
    pub enforce: Option<bool>,
}

/// The model limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelLimitsConfig {
    /// Model limits file; None = the built-in table.
    pub path: Option<PathBuf>,
    /// Skip keys whose group would exceed a limit before calling them (off for paid-tier keys).
    pub enforce: bool,
}

impl Default for ModelLimitsConfig {
    fn default() -> Self {
        ModelLimitsConfig {
            path: None,
            enforce: true,
        }
    }
}

impl ModelLimitsConfig {
    pub(super) fn from_raw(m: RawModelLimits) -> Result<Self, ConfigError> {
        let d = ModelLimitsConfig::default();
        let c = ModelLimitsConfig {
            path: m.path.filter(|p| !p.is_empty()).map(PathBuf::from),
            enforce: m.enforce.unwrap_or(d.enforce),
        };
        if let Some(p) = &c.path {
            if !p.is_file() {
                return Err(err(
                    "model_limits.path",
                    format!("no such file: {}", p.display()),
                ));
            }
        }
        Ok(c)
    }
}
