//! The Anthropic Messages surface (`/v1/messages`, `/v1/messages/count_tokens`, and the model
//! lookups when the client speaks Anthropic): Claude Code and the Anthropic SDKs with only a base
//! URL, routed to Gemini with Claude model names mapped by `anthropic.model_aliases`.

mod blocks;
mod request;
mod response;
mod stream;

use crate::convert::TokenUsage;
use crate::credentials::Identity;
use crate::error::{Envelope, ErrorKind, GatewayError};
use crate::model::{Method, Resource};
use crate::pipeline::body::parse_json as parse;
use crate::pipeline::body::read_json;
use crate::pipeline::ctx::Client;
use crate::pipeline::route::{
    BufferedReply, Framing, QuotaUse, Reply, Response, Route, Routed, UpstreamRequest,
};
use crate::pipeline::surface::{is_shared_model_lookup, Dialect, Surface};
use crate::state::AppState;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use request::{resolve_model, translate, MessagesRequest};
use response::MessageMeta;
use serde_json::Value;
use std::sync::Arc;

/// The Anthropic surface.
pub struct Anthropic {
    state: Arc<AppState>,
    safety: &'static str,
    max_body: usize,
}

impl Anthropic {
    pub fn new(state: &Arc<AppState>) -> Self {
        Anthropic {
            safety: state.config.openai.safety_threshold(),
            max_body: state.config.limits.max_body_bytes,
            state: state.clone(),
        }
    }

    async fn messages(&self, session: &mut Session) -> Result<Routed, GatewayError> {
        let body = read_json(session, self.max_body).await?;
        let req: MessagesRequest<'_> = parse(&body)?;
        if req.max_tokens.is_none() {
            return Err(
                GatewayError::bad_request("max_tokens: field required.").with_param("max_tokens")
            );
        }
        let plan = translate(req, &self.state.config.anthropic, self.safety)?;
        let meta = MessageMeta {
            id: crate::convert::random_id("msg_", 24),
            model: plan.requested,
            thinking: plan.thinking,
        };
        let reply = if plan.stream {
            Reply::Streamed(Box::new(stream::MessageStream::new(meta)))
        } else {
            Reply::Buffered(Box::new(MessageJson(meta, None)))
        };
        Ok(Routed::Upstream(Route::generate(
            plan.model,
            plan.body,
            plan.est_tokens,
            reply,
            "messages",
        )))
    }

    /// `count_tokens` → Gemini `countTokens` of the whole translated request (system, tools).
    async fn count_tokens(&self, session: &mut Session) -> Result<Routed, GatewayError> {
        let body = read_json(session, self.max_body).await?;
        let req: MessagesRequest<'_> = parse(&body)?;
        let plan = translate(req, &self.state.config.anthropic, self.safety)?;
        let mut inner: Value = serde_json::from_slice(&plan.body)
            .map_err(|e| GatewayError::internal(e.to_string()))?;
        if let Value::Object(m) = &mut inner {
            m.insert(
                "model".into(),
                Value::from(format!("models/{}", plan.model)),
            );
            // Counting takes no sampling or safety settings.
            m.remove("safetySettings");
            m.remove("generationConfig");
        }
        let wrapped = serde_json::json!({ "generateContentRequest": inner });
        Ok(Routed::Upstream(Route {
            quota: QuotaUse {
                est_tokens: plan.est_tokens,
                counts: false,
            },
            upstream: UpstreamRequest {
                method: http::Method::POST,
                resource: Resource::Call(plan.model.clone(), Method::CountTokens),
                query: None,
                body: Some(Bytes::from(wrapped.to_string())),
                framing: Framing::Json,
            },
            model: Some(plan.model),
            reply: Reply::Buffered(Box::new(CountJson)),
            label: "count_tokens",
            thread: None,
        }))
    }

    fn list_models(&self, client: &Client) -> Routed {
        if let Some(ids) = super::models::cached(&self.state, client) {
            return Routed::Answer(Response::json(200, response::model_list(&ids)));
        }
        Routed::Upstream(Route {
            upstream: UpstreamRequest {
                method: http::Method::GET,
                resource: Resource::ListModels,
                query: Some("pageSize=1000".into()),
                body: None,
                framing: Framing::Json,
            },
            model: None,
            quota: QuotaUse::default(),
            reply: Reply::Buffered(Box::new(ModelList(
                self.state.clone(),
                client.identity().cloned(),
            ))),
            label: "models",
            thread: None,
        })
    }

    /// A Claude name the aliases map is answered as that name; a Gemini id Google is asked about.
    fn get_model(&self, rest: &str, client: &Client) -> Result<Routed, GatewayError> {
        let name = rest.replace("%2F", "/").replace("%2f", "/");
        let name = name.strip_prefix("models/").unwrap_or(&name);
        let answer =
            |id: &str| Routed::Answer(Response::json(200, response::model(id).to_string()));
        let id = resolve_model(&self.state.config.anthropic, name)?;
        if let Some(i) = client.identity() {
            i.check_model(&id)?;
        }
        if self.state.config.anthropic.resolve(name).is_some() && name.starts_with("claude") {
            return Ok(answer(name));
        }
        if super::models::listed(&self.state, &id) {
            return Ok(answer(&id));
        }
        Ok(Routed::Upstream(Route {
            upstream: UpstreamRequest {
                method: http::Method::GET,
                resource: Resource::GetModel(id.clone()),
                query: None,
                body: None,
                framing: Framing::Json,
            },
            reply: Reply::Buffered(Box::new(OneModel(id.to_string()))),
            model: Some(id),
            quota: QuotaUse::default(),
            label: "models",
            thread: None,
        }))
    }
}

#[async_trait]
impl Surface for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn envelope(&self) -> Envelope {
        Envelope::Anthropic
    }

    /// `/v1/messages…`, and the shared model lookups when the client speaks Anthropic.
    fn serves(&self, req: &RequestHeader) -> bool {
        let path = req.uri.path();
        path == "/v1/messages"
            || path.starts_with("/v1/messages/")
            || (is_shared_model_lookup(path) && Dialect::of(req) == Dialect::Anthropic)
    }

    async fn route(&self, session: &mut Session, client: &Client) -> Result<Routed, GatewayError> {
        let req = session.req_header();
        let path = req.uri.path().trim_end_matches('/').to_string();
        let method = req.method.clone();
        match (path.as_str(), &method) {
            ("/v1/messages", &http::Method::POST) => self.messages(session).await,
            ("/v1/messages/count_tokens", &http::Method::POST) => self.count_tokens(session).await,
            ("/v1/models", &http::Method::GET) => Ok(self.list_models(client)),
            (p, &http::Method::GET) if p.starts_with("/v1/models/") => {
                self.get_model(&p["/v1/models/".len()..], client)
            }
            ("/v1/messages" | "/v1/messages/count_tokens" | "/v1/models", _) => Err(
                GatewayError::method_not_allowed(format!("{method} is not supported on {path}.")),
            ),
            _ => Err(GatewayError::new(
                ErrorKind::NotFound,
                format!("Unknown route {path:?} (this gateway serves messages, messages/count_tokens and models)."),
            )),
        }
    }
}

/// A whole answer → `message`.
struct MessageJson(MessageMeta, Option<TokenUsage>);

impl BufferedReply for MessageJson {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        let (json, usage) = response::message(&body, &self.0)?;
        self.1 = usage;
        Ok(Bytes::from(json))
    }

    fn usage(&self) -> Option<TokenUsage> {
        self.1
    }
}

/// `countTokens` → `{"input_tokens": N}`.
struct CountJson;

impl BufferedReply for CountJson {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        Ok(Bytes::from(response::count(&body)?))
    }
}

/// Gemini's model list → Anthropic's, filling the shared cache.
struct ModelList(Arc<AppState>, Option<Arc<Identity>>);

impl BufferedReply for ModelList {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        let ids = super::models::learn(&self.0, &body, self.1.as_deref())?;
        Ok(Bytes::from(response::model_list(&ids)))
    }
}

/// Google knows the model: answer in Anthropic's shape.
struct OneModel(String);

impl BufferedReply for OneModel {
    fn transform(&mut self, _body: Bytes) -> Result<Bytes, GatewayError> {
        Ok(Bytes::from(response::model(&self.0).to_string()))
    }
}

#[cfg(test)]
mod tests;
