//! Key selection stage: asks the scheduler for a key per attempt (skipping keys tried in this
//! request), counts the request when it is sent, and feeds every attempt's outcome back.

use crate::error::GatewayError;
use crate::pipeline::attempt::exhausted_error;
use crate::pipeline::ctx::ReqCtx;
use crate::pipeline::{Attempt, Filter};
use crate::state::AppState;
use crate::store::{DayCounts, UsageDelta};
use crate::upstream::{pacific, Fault, Pick};
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

/// The model whose quota an attempt spends ("" when it spends none: listing, counting tokens).
fn quota_model(ctx: &ReqCtx) -> &str {
    if ctx.counts_quota {
        ctx.bucket.as_deref().unwrap_or("")
    } else {
        ""
    }
}

impl Filter for KeySelect {
    fn name(&self) -> &'static str {
        "key_select"
    }

    fn on_attempt(&self, ctx: &mut ReqCtx, attempt: &mut Attempt) -> Result<(), GatewayError> {
        let (now, wall) = (self.state.clock.now(), self.state.clock.now_utc());
        let model = quota_model(ctx);
        match self
            .state
            .pool
            .pick(model, ctx.est_tokens, &ctx.tried, now, wall)
        {
            Pick::Key(k) => {
                attempt.key = Some(k);
                if let (false, Some(key)) = (model.is_empty(), self.state.pool.get(k)) {
                    self.state.writer.record(UsageDelta {
                        day: pacific::day_of(wall),
                        group: self.state.pool.group_name(key.group).to_string(),
                        model: model.to_string(),
                        counts: DayCounts {
                            requests: 1,
                            input_tokens: 0,
                            output_tokens: 0,
                        },
                    });
                }
                Ok(())
            }
            Pick::Exhausted { retry_after, why } => Err(exhausted_error(
                ctx,
                &self.state.config.failover,
                Some((retry_after, why)),
            )),
        }
    }

    fn on_attempt_done(&self, ctx: &mut ReqCtx, attempt: &Attempt, fault: Option<&Fault>) {
        let Some(key) = attempt.key else { return };
        match fault {
            None => self.state.pool.report_success(key),
            Some(f) => {
                let model = quota_model(ctx).to_string();
                let (now, wall) = (self.state.clock.now(), self.state.clock.now_utc());
                self.state.pool.report_fault(key, &model, f, now, wall)
            }
        }
    }
}
