//! OpenAI-compatible surface stage (`/v1`): translates chat completions, embeddings and model
//! lookups to Gemini requests, and the answers back — streams event by event as they arrive.

use crate::convert::{self, ChatMeta, ChatStream, ConvertError, ConvertOptions, EmbedPlan};
use crate::error::{GatewayError, Surface};
use crate::filters::surface::{check_content_type, read_body};
use crate::model::{self, ModelId, Resource};
use crate::pipeline::ctx::{Framing, ReqCtx, UpstreamRequest};
use crate::pipeline::{Filter, Flow, Response};
use crate::state::AppState;
use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use std::sync::Arc;

/// What a `/v1` request is, and the translation state its answer needs.
pub enum OpenAiState {
    Chat {
        meta: ChatMeta,
        stream: Option<Box<ChatStream>>,
    },
    Embeddings {
        plan: EmbedPlan,
    },
    /// `GET /v1/models` fetched from upstream because the cache was empty.
    ModelList,
    /// `GET /v1/models/{id}` for an id not in the cache.
    Model {
        id: String,
    },
}

impl std::fmt::Debug for OpenAiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenAiState::Chat { .. } => "Chat",
            OpenAiState::Embeddings { .. } => "Embeddings",
            OpenAiState::ModelList => "ModelList",
            OpenAiState::Model { .. } => "Model",
        })
    }
}

impl OpenAiState {
    /// The metric route label.
    pub fn route(&self) -> &'static str {
        match self {
            OpenAiState::Chat { .. } => "chat.completions",
            OpenAiState::Embeddings { .. } => "embeddings",
            OpenAiState::ModelList | OpenAiState::Model { .. } => "models",
        }
    }
}

/// The OpenAI stage.
pub struct OpenAiCompat {
    state: Arc<AppState>,
    opts: ConvertOptions,
    max_body: usize,
}

impl OpenAiCompat {
    pub fn new(state: &Arc<AppState>) -> Self {
        let o = &state.config.openai;
        OpenAiCompat {
            opts: ConvertOptions {
                safety_threshold: if o.disable_safety_filtering {
                    "OFF"
                } else {
                    "BLOCK_NONE"
                },
                roo_line_count: o.roo_code_line_count,
            },
            max_body: state.config.limits.max_body_bytes,
            state: state.clone(),
        }
    }

    fn model_ids(&self) -> Option<Vec<String>> {
        let cached = self.state.models.fresh(
            self.state.clock.now(),
            self.state.config.openai.models_refresh * 2,
        )?;
        let mut ids: Vec<String> = cached.iter().cloned().collect();
        for m in &self.state.config.openai.extra_models {
            if !ids.contains(m) {
                ids.push(m.clone());
            }
        }
        Some(ids)
    }
}

fn convert_error(e: ConvertError) -> GatewayError {
    let mut g = GatewayError::new(e.status, e.code.unwrap_or("bad_request"), e.message);
    g.param = e.param;
    g
}

#[async_trait]
impl Filter for OpenAiCompat {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn on_request(
        &self,
        session: &mut Session,
        ctx: &mut ReqCtx,
    ) -> Result<Flow, GatewayError> {
        if ctx.surface != Surface::OpenAi {
            return Ok(Flow::Continue);
        }
        let req = session.req_header();
        let path = req.uri.path().trim_end_matches('/').to_string();
        let method = req.method.clone();
        let rest = path.strip_prefix("/v1").unwrap_or("");
        match (rest, &method) {
            ("/chat/completions", &Method::POST) => {
                check_content_type(session)?;
                let body = read_body(session, self.max_body).await?;
                let plan = convert::chat_request(&body, &self.opts).map_err(convert_error)?;
                let (method, query, framing) = if plan.stream {
                    (
                        model::Method::StreamGenerateContent,
                        Some("alt=sse".to_string()),
                        Framing::Sse,
                    )
                } else {
                    (model::Method::GenerateContent, None, Framing::Json)
                };
                let resource = Resource::Call(plan.model.clone(), method);
                ctx.model = Some(plan.model.clone());
                ctx.est_tokens =
                    crate::upstream::estimate::validate_and_estimate(&plan.body).unwrap_or(0);
                ctx.counts_quota = true;
                ctx.buffer_response = !plan.stream;
                ctx.upstream = Some(UpstreamRequest {
                    method: Method::POST,
                    resource,
                    query,
                    body: Some(Bytes::from(plan.body)),
                    framing,
                });
                let stream = plan
                    .stream
                    .then(|| Box::new(ChatStream::new(plan.meta.clone())));
                ctx.openai = Some(Box::new(OpenAiState::Chat {
                    meta: plan.meta,
                    stream,
                }));
                Ok(Flow::Continue)
            }
            ("/embeddings", &Method::POST) => {
                check_content_type(session)?;
                let body = read_body(session, self.max_body).await?;
                let plan = convert::embeddings_request(&body).map_err(convert_error)?;
                ctx.model = Some(plan.model.clone());
                ctx.est_tokens = plan.prompt_tokens;
                ctx.counts_quota = true;
                ctx.buffer_response = true;
                ctx.upstream = Some(UpstreamRequest {
                    method: Method::POST,
                    resource: Resource::Call(plan.model.clone(), model::Method::BatchEmbedContents),
                    query: None,
                    body: Some(Bytes::copy_from_slice(&plan.body)),
                    framing: Framing::Json,
                });
                ctx.openai = Some(Box::new(OpenAiState::Embeddings { plan }));
                Ok(Flow::Continue)
            }
            ("/models", &Method::GET) => {
                if let Some(ids) = self.model_ids() {
                    return Ok(Flow::Respond(Response::json(
                        200,
                        convert::openai_model_list(&ids),
                    )));
                }
                ctx.buffer_response = true;
                ctx.upstream = Some(UpstreamRequest {
                    method: Method::GET,
                    resource: Resource::ListModels,
                    query: Some("pageSize=1000".into()),
                    body: None,
                    framing: Framing::Json,
                });
                ctx.openai = Some(Box::new(OpenAiState::ModelList));
                Ok(Flow::Continue)
            }
            (r, &Method::GET) if r.starts_with("/models/") => {
                // SDKs percent-encode the slash of a `models/` prefix.
                let raw = r["/models/".len()..]
                    .replace("%2F", "/")
                    .replace("%2f", "/");
                let id = ModelId::parse(&raw).map_err(|e| {
                    GatewayError::bad_request(e.message().to_string()).with_param("model")
                })?;
                if self
                    .model_ids()
                    .is_some_and(|ids| ids.iter().any(|m| *m == *id))
                {
                    return Ok(Flow::Respond(Response::json(
                        200,
                        convert::openai_model(&id),
                    )));
                }
                ctx.model = Some(id.clone());
                ctx.buffer_response = true;
                ctx.upstream = Some(UpstreamRequest {
                    method: Method::GET,
                    resource: Resource::GetModel(id.clone()),
                    query: None,
                    body: None,
                    framing: Framing::Json,
                });
                ctx.openai = Some(Box::new(OpenAiState::Model { id: id.to_string() }));
                Ok(Flow::Continue)
            }
            ("/chat/completions" | "/embeddings" | "/models", _) => Err(
                GatewayError::method_not_allowed(format!("{method} is not supported on {path}.")),
            ),
            _ => Err(GatewayError::not_found(format!("Unknown route {path:?}."))),
        }
    }

    fn on_response_header(
        &self,
        ctx: &mut ReqCtx,
        _up: &ResponseHeader,
        resp: &mut ResponseHeader,
    ) -> Result<(), GatewayError> {
        let Some(state) = &ctx.openai else {
            return Ok(());
        };
        let streaming = matches!(
            state.as_ref(),
            OpenAiState::Chat {
                stream: Some(_),
                ..
            }
        );
        let set = |r: &mut ResponseHeader, k: http::HeaderName, v: &'static str| {
            r.insert_header(k, v)
                .map_err(|_| GatewayError::internal("response header"))
        };
        let _ = resp.remove_header(&http::header::CONTENT_LENGTH);
        if streaming {
            set(resp, http::header::CONTENT_TYPE, "text/event-stream")?;
            set(resp, http::header::TRANSFER_ENCODING, "chunked")?;
        } else {
            set(resp, http::header::CONTENT_TYPE, "application/json")?;
        }
        Ok(())
    }

    fn on_response_chunk(
        &self,
        ctx: &mut ReqCtx,
        chunk: &mut Option<Bytes>,
        end: bool,
    ) -> Result<(), GatewayError> {
        let Some(state) = ctx.openai.as_mut() else {
            return Ok(());
        };
        match state.as_mut() {
            OpenAiState::Chat {
                stream: Some(s), ..
            } => {
                let mut out = Vec::new();
                if let Some(c) = chunk.as_ref() {
                    s.feed(c, &mut out);
                }
                if end {
                    s.finish(&mut out);
                }
                *chunk = (!out.is_empty()).then(|| Bytes::from(out));
            }
            OpenAiState::Chat { meta, stream: None } => {
                if let Some(c) = chunk.as_ref() {
                    *chunk = Some(Bytes::from(
                        convert::chat_response(c, meta).map_err(convert_error)?,
                    ));
                }
            }
            OpenAiState::Embeddings { plan } => {
                if let Some(c) = chunk.as_ref() {
                    *chunk = Some(Bytes::from(
                        convert::embeddings_response(c, plan).map_err(convert_error)?,
                    ));
                }
            }
            OpenAiState::ModelList => {
                if let Some(c) = chunk.as_ref() {
                    let (mut ids, _) = convert::gemini_model_page(c).map_err(convert_error)?;
                    for id in &ids {
                        self.state.catalog.know(id);
                    }
                    self.state.models.set(ids.clone(), self.state.clock.now());
                    for m in &self.state.config.openai.extra_models {
                        if !ids.contains(m) {
                            ids.push(m.clone());
                        }
                    }
                    *chunk = Some(Bytes::from(convert::openai_model_list(&ids)));
                }
            }
            OpenAiState::Model { id } => {
                *chunk = Some(Bytes::from(convert::openai_model(id)));
            }
        }
        Ok(())
    }
}
