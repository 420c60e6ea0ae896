//! Shared state: one `Arc<AppState>` built at startup and used by every request and the admin side.

use crate::clock::Clock;
use crate::config::Config;
use crate::filters::usage::UsageCounters;
use crate::metrics::Metrics;
use crate::store::{Store, UsageWriter};
use crate::upstream::limits::Limits;
use crate::upstream::models::ModelCache;
use crate::upstream::{pacific, Scheduler, UpstreamClient};
use std::sync::Arc;

/// Everything requests share.
pub struct AppState {
    pub config: Config,
    /// The key scheduler (keys, groups, per-model health and usage windows).
    pub pool: Scheduler,
    pub upstream: UpstreamClient,
    /// Per key × model counters since start.
    pub usage: UsageCounters,
    pub clock: Clock,
    pub models: ModelCache,
    pub store: Arc<Store>,
    /// Batches usage deltas to the store off the request path.
    pub writer: UsageWriter,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(config: Config) -> Result<Arc<AppState>, String> {
        let limits = Arc::new(
            Limits::new(config.model_limits_path.clone())
                .map_err(|e| format!("model_limits.path: {e}"))?,
        );
        let pool = Scheduler::new(&config.keys, config.failover.clone(), limits)?
            .with_enforcement(config.enforce_limits);
        let upstream = UpstreamClient::new(&config.upstream)?;
        let store = Arc::new(
            Store::open(config.store.path.as_deref()).map_err(|e| format!("store.path: {e}"))?,
        );
        let clock = Clock::default();
        let today = pacific::day_of(clock.now_utc());
        let rows = store.day(today).map_err(|e| format!("store: {e}"))?;
        for (group, model, c) in &rows {
            pool.preload_day(
                today,
                group,
                model,
                c.requests,
                c.input_tokens,
                c.output_tokens,
            );
        }
        if !rows.is_empty() {
            tracing::info!(rows = rows.len(), day = %today, "today's usage loaded from the store");
        }
        let writer = UsageWriter::start(store.clone(), config.store.flush_interval);
        let metrics = Metrics::new().map_err(|e| format!("metrics: {e}"))?;
        for m in pool.limits.table().models() {
            metrics.know_model(&m);
        }
        Ok(Arc::new(AppState {
            pool,
            upstream,
            usage: UsageCounters::default(),
            clock,
            models: ModelCache::default(),
            store,
            writer,
            metrics,
            config,
        }))
    }
}
