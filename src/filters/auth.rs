//! Auth stage: refuses a request whose client presented no valid credential (the identity step
//! has already matched it, in constant time), unless the gateway runs with `auth: none`.

use crate::error::GatewayError;
use crate::pipeline::ctx::{Client, Credential};
use crate::pipeline::stage::{Flow, Stage, StageState};
use crate::state::AppState;
use pingora::http::RequestHeader;
use std::sync::Arc;

/// The auth stage.
pub struct Auth {
    required: bool,
}

impl Auth {
    pub fn new(state: &Arc<AppState>) -> Self {
        Auth {
            required: state.config.auth.required,
        }
    }
}

impl Stage for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn on_request(
        &self,
        _state: &mut StageState,
        _req: &RequestHeader,
        client: &Client,
    ) -> Result<Flow, GatewayError> {
        match (&client.credential, self.required) {
            (Credential::Valid { .. }, _) | (_, false) => Ok(Flow::Continue),
            _ => Err(GatewayError::unauthorized()),
        }
    }
}
