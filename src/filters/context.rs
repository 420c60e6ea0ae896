//! Context stage: puts a credential's stored conversation in front of a request that sends only
//! its newest message, and saves the request's turns with the model's reply once the answer has
//! been read to its end (streamed replies captured from the events as they pass).
//!
//! Serves `/v1/chat/completions` and the native `generateContent`, `streamGenerateContent` and
//! `countTokens` (which counts with the history, saving nothing). Mode `auto` injects only into a
//! request without a model turn of its own; a request with its own history replaces the stored one.
//! A route carrying a [`Thread`] (a stored OpenAI Responses exchange) is only saved: its surface
//! has already put the branch it continues in front.

use crate::config::ContextMode;
use crate::context::history::Members;
use crate::context::history::{self, Turn};
use crate::context::thread::Thread;
use crate::context::{conversation_id, Contexts, Origin};
use crate::credentials::Kind;
use crate::error::GatewayError;
use crate::pipeline::ctx::Client;
use crate::pipeline::route::{BufferedReply, Framing, Reply, Route};
use crate::pipeline::stage::{Flow, Stage, StageState};
use crate::state::AppState;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::RequestHeader;
use serde_json::value::RawValue;
use std::sync::Arc;

/// The header naming one of a credential's conversations.
pub const CONVERSATION_HEADER: &str = "x-gateway-conversation";
/// `x-gateway-context: off` skips context for one request.
pub const CONTEXT_HEADER: &str = "x-gateway-context";
/// Longest conversation name.
const MAX_NAME: usize = 128;
/// Largest reply captured for saving; a longer one is not saved.
const MAX_CAPTURE: usize = 8 * 1024 * 1024;

/// The context stage.
pub struct Context {
    state: Arc<AppState>,
}

impl Context {
    pub fn new(state: &Arc<AppState>) -> Self {
        Context {
            state: state.clone(),
        }
    }

    fn contexts(&self) -> &Arc<Contexts> {
        &self.state.contexts
    }
}

/// What is saved when the answer is complete.
struct Save {
    target: Target,
    framing: Framing,
}

/// Where the exchange goes.
enum Target {
    /// The credential's named conversation.
    Conversation {
        id: String,
        owner: String,
        name: String,
        /// The request's own turns.
        turns: Vec<Turn>,
        /// The request brought its own history: it replaces the stored conversation.
        replace: bool,
        window: u64,
        origin: Origin,
    },
    /// A stored response (the surface chose it and sent its branch).
    Thread(Box<Thread>),
}

/// This request's context state.
#[derive(Default)]
struct Plan {
    /// `x-gateway-conversation`, or `default`.
    name: Option<String>,
    /// `x-gateway-context: off`.
    off: bool,
    save: Option<Save>,
    captured: Vec<u8>,
    overflow: bool,
}

/// The answer as Google sent it (read whole so that saving happens before the client has it).
struct Unchanged;

impl BufferedReply for Unchanged {
    fn transform(&mut self, body: Bytes) -> Result<Bytes, GatewayError> {
        Ok(body)
    }
}

#[async_trait]
impl Stage for Context {
    fn name(&self) -> &'static str {
        "context"
    }

    fn init(&self) -> StageState {
        StageState::new(Plan::default())
    }

    fn on_request(
        &self,
        state: &mut StageState,
        req: &RequestHeader,
        _client: &Client,
    ) -> Result<Flow, GatewayError> {
        let Some(plan) = state.get_mut::<Plan>() else {
            return Ok(Flow::Continue);
        };
        if let Some(v) = req.headers.get(CONVERSATION_HEADER) {
            let name = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|n| !n.is_empty() && n.len() <= MAX_NAME);
            let Some(name) = name else {
                return Err(GatewayError::bad_request(format!(
                    "{CONVERSATION_HEADER} must be 1 to {MAX_NAME} bytes of visible text."
                )));
            };
            plan.name = Some(name.to_owned());
        }
        plan.off = req
            .headers
            .get(CONTEXT_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("off"));
        Ok(Flow::Continue)
    }

    async fn on_route(
        &self,
        state: &mut StageState,
        route: &mut Route,
        client: &Client,
    ) -> Result<Flow, GatewayError> {
        let Some(plan) = state.get_mut::<Plan>() else {
            return Ok(Flow::Continue);
        };
        if let Some(thread) = route.thread.take() {
            // A stored response: the surface put its branch in front already; save the exchange.
            plan.save = Some(Save {
                target: Target::Thread(thread),
                framing: route.upstream.framing,
            });
            return Ok(Flow::Continue);
        }
        let contexts = self.contexts().clone();
        let mode = contexts.mode();
        let (Some(identity), Some(model)) = (client.identity(), route.model.clone()) else {
            return Ok(Flow::Continue);
        };
        let off_for_key =
            identity.kind == Kind::ProxyKey && !identity.settings.enable_context_completion;
        let counting = route.label == "countTokens";
        let eligible = matches!(
            route.label,
            "chat.completions" | "generateContent" | "streamGenerateContent" | "countTokens"
        );
        if !contexts.config().enabled
            || mode == ContextMode::Off
            || plan.off
            || off_for_key
            || !eligible
        {
            return Ok(Flow::Continue);
        }
        let Some(body) = route.upstream.body.as_ref() else {
            return Ok(Flow::Continue);
        };
        // The body's members as JSON text: nothing of it is parsed into values (inline media
        // stay one string each). countTokens may wrap the request in `generateContentRequest`.
        let Ok(mut top) = serde_json::from_slice::<Members>(body) else {
            return Ok(Flow::Continue);
        };
        let nested = !top.contains_key("contents");
        let mut target: Members = match nested {
            false => std::mem::take(&mut top),
            true => match top
                .get("generateContentRequest")
                .and_then(|r| serde_json::from_str(r.get()).ok())
            {
                Some(inner) => inner,
                None => return Ok(Flow::Continue),
            },
        };
        let Some(own_text) = target.remove("contents") else {
            return Ok(Flow::Continue);
        };
        let Ok(own) = serde_json::from_str::<Vec<&RawValue>>(own_text.get()) else {
            return Ok(Flow::Continue);
        };
        let saving = !counting
            && (route.upstream.framing == Framing::Json || contexts.config().stream_save_reply);
        // The request's turns as they will be stored (and what tells whether it brings history).
        let turns: Vec<Turn> = own.iter().map(|r| Turn::own(r.get())).collect();
        let name = plan.name.clone().unwrap_or_else(|| "default".into());
        let owner = identity.id.to_string();
        let id = conversation_id(&owner, &name);
        let window = crate::context::window(&self.state, &model);
        let replace = mode == ContextMode::Auto && history::has_model_turn(&turns);
        let mut origin = Origin::Any;
        if !replace {
            let now = self.state.clock.now_utc().timestamp();
            let stored = contexts.load(&id, now).await;
            let stored = stored.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read a conversation; sending the request without it");
                None
            });
            if let Some(conv) = stored {
                origin = Origin::Read;
                let kept = history::fit(&conv.turns, window.saturating_sub(route.quota.est_tokens));
                if !kept.is_empty() {
                    route.quota.est_tokens += kept.iter().map(|t| t.tokens).sum::<u64>();
                    let kept = history::for_model(&model, kept);
                    let mut written = history::splice(&target, &kept, &own);
                    if nested {
                        let inner =
                            RawValue::from_string(String::from_utf8_lossy(&written).into_owned())
                                .map_err(|e| {
                                GatewayError::internal(format!(
                                    "could not write the request with its history: {e}"
                                ))
                            })?;
                        top.insert("generateContentRequest".into(), inner);
                        written = serde_json::to_vec(&top).map_err(|e| {
                            GatewayError::internal(format!(
                                "could not write the request with its history: {e}"
                            ))
                        })?;
                    }
                    route.upstream.body = Some(Bytes::from(written));
                }
            }
        }
        if !saving {
            return Ok(Flow::Continue);
        }
        if matches!(route.reply, Reply::Passthrough) && route.upstream.framing == Framing::Json {
            route.reply = Reply::Buffered(Box::new(Unchanged));
        }
        plan.save = Some(Save {
            target: Target::Conversation {
                id,
                owner,
                name,
                turns,
                replace,
                window,
                origin,
            },
            framing: route.upstream.framing,
        });
        Ok(Flow::Continue)
    }

    fn on_reply(&self, state: &mut StageState, chunk: &[u8]) {
        let Some(plan) = state.get_mut::<Plan>() else {
            return;
        };
        if plan.save.is_none() || plan.overflow {
            return;
        }
        if plan.captured.len() + chunk.len() > MAX_CAPTURE {
            plan.overflow = true;
            plan.captured = Vec::new();
            tracing::warn!(
                limit = MAX_CAPTURE,
                "reply too large to keep in the conversation; this turn is not saved"
            );
            return;
        }
        plan.captured.extend_from_slice(chunk);
    }

    fn on_answered(&self, state: &mut StageState) {
        let Some(plan) = state.get_mut::<Plan>() else {
            return;
        };
        let Some(save) = plan.save.take() else {
            return;
        };
        if plan.overflow {
            return;
        }
        let Some(reply) = history::reply_turn(&plan.captured, save.framing) else {
            return;
        };
        let now = self.state.clock.now_utc().timestamp();
        let reply = Turn::from_raw(Bytes::from(reply), None);
        match save.target {
            Target::Conversation {
                id,
                owner,
                name,
                turns,
                replace,
                window,
                origin,
            } => self
                .contexts()
                .commit(&id, &owner, &name, now, origin, move |all| {
                    if replace {
                        all.clear();
                    }
                    all.extend(turns);
                    all.push(reply);
                    let keep = history::fit(all, window).len();
                    let drop = all.len() - keep;
                    all.drain(..drop);
                }),
            Target::Thread(thread) => thread.save(self.contexts(), now, reply),
        }
    }
}
