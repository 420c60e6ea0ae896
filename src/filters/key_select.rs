//! Key selection stage: picks a usable key per attempt (skipping keys tried in this request) and
//! feeds every attempt's classified outcome back to the key pool.

use crate::error::GatewayError;
use crate::pipeline::attempt::exhausted_error;
use crate::pipeline::ctx::ReqCtx;
use crate::pipeline::{Attempt, Filter};
use crate::state::AppState;
use crate::upstream::{Fault, Pick};
use std::sync::Arc;

/// The key-selection stage.
pub struct KeySelect {
    state: Arc<AppState>,
}

impl KeySelect {
    pub fn new(state: &Arc<AppState>) -> Self {
        KeySelect {
            state: state.clone(),
        }
    }
}

impl Filter for KeySelect {
    fn name(&self) -> &'static str {
        "key_select"
    }

    fn on_attempt(&self, ctx: &mut ReqCtx, attempt: &mut Attempt) -> Result<(), GatewayError> {
        let now = self.state.clock.now();
        match self.state.pool.pick(&ctx.tried, now) {
            Pick::Key(k) => {
                attempt.key = Some(k);
                Ok(())
            }
            Pick::Exhausted { retry_after } => {
                let retry_after = retry_after.or_else(|| self.state.pool.soonest_recovery(now));
                Err(exhausted_error(ctx, retry_after))
            }
        }
    }

    fn on_attempt_done(&self, _ctx: &mut ReqCtx, attempt: &Attempt, fault: Option<&Fault>) {
        let Some(key) = attempt.key else { return };
        match fault {
            None => self.state.pool.report_success(key),
            Some(f) => self.state.pool.report_fault(
                key,
                f,
                self.state.clock.now(),
                self.state.clock.now_utc(),
            ),
        }
    }
}
