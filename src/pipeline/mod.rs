//! The request pipeline: an ordered chain of filter stages, built from config, run by one `ProxyHttp`.

pub mod attempt;
pub mod ctx;
pub mod service;

use crate::error::GatewayError;
use crate::state::AppState;
use crate::upstream::Fault;
use async_trait::async_trait;
use bytes::Bytes;
use ctx::ReqCtx;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use std::sync::Arc;

/// A response a stage gives instead of going upstream.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Response {
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: body.into(),
        }
    }
}

/// What a stage decided.
#[derive(Debug)]
pub enum Flow {
    /// Go on to the next stage.
    Continue,
    /// Answer the client with this response; no later stage and no upstream call runs.
    Respond(Response),
}

/// One upstream attempt being prepared by the stages.
#[derive(Debug, Default)]
pub struct Attempt {
    /// 0 for the first attempt.
    pub index: usize,
    /// The key chosen by the key-selection stage.
    pub key: Option<usize>,
    /// The upstream request header, built by the exchange stage.
    pub request: Option<RequestHeader>,
}

/// A filter stage. Every hook defaults to doing nothing; a stage overrides what it needs.
///
/// Request hooks run in chain order; response hooks run in reverse order (the answer flows back).
#[async_trait]
pub trait Filter: Send + Sync {
    /// The stage's registry name.
    fn name(&self) -> &'static str;

    /// Runs once per request before any upstream call. `Flow::Respond` or `Err` ends the request.
    async fn on_request(
        &self,
        _session: &mut Session,
        _ctx: &mut ReqCtx,
    ) -> Result<Flow, GatewayError> {
        Ok(Flow::Continue)
    }

    /// Runs before each upstream attempt (key choice, request header). `Err` ends the request.
    fn on_attempt(&self, _ctx: &mut ReqCtx, _attempt: &mut Attempt) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Runs after each attempt with its classified fault (`None` = success).
    fn on_attempt_done(&self, _ctx: &mut ReqCtx, _attempt: &Attempt, _fault: Option<&Fault>) {}

    /// Runs on the success response header before it is sent to the client.
    fn on_response_header(
        &self,
        _ctx: &mut ReqCtx,
        _upstream: &ResponseHeader,
        _resp: &mut ResponseHeader,
    ) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Runs on each upstream body chunk before it is written; may replace or swallow it.
    fn on_response_chunk(
        &self,
        _ctx: &mut ReqCtx,
        _chunk: &mut Option<Bytes>,
        _end: bool,
    ) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Runs once at the end of every request, whatever happened.
    fn on_finish(&self, _ctx: &mut ReqCtx) {}
}

/// The chain of stages and the shared state they use.
pub struct Pipeline {
    pub state: Arc<AppState>,
    pub filters: Vec<Arc<dyn Filter>>,
}

impl Pipeline {
    /// Build the chain named in the config; unknown stage names are an error.
    pub fn from_config(state: Arc<AppState>) -> Result<Pipeline, String> {
        let mut filters = Vec::new();
        for name in &state.config.pipeline {
            filters.push(crate::filters::build(name, &state)?);
        }
        Ok(Pipeline { state, filters })
    }
}
