//! The contract of an optional policy stage (auth, limits, usage; next the context stage).
//!
//! A stage is built once from config and shared by all requests. For each request it may create
//! state of its own with [`Stage::init`] (as Pingora's `HttpModule` does); the pipeline keeps that
//! state in the request's context and hands each hook only the stage's own slot, so no stage can
//! read another's. Every hook has a default that does nothing, so a stage implements only what it
//! needs. Hooks run in chain order (the order of `pipeline:` in the config).

use super::ctx::Client;
use super::log::{AttemptLog, AttemptRecord};
use super::route::{Response, Route};
use crate::error::GatewayError;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use std::any::Any;

/// What a stage decided about a request.
#[derive(Debug)]
pub enum Flow {
    /// Go on to the next stage.
    Continue,
    /// Answer the client with this response; no later stage and no upstream call runs.
    Respond(Response),
}

/// A stage's per-request state: whatever [`Stage::init`] created, or nothing.
#[derive(Default)]
pub struct StageState(Option<Box<dyn Any + Send + Sync>>);

impl StageState {
    /// State holding `value`.
    pub fn new<T: Any + Send + Sync>(value: T) -> StageState {
        StageState(Some(Box::new(value)))
    }

    /// The state, if the stage created one of this type.
    pub fn get_mut<T: Any + Send + Sync>(&mut self) -> Option<&mut T> {
        self.0.as_mut()?.downcast_mut()
    }
}

/// A finished request, as the end-of-request hooks see it.
pub struct Done<'a> {
    pub client: &'a Client,
    pub route: Option<&'a Route>,
    pub log: &'a AttemptLog,
}

/// An optional policy stage.
#[async_trait]
pub trait Stage: Send + Sync {
    /// The stage's name in `pipeline:`.
    fn name(&self) -> &'static str;

    /// Create this request's state. Runs once per request before any other hook. Default: none.
    fn init(&self) -> StageState {
        StageState::default()
    }

    /// Runs after the client's identity is known and before the surface reads the body.
    /// `Ok(Flow::Continue)` goes on; `Ok(Flow::Respond)` answers now; `Err` answers with the error
    /// in the surface's envelope. No upstream call has been made. Default: `Continue`.
    fn on_request(
        &self,
        _state: &mut StageState,
        _req: &RequestHeader,
        _client: &Client,
    ) -> Result<Flow, GatewayError> {
        Ok(Flow::Continue)
    }

    /// Runs once the surface has routed the request (body read, translated), before the first
    /// attempt. Return values as for [`Stage::on_request`]. Default: `Continue`. The route is
    /// `&mut` for the one stage that rewrites the upstream request (context injects history into
    /// the body); every other stage only reads it.
    async fn on_route(
        &self,
        _state: &mut StageState,
        _route: &mut Route,
        _client: &Client,
    ) -> Result<Flow, GatewayError> {
        Ok(Flow::Continue)
    }

    /// Runs after every upstream attempt, successful or not, with its record (`log` holds the
    /// attempts before it). Default: nothing.
    fn on_attempt(
        &self,
        _state: &mut StageState,
        _attempt: &AttemptRecord,
        _route: &Route,
        _log: &AttemptLog,
    ) {
    }

    /// Runs on each piece of a successful upstream answer, as Gemini sent it (before the
    /// surface's reply transform). Default: nothing.
    fn on_reply(&self, _state: &mut StageState, _chunk: &[u8]) {}

    /// Runs when a successful upstream answer has been read to its end, before its last piece
    /// goes to the client — so what a stage records here is visible to a request the client sends
    /// as soon as it has the answer. Not called for failed, cut or abandoned answers.
    fn on_answered(&self, _state: &mut StageState) {}

    /// Runs once at the end of every request, whatever happened (also for requests answered
    /// before routing). Default: nothing.
    fn on_finish(&self, _state: &mut StageState, _done: &Done<'_>) {}
}
