//! `listen`, `admin_listen`, `threads`: where the gateway and its admin port listen, and how many
//! worker threads serve requests.

use super::{err, ConfigError};
use std::net::SocketAddr;

/// The listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 7860)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 7861)),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

fn parse_addr(field: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| {
        err(
            field,
            format!("must be IP:PORT, e.g. 0.0.0.0:7860 (got {v:?})"),
        )
    })
}

impl ServerConfig {
    pub(super) fn from_raw(
        listen: Option<&str>,
        admin_listen: Option<&str>,
        threads: Option<usize>,
    ) -> Result<Self, ConfigError> {
        let d = ServerConfig::default();
        let c = ServerConfig {
            listen: listen.map_or(Ok(d.listen), |v| parse_addr("listen", v))?,
            admin_listen: admin_listen
                .map_or(Ok(d.admin_listen), |v| parse_addr("admin_listen", v))?,
            threads: threads.unwrap_or(d.threads),
        };
        if c.listen == c.admin_listen {
            return Err(err("admin_listen", "must differ from listen"));
        }
        if c.threads == 0 || c.threads > 256 {
            return Err(err("threads", "must be between 1 and 256"));
        }
        Ok(c)
    }
}
