//! `report:` — the periodic usage report in the log.

use super::{err, ConfigError};
use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawReport {
    pub interval_minutes: Option<u64>,
    pub level: Option<String>,
}

/// The periodic usage report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// Minutes between reports; 0 = off.
    pub interval_minutes: u64,
    pub level: tracing::Level,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            interval_minutes: 30,
            level: tracing::Level::INFO,
        }
    }
}

impl ReportConfig {
    pub(super) fn from_raw(r: RawReport) -> Result<Self, ConfigError> {
        let d = ReportConfig::default();
        let level = match r.level.as_deref().map(|l| l.trim().to_ascii_uppercase()) {
            None => d.level,
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
        };
        Ok(ReportConfig {
            interval_minutes: r.interval_minutes.unwrap_or(d.interval_minutes),
            level,
        })
    }
}
