//! The filter stages, one per file, and the registry that builds them by name from config.

pub mod auth;
pub mod exchange;
pub mod key_select;
pub mod limits;
pub mod openai_compat;
pub mod surface;
pub mod usage;

use crate::pipeline::Filter;
use crate::state::AppState;
use std::sync::Arc;

/// Build the stage registered under `name`.
pub fn build(name: &str, state: &Arc<AppState>) -> Result<Arc<dyn Filter>, String> {
    Ok(match name {
        "auth" => Arc::new(auth::Auth::new(state)),
        "limits" => Arc::new(limits::Limits::new(state)),
        "openai" => Arc::new(openai_compat::OpenAiCompat::new(state)),
        "surface" => Arc::new(surface::SurfaceStage::new(state)),
        "key_select" => Arc::new(key_select::KeySelect::new(state)),
        "exchange" => Arc::new(exchange::Exchange::new(state)),
        "usage" => Arc::new(usage::Usage::new(state)),
        other => {
            return Err(format!(
                "pipeline: unknown stage {other:?} (known: auth, limits, openai, surface, key_select, exchange, usage)"
            ))
        }
    })
}
