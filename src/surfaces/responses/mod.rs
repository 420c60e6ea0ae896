//! The OpenAI Responses surface (`POST /v1/responses`): the default API of `@ai-sdk/openai`, the
//! `openai-agents` SDK and openai-python's `client.responses`, routed to Gemini. Nothing is stored:
//! `previous_response_id` and the retrieval routes are refused with a clear error.

mod output;
mod request;
mod response;
mod stream;
mod tools;

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
}

impl Responses {
    pub fn new(state: &Arc<AppState>) -> Self {
        Responses {
            safety: state.config.openai.safety_threshold(),
            max_body: state.config.limits.max_body_bytes,
            state: state.clone(),
        }
    }

    async fn create(&self, session: &mut Session) -> Result<Routed, GatewayError> {
        let body = read_json(session, self.max_body).await?;
        let mut req: ResponsesRequest<'_> = parse_json(&body)?;
        let model = ModelId::parse(&req.model).map_err(|e| {
            GatewayError::bad_request(format!("model: {}", e.message())).with_param("model")
        })?;
        let plan = translate(&mut req, model, self.safety)?;
        let meta = Meta {
            id: crate::convert::random_id("resp_", 48),
            created_at: u64::try_from(self.state.clock.now_utc().timestamp()).unwrap_or(0),
            model: req.model.to_string(),
            summaries: plan.summaries,
            echo: echo(&req, plan.reasoning).render(),
        };
        let reply = if plan.stream {
            Reply::Streamed(Box::new(stream::ResponseStream::new(meta)))
        } else {
            Reply::Buffered(Box::new(ResponseJson(meta, None)))
        };
        Ok(Routed::Upstream(Route::generate(
            plan.model,
            plan.body,
            plan.est_tokens,
            reply,
            "responses",
        )))
    }
}

/// The request's settings as every response object repeats them.
fn echo(req: &ResponsesRequest<'_>, reasoning: Reasoning) -> Echo {
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

    async fn route(&self, session: &mut Session, _client: &Client) -> Result<Routed, GatewayError> {
        let req = session.req_header();
        let path = req.uri.path().trim_end_matches('/').to_string();
        let method = req.method.clone();
        match (path.as_str(), &method) {
            ("/v1/responses", &http::Method::POST) => self.create(session).await,
            ("/v1/responses", _) => Err(GatewayError::method_not_allowed(format!(
                "{method} is not supported on {path}."
            ))),
            _ => Err(GatewayError::new(
                ErrorKind::NotFound,
                format!("{path}: this gateway does not store responses, so there is nothing to retrieve, list, cancel or delete."),
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
