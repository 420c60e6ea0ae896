//! `log:` — log level and format.

use super::{err, ConfigError};
use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

/// Logging.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// A tracing filter (`info`, `debug,pingora=warn`, ...); `RUST_LOG` replaces it.
    pub level: String,
    /// One JSON object per line instead of text.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            json: false,
        }
    }
}

impl LogConfig {
    pub(super) fn from_raw(l: RawLog) -> Result<Self, ConfigError> {
        let json = match l.format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(o) => {
                return Err(err(
                    "log.format",
                    format!("must be text or json (got {o:?})"),
                ))
            }
        };
        Ok(LogConfig {
            level: l.level.unwrap_or(LogConfig::default().level),
            json,
        })
    }
}
