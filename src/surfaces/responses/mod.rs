//! The OpenAI Responses surface (`POST /v1/responses`): the default API of `@ai-sdk/openai`, the
//! `openai-agents` SDK and openai-python's `client.responses`, routed to Gemini. Responses are
//! stored (`store`, the API's default) in the conversation-context store when the context stage
//! runs, so `previous_response_id` continues them (`stored.rs`); the retrieval routes are refused.

mod output;
mod request;
mod response;
mod stored;
mod stream;
mod tools;

use crate::config::Stage;
use crate::convert::TokenUsage;
use crate::error::{Envelope, ErrorKind, GatewayError};
use crate::model::ModelId;
use crate::pipeline::body::{parse_json, read_json};
use crate::pipeline::ctx::Client;
use crate::pipeline::route::{BufferedReply, Reply, Route, Routed};
use crate::pipeline::surface::Surface;
use crate::state::AppState;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use request::{translate, Reasoning, ResponsesRequest};
use response::{Echo, Meta};
use serde_json::Value;
use std::sync::Arc;

/// The Responses surface.
pub struct Responses {
    state: Arc<AppState>,
    safety: &'static str,
    max_body: usize,
    /// The context stage runs (it saves stored responses).
    context_stage: bool,
}

impl Responses {
    pub fn new(state: &Arc<AppState>) -> Self {
        Responses {
            safety: state.config.openai.safety_threshold(),
            max_body: state.config.limits.max_body_bytes,
            context_stage: state.config.pipeline.contains(&Stage::Context),
            state: state.clone(),
        }
    }

    async fn create(&self, session: &mut Session, client: &Client) -> Result<Routed, GatewayError> {
        let body = read_json(session, self.max_body).await?;
        let mut req: ResponsesRequest<'_> = parse_json(&body)?;
        let model = ModelId::parse(&req.model).map_err(|e| {
            GatewayError::bad_request(format!("model: {}", e.message())).with_param("model")
        })?;
        let store = stored::Store::new(&self.state, self.context_stage, client);
        let previous = match req
            .previous_response_id
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            Some(p) => Some(store.previous(p).await?),
            None => None,
        };
        let calls = previous.as_ref().map(stored::Previous::calls);
        let mut plan = translate(&mut req, model, self.safety, calls.unwrap_or_default())?;
        let keep = req.store.unwrap_or(true) && store.available();
        let (id, thread) = store.thread(
            &mut plan,
            previous.as_ref(),
            keep,
            req.truncation.as_deref(),
        )?;
        let meta = Meta {
            id,
            created_at: u64::try_from(self.state.clock.now_utc().timestamp()).unwrap_or(0),
            model: req.model.to_string(),
            summaries: plan.summaries,
            echo: echo(&req, plan.reasoning, thread.is_some()).render(),
        };
        let reply = if plan.stream {
            Reply::Streamed(Box::new(stream::ResponseStream::new(meta)))
        } else {
            Reply::Buffered(Box::new(ResponseJson(meta, None)))
        };
        let mut route = Route::generate(plan.model, plan.body, plan.est_tokens, reply, "responses");
        route.thread = thread.map(Box::new);
        Ok(Routed::Upstream(route))
    }
}

/// The request's settings as every response object repeats them, and whether it is `stored`.
fn echo(req: &ResponsesRequest<'_>, reasoning: Reasoning, stored: bool) -> Echo {
    let given = |v: &Option<Value>| v.clone().filter(|t| !t.is_null());
    Echo {
        instructions: req.instructions.clone(),
        max_output_tokens: req.max_output_tokens,
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        reasoning,
        temperature: req.temperature,
        top_p: req.top_p,
        text: given(&req.text),
        tool_choice: given(&req.tool_choice),
        tools: req.tools.clone().unwrap_or_default(),
        metadata: given(&req.metadata),
        user: req.user.clone(),
        previous_response_id: req.previous_response_id.clone().filter(|p| !p.is_empty()),
        store: stored,
        truncation: req.truncation.clone(),
    }
}

#[async_trait]
impl Surface for Responses {
    fn name(&self) -> &'static str {
        "responses"
    }

    fn envelope(&self) -> Envelope {
        Envelope::OpenAi
    }

    fn serves(&self, req: &RequestHeader) -> bool {
        let path = req.uri.path();
        path == "/v1/responses" || path.starts_with("/v1/responses/")
    }

    async fn route(&self, session: &mut Session, client: &Client) -> Result<Routed, GatewayError> {
        let req = session.req_header();
        let path = req.uri.path().trim_end_matches('/').to_string();
        let method = req.method.clone();
        match (path.as_str(), &method) {
            ("/v1/responses", &http::Method::POST) => self.create(session, client).await,
            ("/v1/responses", _) => Err(GatewayError::method_not_allowed(format!(
                "{method} is not supported on {path}."
            ))),
            _ => Err(GatewayError::new(
                ErrorKind::NotFound,
                format!("{path}: stored responses can be continued with `previous_response_id`; retrieving, listing, cancelling or deleting them is not supported here."),
            )),
        }
    }
}

/// A whole answer → the `response` object.
struct ResponseJson(Meta, Option<TokenUsage>);

impl BufferedReply for ResponseJson {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        let (json, usage) = response::response(&body, &self.0)?;
        self.1 = usage;
        Ok(Bytes::from(json))
    }

    fn usage(&self) -> Option<TokenUsage> {
        self.1
    }
}

#[cfg(test)]
mod tests;
