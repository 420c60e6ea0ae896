//! Assembling the Pingora server: the gateway service, the admin side port, background tasks.

use crate::admin::AdminApp;
use crate::config::Config;
use crate::error::StartupError;
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

/// Pingora's own settings for this process. `grace_seconds` bounds Pingora's own wait after
/// SIGTERM; the gateway's shutdown service normally ends the process sooner (see [`run`]). The
/// upgrade socket is set by [`build_with`] from `shutdown.upgrade_socket`.
pub fn server_conf(threads: usize, run_dir: &Path, grace_seconds: u64) -> ServerConf {
    ServerConf {
        threads,
        pid_file: run_dir
            .join("gemini-gateway.pid")
            .to_string_lossy()
            .into_owned(),
        grace_period_seconds: Some(grace_seconds),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    }
}

/// Run a built server as the binary does: on SIGTERM, exit as soon as open requests are done
/// (at most `shutdown.grace_period` plus a margin), not after Pingora's fixed sleep.
pub fn run(server: Server, state: &AppState) -> ! {
    state.drain.exit_when_drained();
    server.run(pingora::server::RunArgs::default());
    crate::logfiles::flush();
    std::process::exit(0)
}

/// Pingora's fallback wait after SIGTERM: the grace period, the margin and a little more.
pub fn pingora_grace_seconds(config: &Config) -> u64 {
    config.shutdown.grace_period.as_secs() + SHUTDOWN_MARGIN.as_secs() + 3
}

/// Build a bootstrapped server with the gateway and admin services; returns it with the shared state.
pub fn build(config: Config, conf: ServerConf) -> Result<(Server, Arc<AppState>), StartupError> {
    build_with(config, conf, false)
}

/// As [`build`]; with `upgrade`, bootstrapping waits (about 5 s) for a running gateway to hand
/// its listening sockets over on `shutdown.upgrade_socket` (sent when it gets SIGQUIT). The
/// socket of `conf` is always replaced by `shutdown.upgrade_socket`.
pub fn build_with(
    config: Config,
    mut conf: ServerConf,
    upgrade: bool,
) -> Result<(Server, Arc<AppState>), StartupError> {
    // Where a new process receives the listeners (`upgrade`), and where this one sends them on SIGQUIT.
    conf.upgrade_sock = config
        .shutdown
        .upgrade_socket
        .to_string_lossy()
        .into_owned();
    let listen = config.listen.to_string();
    let admin_listen = config.admin_listen.to_string();
    if !config.auth.required {
        tracing::warn!(
            "auth: none — the gateway accepts requests from anyone who can reach {listen}"
        );
    }
    let state = AppState::new(config)?;
    let pipeline = Arc::new(Pipeline::new(
        state.clone(),
        crate::filters::chain(&state),
        crate::surfaces::build(&state),
    ));

    let opt = pingora::server::configuration::Opt {
        upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), conf);
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
        AdminApp::new(state.clone()).map_err(|e| StartupError::Admin(e.to_string()))?,
    );
    admin.add_tcp(&admin_listen);
    admin.threads = Some(1);
    server.add_service(admin);

    server.add_service(background_service(
        "shutdown",
        Shutdown {
            state: state.clone(),
        },
    ));
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        server.add_service(background_service(
            "service manager",
            Ready {
                listen: state.config.listen,
            },
        ));
    }
    server.add_service(background_service(
        "upstream dns",
        DnsRefresh {
            state: state.clone(),
        },
    ));
    server.add_service(background_service(
        "scheduler upkeep",
        Upkeep {
            state: state.clone(),
        },
    ));
    server.add_service(background_service(
        "key health",
        KeyHealth {
            state: state.clone(),
        },
    ));
    server.add_service(background_service(
        "context cleanup",
        ContextCleanup {
            state: state.clone(),
        },
    ));
    if state.config.report.interval_minutes > 0 {
        server.add_service(background_service(
            "usage report",
            Report {
                state: state.clone(),
            },
        ));
    }
    if state.config.openai_enabled() {
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

/// On SIGTERM: gives open requests `shutdown.grace_period` (streams still open then end with a
/// terminal error event), waits for them to finish, writes pending usage, checkpoints the store,
/// and — in the binary — exits at once instead of sleeping out Pingora's fixed grace period.
struct Shutdown {
    state: Arc<AppState>,
}

/// Time after the grace period for cut streams to write their last event and log.
const SHUTDOWN_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a drained process waits for requests on connections it accepted just before its
/// listeners closed.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

#[async_trait]
impl BackgroundService for Shutdown {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let st = &self.state;
        if shutdown.changed().await.is_err() {
            return;
        }
        let grace = st.config.shutdown.grace_period;
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            in_flight = st.drain.inflight(),
            "shutting down: new connections refused, open requests may finish"
        );
        st.drain.begin(grace);
        let until = std::time::Instant::now() + grace + SHUTDOWN_MARGIN;
        let left = || until.saturating_duration_since(std::time::Instant::now());
        // A connection accepted just before the listeners closed can start its request a moment
        // after the wait: give it that moment and wait for it too, so that usage is written only
        // once no answered request can be left uncounted.
        let drained = loop {
            st.drain.drained(left()).await;
            tokio::time::sleep(SETTLE.min(left())).await;
            if st.drain.inflight() == 0 || left().is_zero() {
                break st.drain.inflight() == 0;
            }
        };
        let st2 = st.clone();
        let _ = tokio::task::spawn_blocking(move || {
            st2.writer.flush();
            if let Err(e) = st2.store.checkpoint() {
                tracing::warn!(error = %e, "store checkpoint at shutdown failed");
            }
        })
        .await;
        tracing::info!(
            drained,
            left = st.drain.inflight(),
            "shutdown: usage written"
        );
        if st.drain.exits_when_drained() {
            crate::logfiles::flush();
            std::process::exit(0);
        }
    }
}

/// Tells systemd (`NOTIFY_SOCKET`) that this process serves, once its gateway port answers.
struct Ready {
    listen: std::net::SocketAddr,
}

#[async_trait]
impl BackgroundService for Ready {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if crate::notify::ready() {
            tracing::info!(pid = std::process::id(), "service manager told: ready");
        }
    }
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

/// Re-tiers keys as windows slide, reloads the model limits file when it changes or on SIGHUP,
/// and prunes old usage days.
struct Upkeep {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for Upkeep {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let st = &self.state;
        let mut retier = tokio::time::interval(std::time::Duration::from_secs(2));
        let mut reload = tokio::time::interval(std::time::Duration::from_secs(5));
        let mut prune = tokio::time::interval(std::time::Duration::from_secs(3600));
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            tokio::select! {
                _ = retier.tick() => st.pool.refresh(st.clock.now(), st.clock.now_utc()),
                _ = reload.tick() => match st.pool.limits.reload_if_changed() {
                    Ok(true) => {
                        for m in st.pool.limits.table().models() {
                            st.catalog.know(&m);
                        }
                        tracing::info!("model limits file changed: reloaded")
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "model limits file is invalid; keeping the previous limits"),
                },
                _ = prune.tick() => {
                    let keep = crate::upstream::pacific::day_of(st.clock.now_utc())
                        - chrono::Duration::days(i64::from(st.config.store.retention_days));
                    let store = st.store.clone();
                    let _ = tokio::task::spawn_blocking(move || store.prune(keep)).await;
                }
                Some(_) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    match st.pool.limits.reload() {
                        Ok(()) => {
                            for m in st.pool.limits.table().models() {
                                st.catalog.know(&m);
                            }
                            tracing::info!("SIGHUP: model limits reloaded")
                        }
                        Err(e) => tracing::warn!(error = %e, "SIGHUP: model limits reload failed; keeping the previous limits"),
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Forgets conversations not used within the TTL, every `context.cleanup_interval`.
struct ContextCleanup {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for ContextCleanup {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let every = self.state.config.context.cleanup_interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    let (c, now) = (self.state.contexts.clone(), self.state.clock.now_utc().timestamp());
                    match tokio::task::spawn_blocking(move || c.cleanup(now)).await {
                        Ok(Ok(n)) if n > 0 => tracing::info!(conversations = n, "expired conversations removed"),
                        Ok(Err(e)) => tracing::warn!(error = %e, "conversation cleanup failed"),
                        _ => {}
                    }
                }
                _ = shutdown.changed() => {
                    let c = self.state.contexts.clone();
                    let _ = tokio::task::spawn_blocking(move || c.flush()).await;
                    return;
                }
            }
        }
    }
}

/// Checks every key at startup, then re-validates disabled keys periodically.
struct KeyHealth {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for KeyHealth {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let st = &self.state;
        if st.config.key_health.startup_check {
            // Keys a check could say nothing about (the network not ready yet, a timeout, a 5xx)
            // are checked again a little later, a few times.
            let mut pending: Vec<crate::upstream::KeyId> = st.pool.ids().collect();
            let mut listed = false;
            for (round, wait) in [0u64, 1, 5, 30].into_iter().enumerate() {
                if pending.is_empty() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
                    _ = shutdown.changed() => return,
                }
                let c = crate::upstream::health::check_all(st, pending).await;
                tracing::info!(
                    round,
                    valid = c.valid,
                    invalid = c.invalid,
                    inconclusive = c.inconclusive.len(),
                    "startup key check"
                );
                pending = c.inconclusive;
                if c.valid > 0 && !listed {
                    listed = true;
                    // Learn the real model names (they get per-model state) and fill `/v1/models`.
                    match crate::upstream::models::refresh(st).await {
                        Ok(n) => tracing::info!(models = n, "upstream model list fetched"),
                        Err(e) => {
                            tracing::info!(error = %e, "upstream model list not fetched at startup")
                        }
                    }
                }
            }
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(st.config.key_health.revalidate_interval) => {
                    let disabled = crate::upstream::health::disabled(st);
                    if !disabled.is_empty() {
                        let c = crate::upstream::health::check_all(st, disabled).await;
                        tracing::info!(restored = c.valid, still_invalid = c.invalid, "disabled keys re-validated");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Logs the usage report every `report.interval_minutes`.
struct Report {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for Report {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let every = std::time::Duration::from_secs(self.state.config.report.interval_minutes * 60);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    let report = crate::report::build(&self.state);
                    crate::report::log(&report, self.state.config.report.level);
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
