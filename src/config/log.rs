//! `log:` — log level and format, and the log files (directory, rotation, backups, retention).

use super::{err, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
    pub dir: Option<String>,
    pub max_size: Option<u64>,
    pub rotation: Option<String>,
    pub max_backups: Option<usize>,
    pub retention_days: Option<u64>,
}

/// When a log file is rotated besides its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// When the local date changes (the old system's default).
    Midnight,
    /// When the local hour changes.
    Hourly,
    /// 24 hours after the file was started.
    Daily,
    /// By size only.
    Never,
}

impl Rotation {
    fn parse(s: &str) -> Option<Rotation> {
        match s.trim().to_ascii_lowercase().as_str() {
            "midnight" => Some(Rotation::Midnight),
            "hourly" | "h" => Some(Rotation::Hourly),
            "daily" | "d" => Some(Rotation::Daily),
            "never" => Some(Rotation::Never),
            _ => None,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// A tracing filter (`info`, `debug,pingora=warn`, ...); `RUST_LOG` replaces it.
    pub level: String,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Where `gemini-gateway.log`, `error.log` and `access.log` go; `None`: stdout only.
    pub dir: Option<PathBuf>,
    /// Rotate a file when it passes this many bytes (0: never by size).
    pub max_bytes: u64,
    pub rotation: Rotation,
    /// Rotated files kept per log.
    pub max_backups: usize,
    /// Rotated files older than this many days are deleted (0: kept).
    pub retention_days: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            json: false,
            dir: Some(PathBuf::from("logs")),
            max_bytes: 10 * 1024 * 1024,
            rotation: Rotation::Midnight,
            max_backups: 5,
            retention_days: 30,
        }
    }
}

impl LogConfig {
    pub(super) fn from_raw(l: RawLog) -> Result<Self, ConfigError> {
        let d = LogConfig::default();
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
        let dir = match l.dir.as_deref().map(str::trim) {
            None => d.dir,
            Some("" | "off" | "none") => None,
            Some(p) => Some(PathBuf::from(p)),
        };
        let rotation = match l.rotation.as_deref() {
            None => d.rotation,
            Some(r) => Rotation::parse(r).ok_or_else(|| {
                err(
                    "log.rotation",
                    format!("must be midnight, hourly, daily or never (got {r:?})"),
                )
            })?,
        };
        let max_mb = l.max_size.unwrap_or(d.max_bytes / (1024 * 1024));
        if max_mb > 1024 * 1024 {
            return Err(err("log.max_size", "megabytes: at most 1048576"));
        }
        let max_backups = l.max_backups.unwrap_or(d.max_backups);
        if max_backups > 1000 {
            return Err(err("log.max_backups", "at most 1000"));
        }
        Ok(LogConfig {
            level: l.level.unwrap_or(d.level),
            json,
            dir,
            max_bytes: max_mb * 1024 * 1024,
            rotation,
            max_backups,
            retention_days: l.retention_days.unwrap_or(d.retention_days),
        })
    }
}
