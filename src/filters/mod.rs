//! The optional policy stages, one per file, and the registry that builds them by name from the
//! `pipeline:` list of the config.

pub mod auth;
pub mod context;
pub mod limits;
pub mod usage;

use crate::config::Stage as StageName;
use crate::pipeline::stage::Stage;
use crate::state::AppState;
use std::sync::Arc;

/// Build the stage registered under `name`; `None` for the fixed steps the list may name (they
/// are not stages: the pipeline always runs them).
pub fn build(name: StageName, state: &Arc<AppState>) -> Option<Arc<dyn Stage>> {
    Some(match name {
        StageName::Auth => Arc::new(auth::Auth::new(state)),
        StageName::Limits => Arc::new(limits::ClientLimits::new(state)),
        StageName::Usage => Arc::new(usage::Usage::new(state)),
        StageName::Context => Arc::new(context::Context::new(state)),
        StageName::OpenAi | StageName::Surface | StageName::KeySelect | StageName::Exchange => {
            return None
        }
    })
}

/// Every stage the config names, in its order.
pub fn chain(state: &Arc<AppState>) -> Vec<Arc<dyn Stage>> {
    state
        .config
        .pipeline
        .iter()
        .filter_map(|n| build(*n, state))
        .collect()
}
