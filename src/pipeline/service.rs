//! The only `ProxyHttp` implementation: it hands every request to the pipeline and nothing else.

use super::ctx::ReqCtx;
use super::Pipeline;
use async_trait::async_trait;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::sync::Arc;

/// The gateway service handed to Pingora.
pub struct GatewayProxy {
    pub pipeline: Arc<Pipeline>,
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = ReqCtx;

    fn new_ctx(&self) -> ReqCtx {
        self.pipeline.new_ctx()
    }

    /// Every request is answered here by the pipeline; `Ok(true)` tells Pingora it was answered.
    /// An `Err` makes Pingora drop the client connection without finishing the body.
    async fn request_filter(&self, session: &mut Session, ctx: &mut ReqCtx) -> Result<bool> {
        match self.pipeline.handle(session, ctx).await {
            Ok(()) => Ok(true),
            Err(()) => Err(Error::explain(
                ErrorType::ConnectionClosed,
                "request aborted",
            )),
        }
    }

    /// Never reached: the pipeline answers every request in `request_filter`.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut ReqCtx,
    ) -> Result<Box<HttpPeer>> {
        Err(Error::explain(
            ErrorType::InternalError,
            "the pipeline answers every request",
        ))
    }

    /// Called only for an aborted request: write nothing more, and close the connection.
    async fn fail_to_proxy(
        &self,
        _session: &mut Session,
        _e: &Error,
        ctx: &mut ReqCtx,
    ) -> FailToProxy {
        FailToProxy {
            error_code: ctx.log.status(),
            can_reuse_downstream: false,
        }
    }

    /// Aborts are logged by the pipeline with context; Pingora's own line would only repeat it.
    fn suppress_error_log(&self, _session: &Session, _ctx: &ReqCtx, _error: &Error) -> bool {
        true
    }

    /// Runs once per request: the end-of-request steps (stages, metrics, access log).
    async fn logging(&self, _session: &mut Session, _e: Option<&Error>, ctx: &mut ReqCtx) {
        self.pipeline.finish(ctx);
    }
}
