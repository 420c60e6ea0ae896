//! The APIs the gateway speaks, each a [`Surface`] that turns a request on its paths into a
//! route; asked in the order registered here.

pub mod anthropic;
pub mod gemini;
mod models;
pub mod openai;
pub mod responses;
pub mod status;

use crate::pipeline::surface::Surface;
use crate::state::AppState;
use std::sync::Arc;

/// The surfaces this configuration serves (the OpenAI one unless `openai` is left out of
/// `pipeline:`).
pub fn build(state: &Arc<AppState>) -> Vec<Arc<dyn Surface>> {
    // Anthropic first: it claims `/v1/messages` and the model lookups of Anthropic clients; then
    // Gemini's colon-method paths; OpenAI takes the rest of `/v1`.
    let mut v: Vec<Arc<dyn Surface>> = vec![
        Arc::new(status::Status::new(state)),
        Arc::new(anthropic::Anthropic::new(state)),
        Arc::new(gemini::Native::new(state)),
    ];
    if state.config.openai_enabled() {
        v.push(Arc::new(responses::Responses::new(state)));
        v.push(Arc::new(openai::OpenAi::new(state)));
    }
    v
}
