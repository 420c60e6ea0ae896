//! Shared state: one `Arc<AppState>` built at startup and used by every request and the admin side.

use crate::clock::Clock;
use crate::config::Config;
use crate::filters::usage::UsageCounters;
use crate::upstream::models::ModelCache;
use crate::upstream::{KeyPool, UpstreamClient};
use std::sync::Arc;

/// Everything requests share.
pub struct AppState {
    pub config: Config,
    pub pool: KeyPool,
    pub upstream: UpstreamClient,
    pub usage: UsageCounters,
    pub clock: Clock,
    pub models: ModelCache,
}

impl AppState {
    pub fn new(config: Config) -> Result<Arc<AppState>, String> {
        let pool = KeyPool::new(&config.keys, config.failover.clone())?;
        let upstream = UpstreamClient::new(&config.upstream)?;
        Ok(Arc::new(AppState {
            pool,
            upstream,
            usage: UsageCounters::default(),
            models: ModelCache::default(),
            clock: Clock::default(),
            config,
        }))
    }
}
