//! The upstream model list shared by the surfaces that answer `/v1/models` in their own shape
//! (OpenAI, Anthropic): served from the cache while it is fresh, refilled from Google's list.

use crate::convert;
use crate::credentials::Identity;
use crate::error::GatewayError;
use crate::pipeline::ctx::Client;
use crate::state::AppState;
use bytes::Bytes;

/// The cached model ids with the configured extras that `client` may use, if the cache is fresh.
pub(crate) fn cached(state: &AppState, client: &Client) -> Option<Vec<String>> {
    let fresh = state
        .models
        .fresh(state.clock.now(), state.config.openai.models_refresh * 2)?;
    let mut ids: Vec<String> = fresh.iter().cloned().collect();
    with_extras(&mut ids, &state.config.openai.extra_models);
    ids.retain(|m| client.allows(m));
    Some(ids)
}

/// Whether the fresh cache lists `id` (whoever asks).
pub(crate) fn listed(state: &AppState, id: &str) -> bool {
    state
        .models
        .fresh(state.clock.now(), state.config.openai.models_refresh * 2)
        .is_some_and(|ids| {
            ids.iter().any(|m| m == id) || state.config.openai.extra_models.iter().any(|m| m == id)
        })
}

/// Read Google's model list page, remember it (catalog and cache) and return the ids with the
/// configured extras that `who` may use.
pub(crate) fn learn(
    state: &AppState,
    body: &Bytes,
    who: Option<&Identity>,
) -> Result<Vec<String>, GatewayError> {
    let (mut ids, _) = convert::gemini_model_page(body)?;
    for id in &ids {
        state.catalog.know(id);
    }
    state.models.set(ids.clone(), state.clock.now());
    with_extras(&mut ids, &state.config.openai.extra_models);
    if let Some(i) = who {
        ids.retain(|m| i.allows(m));
    }
    Ok(ids)
}

/// Add the configured extra ids to a listing, once each.
fn with_extras(ids: &mut Vec<String>, extras: &[String]) {
    for m in extras {
        if !ids.contains(m) {
            ids.push(m.clone());
        }
    }
}
