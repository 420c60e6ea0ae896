//! Assembling the Pingora server: the gateway service, the admin side port, background tasks.

use crate::admin::AdminApp;
use crate::config::Config;
use crate::pipeline::service::GatewayProxy;
use crate::pipeline::Pipeline;
use crate::state::AppState;
use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::path::Path;
use std::sync::Arc;

/// Pingora's own settings for this process.
pub fn server_conf(threads: usize, run_dir: &Path, grace_seconds: u64) -> ServerConf {
    ServerConf {
        threads,
        pid_file: run_dir
            .join("gemini-gateway.pid")
            .to_string_lossy()
            .into_owned(),
        upgrade_sock: run_dir
            .join("gemini-gateway-upgrade.sock")
            .to_string_lossy()
            .into_owned(),
        grace_period_seconds: Some(grace_seconds),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    }
}

/// Build a bootstrapped server with the gateway and admin services; returns it with the shared state.
pub fn build(config: Config, conf: ServerConf) -> Result<(Server, Arc<AppState>), String> {
    let listen = config.listen.to_string();
    let admin_listen = config.admin_listen.to_string();
    if !config.auth.required {
        tracing::warn!(
            "auth: none — the gateway accepts requests from anyone who can reach {listen}"
        );
    }
    let state = AppState::new(config)?;
    let pipeline = Arc::new(Pipeline::from_config(state.clone())?);

    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut gateway = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        GatewayProxy { pipeline },
        "gemini-gateway",
    );
    gateway.add_tcp(&listen);
    server.add_service(gateway);

    let mut admin = Service::new(
        "gemini-gateway admin".to_string(),
        AdminApp {
            state: state.clone(),
        },
    );
    admin.add_tcp(&admin_listen);
    admin.threads = Some(1);
    server.add_service(admin);

    server.add_service(background_service(
        "upstream dns",
        DnsRefresh {
            state: state.clone(),
        },
    ));
    if state.config.pipeline.iter().any(|s| s == "openai") {
        server.add_service(background_service(
            "model list",
            ModelRefresh {
                state: state.clone(),
            },
        ));
    }
    tracing::info!(%listen, admin = %admin_listen, keys = state.pool.len(), upstream = %state.upstream.config().authority(), "gemini-gateway configured");
    Ok((server, state))
}

/// Re-resolves the upstream host periodically so a changed Google address is picked up.
struct DnsRefresh {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for DnsRefresh {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let every = self.state.config.upstream.dns_refresh;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => self.state.upstream.refresh_dns().await,
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Keeps the upstream model list behind `/v1/models` fresh.
struct ModelRefresh {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for ModelRefresh {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // Lazy: the first `GET /v1/models` fills the cache on demand; from then on it is kept fresh.
        let every = self.state.config.openai.models_refresh;
        let mut wait = every;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    if self.state.models.any().is_none() {
                        continue;
                    }
                    match crate::upstream::models::refresh(&self.state).await {
                        Ok(n) => {
                            tracing::debug!(models = n, "model list refreshed");
                            wait = every;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "model list refresh failed; retrying");
                            wait = (wait * 4).min(every);
                        }
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
