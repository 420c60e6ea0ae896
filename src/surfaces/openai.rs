//! The OpenAI-compatible surface (`/v1`): chat completions, embeddings and model lookups routed to
//! Gemini, with the answers translated back — whole (buffered) or event by event (streamed).

use crate::convert::{self, ChatMeta, ChatStream, ConvertOptions, EmbedPlan, TokenUsage};
use crate::credentials::Identity;
use crate::error::{Envelope, ErrorKind, GatewayError};
use crate::model::{Method, ModelId, Resource};
use crate::pipeline::body::read_json;
use crate::pipeline::ctx::Client;
use crate::pipeline::route::{
    BufferedReply, Framing, QuotaUse, Reply, Response, Route, Routed, StreamReply, UpstreamRequest,
};
use crate::pipeline::surface::Surface;
use crate::state::AppState;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::sync::Arc;

/// The OpenAI surface.
pub struct OpenAi {
    state: Arc<AppState>,
    opts: ConvertOptions,
    max_body: usize,
}

impl OpenAi {
    pub fn new(state: &Arc<AppState>) -> Self {
        let o = &state.config.openai;
        OpenAi {
            opts: ConvertOptions {
                safety_threshold: o.safety_threshold(),
                roo_line_count: o.roo_code_line_count,
            },
            max_body: state.config.limits.max_body_bytes,
            state: state.clone(),
        }
    }

    async fn chat(&self, session: &mut Session) -> Result<Routed, GatewayError> {
        let body = read_json(session, self.max_body).await?;
        let plan = convert::chat_request(&body, &self.opts)?;
        let reply = if plan.stream {
            Reply::Streamed(Box::new(ChatEvents(ChatStream::new(plan.meta))))
        } else {
            Reply::Buffered(Box::new(ChatJson(plan.meta, None)))
        };
        Ok(Routed::Upstream(Route::generate(
            plan.model,
            plan.body,
            plan.est_tokens,
            reply,
            "chat.completions",
        )))
    }

    async fn embeddings(&self, session: &mut Session) -> Result<Routed, GatewayError> {
        let body = read_json(session, self.max_body).await?;
        let plan = convert::embeddings_request(&body)?;
        Ok(Routed::Upstream(Route {
            quota: QuotaUse {
                est_tokens: plan.prompt_tokens,
                counts: true,
            },
            upstream: UpstreamRequest {
                method: http::Method::POST,
                resource: Resource::Call(plan.model.clone(), Method::BatchEmbedContents),
                query: None,
                body: Some(Bytes::copy_from_slice(&plan.body)),
                framing: Framing::Json,
            },
            model: Some(plan.model.clone()),
            reply: Reply::Buffered(Box::new(Embeddings(plan))),
            label: "embeddings",
            thread: None,
        }))
    }

    fn list_models(&self, client: &Client) -> Routed {
        if let Some(ids) = super::models::cached(&self.state, client) {
            return Routed::Answer(Response::json(200, convert::openai_model_list(&ids)));
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

    fn get_model(&self, rest: &str, client: &Client) -> Result<Routed, GatewayError> {
        // SDKs percent-encode the slash of a `models/` prefix.
        let raw = rest.replace("%2F", "/").replace("%2f", "/");
        let id = ModelId::parse(&raw)
            .map_err(|e| GatewayError::bad_request(e.message().to_string()).with_param("model"))?;
        if let Some(i) = client.identity() {
            i.check_model(&id)?;
        }
        if super::models::listed(&self.state, &id) {
            return Ok(Routed::Answer(Response::json(
                200,
                convert::openai_model(&id),
            )));
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

/// The OpenAI path under Google's OpenAI-compatible base URL (`/v1beta/openai/chat/completions` →
/// `/chat/completions`).
fn openai_rest(path: &str) -> Option<&str> {
    path.strip_prefix("/v1beta/openai")
        .filter(|r| r.is_empty() || r.starts_with('/'))
}

#[async_trait]
impl Surface for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn envelope(&self) -> Envelope {
        Envelope::OpenAi
    }

    /// `/v1/…` (what the Gemini and Anthropic surfaces, registered first, leave) and Google's own
    /// OpenAI-compatible base URL `/v1beta/openai/…`.
    fn serves(&self, req: &RequestHeader) -> bool {
        let path = req.uri.path();
        path == "/v1" || path.starts_with("/v1/") || openai_rest(path).is_some()
    }

    async fn route(&self, session: &mut Session, client: &Client) -> Result<Routed, GatewayError> {
        let req = session.req_header();
        let path = req.uri.path().trim_end_matches('/').to_string();
        let method = req.method.clone();
        let rest = openai_rest(&path)
            .or_else(|| path.strip_prefix("/v1"))
            .unwrap_or("");
        match (rest, &method) {
            ("/chat/completions", &http::Method::POST) => self.chat(session).await,
            ("/embeddings", &http::Method::POST) => self.embeddings(session).await,
            ("/models", &http::Method::GET) => Ok(self.list_models(client)),
            (r, &http::Method::GET) if r.starts_with("/models/") => {
                self.get_model(&r["/models/".len()..], client)
            }
            ("/chat/completions" | "/embeddings" | "/models", _) => Err(
                GatewayError::method_not_allowed(format!("{method} is not supported on {path}.")),
            ),
            _ => Err(GatewayError::new(
                ErrorKind::NotFound,
                format!("Unknown route {path:?}."),
            )),
        }
    }
}

/// A whole chat answer → `chat.completion`.
struct ChatJson(ChatMeta, Option<TokenUsage>);

impl BufferedReply for ChatJson {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        let (json, usage) = convert::chat_response(&body, &self.0)?;
        self.1 = usage;
        Ok(Bytes::from(json))
    }

    fn usage(&self) -> Option<TokenUsage> {
        self.1
    }
}

/// Gemini SSE events → `chat.completion.chunk` events, as they arrive.
struct ChatEvents(ChatStream);

impl StreamReply for ChatEvents {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.0.feed(chunk, out);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        self.0.finish(out);
    }
}

/// `batchEmbedContents` → OpenAI embeddings.
struct Embeddings(EmbedPlan);

impl BufferedReply for Embeddings {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        Ok(Bytes::from(convert::embeddings_response(&body, &self.0)?))
    }
}

/// Gemini's model list → OpenAI's, filling the cache behind `/v1/models`.
struct ModelList(Arc<AppState>, Option<Arc<Identity>>);

impl BufferedReply for ModelList {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        let ids = super::models::learn(&self.0, &body, self.1.as_deref())?;
        Ok(Bytes::from(convert::openai_model_list(&ids)))
    }
}

/// Google knows the model: answer in OpenAI's shape.
struct OneModel(String);

impl BufferedReply for OneModel {
    fn transform(&mut self, _body: Bytes) -> Result<Bytes, GatewayError> {
        Ok(Bytes::from(convert::openai_model(&self.0)))
    }
}
