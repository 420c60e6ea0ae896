//! Auth stage: refuses a request whose client presented no valid credential (the identity step
//! has already looked it up), unless the gateway runs with `auth: none`; enforces a credential's
//! own rules — expiry, enabled, its requests-per-minute and per-day limits, its model allow-list —
//! and adds the tokens a request used to the credential's counters.

use crate::error::GatewayError;
use crate::pipeline::ctx::{Client, Credential};
use crate::pipeline::route::Route;
use crate::pipeline::stage::{Done, Flow, Stage, StageState};
use crate::state::AppState;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use std::sync::Arc;

/// The auth stage.
pub struct Auth {
    state: Arc<AppState>,
    required: bool,
    /// `GET /` (the status page) needs a credential only with `PROTECT_STATUS_PAGE`.
    open_status_page: bool,
}

impl Auth {
    pub fn new(state: &Arc<AppState>) -> Self {
        Auth {
            required: state.config.auth.required,
            open_status_page: !state.config.admin.protect_status_page,
            state: state.clone(),
        }
    }
}

#[async_trait]
impl Stage for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn on_request(
        &self,
        _state: &mut StageState,
        req: &RequestHeader,
        client: &Client,
    ) -> Result<Flow, GatewayError> {
        if self.open_status_page && crate::pipeline::surface::is_status_page(req) {
            return Ok(Flow::Continue);
        }
        match &client.credential {
            Credential::Valid(identity) => {
                let clock = &self.state.clock;
                if let Some(refusal) = identity.refusal(clock.now_utc()) {
                    return Err(refusal);
                }
                identity.admit(clock.now(), clock.now_utc())?;
                Ok(Flow::Continue)
            }
            _ if !self.required => Ok(Flow::Continue),
            _ => Err(GatewayError::unauthorized()),
        }
    }

    async fn on_route(
        &self,
        _state: &mut StageState,
        route: &mut Route,
        client: &Client,
    ) -> Result<Flow, GatewayError> {
        if let (Some(identity), Some(model)) = (client.identity(), &route.model) {
            identity.check_model(model.as_str())?;
        }
        Ok(Flow::Continue)
    }

    fn on_finish(&self, _state: &mut StageState, done: &Done<'_>) {
        if let (Some(identity), Some(u)) = (done.client.identity(), done.log.usage()) {
            identity
                .usage
                .add_tokens(u.prompt + u.output(), self.state.clock.now_utc());
        }
    }
}
