//! `shutdown:` — how long open requests get after SIGTERM, and the socket over which a new process
//! takes the listeners over in a zero-downtime upgrade (`--upgrade`, then SIGQUIT to the old one).

use super::{err, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawShutdown {
    #[serde(with = "humantime_serde")]
    pub grace_period: Option<Duration>,
    pub upgrade_socket: Option<String>,
}

/// Graceful shutdown (SIGTERM).
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownConfig {
    /// Time open requests get to finish after SIGTERM; streams still open then end with an error event.
    pub grace_period: Duration,
    /// The Unix socket a process started with `--upgrade` receives the listening sockets on.
    pub upgrade_socket: PathBuf,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_period: Duration::from_secs(30),
            upgrade_socket: std::env::temp_dir().join("gemini-gateway-upgrade.sock"),
        }
    }
}

impl ShutdownConfig {
    pub(super) fn from_raw(s: RawShutdown) -> Result<Self, ConfigError> {
        let d = ShutdownConfig::default();
        let c = ShutdownConfig {
            grace_period: s.grace_period.unwrap_or(d.grace_period),
            upgrade_socket: match s.upgrade_socket.as_deref().map(str::trim) {
                None | Some("") => d.upgrade_socket,
                Some(p) => PathBuf::from(p),
            },
        };
        // sockaddr_un holds 108 bytes with the terminating NUL
        if c.upgrade_socket.as_os_str().len() > 107 {
            return Err(err(
                "shutdown.upgrade_socket",
                "a Unix socket path is at most 107 bytes",
            ));
        }
        if c.grace_period > Duration::from_secs(3600) {
            return Err(err("shutdown.grace_period", "must be at most 1h"));
        }
        Ok(c)
    }
}
