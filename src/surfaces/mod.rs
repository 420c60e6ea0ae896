//! The APIs the gateway speaks, each a [`Surface`] that turns a request on its paths into a
//! route; asked in the order registered here.

pub mod gemini;
pub mod openai;

use crate::pipeline::surface::Surface;
use crate::state::AppState;
use std::sync::Arc;

/// The surfaces this configuration serves (the OpenAI one unless `openai` is left out of
/// `pipeline:`).
pub fn build(state: &Arc<AppState>) -> Vec<Arc<dyn Surface>> {
    let mut v: Vec<Arc<dyn Surface>> = vec![Arc::new(gemini::Native::new(state))];
    if state.config.openai_enabled() {
        v.push(Arc::new(openai::OpenAi::new(state)));
    }
    v
}
