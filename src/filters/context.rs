//! Context stage: puts a credential's stored conversation in front of a request that sends only
//! its newest message, and saves the request's turns with the model's reply once the answer has
//! been read to its end (streamed replies captured from the events as they pass).
//!
//! Serves `/v1/chat/completions` and the native `generateContent`, `streamGenerateContent` and
//! `countTokens` (which counts with the history, saving nothing). Mode `auto` injects only into a
//! request without a model turn of its own; a request with its own history replaces the stored one.

use crate::config::ContextMode;
use crate::context::history::{self, Turn};
use crate::context::{conversation_id, Contexts};
use crate::credentials::Kind;
use crate::error::GatewayError;
use crate::pipeline::ctx::Client;
use crate::pipeline::route::{BufferedReply, Framing, Reply, Route};
use crate::pipeline::stage::{Flow, Stage, StageState};
use crate::state::AppState;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::RequestHeader;
use serde_json::Value;
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

    /// The model's window, less the safety margin.
    fn window(&self, model: &str) -> u64 {
        let c = self.contexts().config();
        self.state
            .pool
            .limits
            .table()
            .lookup(model)
            .and_then(|l| l.input_token_limit)
            .unwrap_or(c.default_max_tokens)
            .saturating_sub(c.safety_margin)
    }
}

/// What is saved when the answer is complete.
struct Save {
    id: String,
    owner: String,
    name: String,
    /// The request's own turns.
    turns: Vec<Turn>,
    /// The request brought its own history: it replaces the stored conversation.
    replace: bool,
    framing: Framing,
    window: u64,
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

/// The Gemini body's `contents`, at the top or (countTokens) inside `generateContentRequest`.
fn contents_mut(body: &mut Value) -> Option<&mut Vec<Value>> {
    let target = if body.get("contents").is_some() {
        body
    } else {
        body.get_mut("generateContentRequest")?
    };
    target.get_mut("contents")?.as_array_mut()
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
        let Some(mut body) = route
            .upstream
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        else {
            return Ok(Flow::Continue);
        };
        let Some(own) = contents_mut(&mut body).map(std::mem::take) else {
            return Ok(Flow::Continue);
        };
        let name = plan.name.clone().unwrap_or_else(|| "default".into());
        let owner = identity.id.to_string();
        let id = conversation_id(&owner, &name);
        let window = self.window(&model);
        let replace = mode == ContextMode::Auto && history::has_model_turn(&own);
        // The stored conversation and where the part that fits starts (held only while routing).
        let mut history: Option<(Arc<crate::context::Conversation>, usize)> = None;
        if !replace {
            let now = self.state.clock.now_utc().timestamp();
            let stored = if contexts.persistent() {
                let (c, key) = (contexts.clone(), id.clone());
                tokio::task::spawn_blocking(move || c.get(&key, now))
                    .await
                    .unwrap_or(Ok(None))
            } else {
                contexts.get(&id, now)
            };
            let stored = stored.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read a conversation; sending the request without it");
                None
            });
            if let Some(conv) = stored {
                let kept = history::fit(&conv.turns, window.saturating_sub(route.quota.est_tokens));
                route.quota.est_tokens += kept.iter().map(|t| t.tokens).sum::<u64>();
                let start = conv.turns.len() - kept.len();
                history = Some((conv, start)).filter(|(c, st)| *st < c.turns.len());
            }
        }
        let turns: Vec<Turn> = own
            .iter()
            .cloned()
            .map(|c| Turn::new(history::without_thoughts(c)))
            .collect();
        if let Some((conv, start)) = history {
            let kept = &conv.turns[start..];
            let written = if body.get("contents").is_some() {
                // The usual case: copy the history's JSON text in front of the request's turns.
                if let Some(o) = body.as_object_mut() {
                    o.remove("contents");
                }
                history::splice(&body, kept, &own)
            } else {
                // countTokens' `generateContentRequest`: rare, through values.
                if let Some(slot) = contents_mut(&mut body) {
                    *slot = kept.iter().map(Turn::content).chain(own).collect();
                }
                serde_json::to_vec(&body)
            };
            route.upstream.body = Some(Bytes::from(written.map_err(|e| {
                GatewayError::internal(format!("could not write the request with its history: {e}"))
            })?));
        }
        let streamed = route.upstream.framing != Framing::Json;
        if counting || (streamed && !contexts.config().stream_save_reply) {
            return Ok(Flow::Continue);
        }
        if matches!(route.reply, Reply::Passthrough) && !streamed {
            route.reply = Reply::Buffered(Box::new(Unchanged));
        }
        plan.save = Some(Save {
            id,
            owner,
            name,
            turns,
            replace,
            framing: route.upstream.framing,
            window,
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
        let Save {
            id,
            owner,
            name,
            turns,
            replace,
            window,
            ..
        } = save;
        self.contexts().commit(&id, &owner, &name, now, move |all| {
            if replace {
                all.clear();
            }
            all.extend(turns);
            all.push(Turn::new(reply));
            let keep = history::fit(all, window).len();
            let drop = all.len() - keep;
            all.drain(..drop);
        });
    }
}
