//! Shared state: one `Arc<AppState>` built at startup and used by every request and the admin side.

use crate::clock::Clock;
use crate::config::Config;
use crate::error::StartupError;
use crate::filters::usage::UsageCounters;
use crate::metrics::Metrics;
use crate::store::{DayCounts, Store, UsageWriter};
use crate::upstream::catalog::ModelCatalog;
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
    /// The models that get per-model state; everything else is accounted as `other`.
    pub catalog: ModelCatalog,
    /// The one retry policy (request attempts, model-list refresh, key checks).
    pub retry: crate::upstream::retry::RetryPolicy,
    /// The client credentials the gateway accepts (configured ones and proxy keys).
    pub credentials: Arc<crate::credentials::Credentials>,
    /// Saves proxy keys' usage to the store off the request path.
    pub key_usage: crate::credentials::UsageSaver,
    /// Conversations (the context stage, the admin API).
    pub contexts: Arc<crate::context::Contexts>,
    /// Requests in flight and the shutdown grace period.
    pub drain: Arc<crate::drain::Drain>,
    /// When the gateway started (uptime on the admin UI).
    pub started: std::time::Instant,
}

impl AppState {
    pub fn new(config: Config) -> Result<Arc<AppState>, StartupError> {
        let limits = Arc::new(
            Limits::new(config.model_limits.path.clone())
                .map_err(StartupError::ModelLimits)?
                .with_tiers(config.keys.iter().map(|k| (k.project.clone(), k.tier))),
        );
        let pool = Scheduler::new(&config.keys, config.failover.clone(), limits)?
            .with_enforcement(config.model_limits.enforce);
        let upstream = UpstreamClient::new(&config.upstream)?;
        let store = Arc::new(Store::open(config.store.path.as_deref())?);
        let clock = Clock::default();
        let today = pacific::day_of(clock.now_utc());
        let rows = store.day(today)?;
        let writer = UsageWriter::start(store.clone(), config.store.flush_interval);
        let credentials = Arc::new(crate::credentials::Credentials::load(
            &config.auth,
            store.clone(),
            config.store.path.is_some(),
        )?);
        let key_usage =
            crate::credentials::UsageSaver::start(credentials.clone(), config.store.flush_interval);
        let contexts = Arc::new(crate::context::Contexts::new(
            config.context.clone(),
            store.clone(),
            config.store.path.is_some(),
        )?);
        if credentials.proxy_key_count() > 0 {
            tracing::info!(
                proxy_keys = credentials.proxy_key_count(),
                "proxy keys loaded from the store"
            );
        }
        let metrics = Metrics::new()?;
        let catalog = ModelCatalog::new(config.failover.unknown_model_ttl);
        for m in pool.limits.table().models() {
            catalog.know(&m);
        }
        for m in &config.openai.extra_models {
            catalog.know(m);
        }
        // Today's stored counts, per group and model bucket. A stored model with tokens was answered
        // by Google (tokens are only recorded for answers), so it is real and becomes known; names
        // stored without tokens (refused or invented) count under `other`.
        let mut today_counts: std::collections::BTreeMap<(String, Arc<str>), DayCounts> =
            Default::default();
        for (group, model, c) in &rows {
            if c.input_tokens + c.output_tokens > 0 {
                catalog.know(model);
            }
            let e = today_counts
                .entry((group.clone(), catalog.bucket(model)))
                .or_default();
            e.requests += c.requests;
            e.input_tokens += c.input_tokens;
            e.output_tokens += c.output_tokens;
        }
        for ((group, model), c) in &today_counts {
            pool.preload_day(
                today,
                group,
                model,
                c.requests,
                c.input_tokens,
                c.output_tokens,
            );
        }
        // Shown at once by the admin API and the report, not only after the next request.
        for (_, model) in today_counts.keys() {
            pool.touch(model, clock.now(), clock.now_utc());
        }
        if !rows.is_empty() {
            tracing::info!(rows = rows.len(), day = %today, "today's usage loaded from the store");
        }
        let held = crate::upstream::holds::load(&pool, &*store, clock.now())?;
        if held > 0 {
            tracing::warn!(
                keys = held,
                "upstream keys disabled by an administrator (kept in the store)"
            );
        }
        Ok(Arc::new(AppState {
            started: std::time::Instant::now(),
            pool,
            upstream,
            usage: UsageCounters::default(),
            clock,
            models: ModelCache::default(),
            store,
            writer,
            metrics,
            catalog,
            credentials,
            key_usage,
            contexts,
            retry: crate::upstream::retry::RetryPolicy::new(config.failover.clone()),
            drain: Default::default(),
            config,
        }))
    }
}
