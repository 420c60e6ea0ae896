//! The request pipeline. For every request, in this order (see `docs/architecture.md`):
//!
//! 1. **identity** — who the client is (credential, role, IP), computed once here;
//! 2. **policy stages** (`pipeline:` in the config: auth, limits, usage) — [`stage::Stage`];
//! 3. **surface** — the API of the path turns the request into a [`route::Route`];
//! 4. **attempt loop** — key selection and the upstream exchange, fixed steps ([`attempt`]);
//! 5. **reply** — passthrough or the route's transform, streamed as it arrives ([`reply`]);
//! 6. **finish** — the stages' end hooks, key-pool token feedback, metrics, the access log.

pub mod attempt;
pub mod body;
pub mod ctx;
mod exchange;
mod finish;
mod identity;
pub mod log;
pub mod reply;
pub mod route;
pub mod service;
pub mod stage;
pub mod surface;

use crate::error::{ErrorKind, GatewayError};
use crate::state::AppState;
use ctx::{ReqCtx, SurfaceInfo};
use exchange::Exchange;
use pingora::proxy::Session;
use route::Routed;
use stage::{Flow, Stage};
use std::sync::Arc;
use surface::Surface;

/// How a request ended, as the attempt loop and the answer writers report it.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A complete answer went out (possibly an error answer, or a stream ended by an error event).
    Answered,
    /// The answer cannot be completed: the client left, or a plain JSON answer had to be cut.
    /// The connection is dropped.
    Aborted,
    /// The request failed before any response byte went out: answer with this error.
    Failed(GatewayError),
}

/// The chain: shared state, the policy stages in order, the surfaces.
pub struct Pipeline {
    pub state: Arc<AppState>,
    stages: Vec<Arc<dyn Stage>>,
    surfaces: Vec<Arc<dyn Surface>>,
}

impl Pipeline {
    pub fn new(
        state: Arc<AppState>,
        stages: Vec<Arc<dyn Stage>>,
        surfaces: Vec<Arc<dyn Surface>>,
    ) -> Pipeline {
        Pipeline {
            state,
            stages,
            surfaces,
        }
    }

    /// The names of the policy stages, in order.
    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// A fresh per-request context (counted as in flight until dropped).
    pub fn new_ctx(&self) -> ReqCtx {
        ReqCtx::new(Some(self.state.drain.enter()))
    }

    /// Run a request to its end; `Err` means the client connection must be dropped.
    pub async fn handle(&self, session: &mut Session, ctx: &mut ReqCtx) -> Result<(), ()> {
        let mut ex = Exchange::new(session, &self.state.upstream, &self.state.drain);
        let outcome = match self.serve(&mut ex, ctx).await {
            Outcome::Failed(e) if !ctx.log.response_started() => {
                let o = reply::error(&mut ex, &mut ctx.log, ctx.surface.envelope, &e).await;
                ctx.log.error = Some(e);
                o
            }
            Outcome::Failed(e) => {
                ctx.log.error = Some(e);
                Outcome::Aborted
            }
            o => o,
        };
        match outcome {
            Outcome::Aborted => Err(()),
            _ => Ok(()),
        }
    }

    async fn serve(&self, ex: &mut Exchange<'_>, ctx: &mut ReqCtx) -> Outcome {
        // HTTP/1.1 pipelining (RFC 9112 §9.3.2): a request sent before the previous answer is
        // kept and served next, in order, instead of the connection being dropped.
        ex.down.as_downstream_mut().set_pipelining_enabled(true);
        let surface = {
            let req = ex.down.req_header();
            self.surfaces.iter().find(|s| s.serves(req)).cloned()
        };
        if let Some(s) = &surface {
            ctx.surface = SurfaceInfo {
                name: s.name(),
                envelope: s.envelope(),
            };
        }
        ctx.client = identity::identify(&self.state, ex.down);
        if let Err(e) = identity::check_headers(&self.state.config.limits, ex.down.req_header()) {
            return Outcome::Failed(e);
        }
        ctx.stages = self.stages.iter().map(|s| s.init()).collect();
        for (s, state) in self.stages.iter().zip(ctx.stages.iter_mut()) {
            match s.on_request(state, ex.down.req_header(), &ctx.client) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Respond(r)) => return reply::answer(ex, &mut ctx.log, r).await,
                Err(e) => return Outcome::Failed(e),
            }
        }
        let Some(surface) = surface else {
            let path = ex.down.req_header().uri.path().to_string();
            return Outcome::Failed(GatewayError::new(
                ErrorKind::NotFound,
                format!("Unknown route {path:?}."),
            ));
        };
        match surface.route(ex.down, &ctx.client).await {
            Ok(Routed::Answer(r)) => return reply::answer(ex, &mut ctx.log, r).await,
            Ok(Routed::Upstream(route)) => ctx.route = Some(route),
            Err(e) => return Outcome::Failed(e),
        }
        if let Some(route) = &mut ctx.route {
            for (s, state) in self.stages.iter().zip(ctx.stages.iter_mut()) {
                match s.on_route(state, route, &ctx.client).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Respond(r)) => return reply::answer(ex, &mut ctx.log, r).await,
                    Err(e) => return Outcome::Failed(e),
                }
            }
        }
        attempt::run(self, ex, ctx).await
    }
}
