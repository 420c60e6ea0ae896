//! `store` and `previous_response_id`: a stored response's branch (`context::thread`) is read
//! from the conversation-context store and put in front of the request's own turns, and the
//! exchange is handed to the context stage (a [`Thread`] on the route) to be stored when it
//! succeeds. Storing needs the context stage, context enabled and not `off`, and a credential to
//! own what is stored; without them `store` is answered `false` and `previous_response_id` is a
//! 400 saying so.

use super::request::{invalid, ResponsesPlan};
use crate::config::ContextMode;
use crate::context::history::{self, Members, Turn};
use crate::context::thread::{branch, call_names, conversation_of, new_response_id, Thread};
use crate::error::GatewayError;
use crate::pipeline::ctx::Client;
use crate::state::AppState;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;

/// What storing means for one request.
pub(super) struct Store<'a> {
    state: &'a Arc<AppState>,
    /// The credential that owns what is stored; `None` when nothing can be.
    owner: Option<String>,
}

/// The stored response a request continues.
pub(super) struct Previous {
    conversation: String,
    name: String,
    /// Its branch, oldest first (its reply last).
    turns: Vec<Turn>,
}

impl Previous {
    /// `call_id` → function name of the stored calls.
    pub fn calls(&self) -> HashMap<String, String> {
        call_names(&self.turns, "call_")
    }
}

fn internal(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::internal(format!("could not write the request with its history: {e}"))
}

impl<'a> Store<'a> {
    pub fn new(state: &'a Arc<AppState>, context_stage: bool, client: &Client) -> Self {
        let c = &state.contexts;
        let on = context_stage && c.config().enabled && c.mode() != ContextMode::Off;
        Store {
            state,
            owner: client.identity().filter(|_| on).map(|i| i.id.to_string()),
        }
    }

    /// Whether a response can be stored.
    pub fn available(&self) -> bool {
        self.owner.is_some()
    }

    /// The stored response `id` of this credential, and its branch.
    pub async fn previous(&self, id: &str) -> Result<Previous, GatewayError> {
        let Some(owner) = &self.owner else {
            return Err(invalid(
                "previous_response_id",
                "responses are not stored on this gateway (its conversation context is off); send the whole conversation in `input`.",
            ));
        };
        let shown: String = id.chars().take(64).collect();
        let not_found = || {
            invalid(
                "previous_response_id",
                format_args!("Previous response with id {shown:?} not found."),
            )
        };
        let conversation = conversation_of(id).ok_or_else(not_found)?;
        let now = self.state.clock.now_utc().timestamp();
        let found = self
            .state
            .contexts
            .load(&conversation, now)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not read a stored response");
                GatewayError::internal("could not read the stored responses")
            })?;
        let conv = found.filter(|c| c.owner == *owner).ok_or_else(not_found)?;
        let turns = branch(&conv, id).ok_or_else(not_found)?;
        Ok(Previous {
            conversation,
            name: conv.name.clone(),
            turns,
        })
    }

    /// This response's id; the stored branch put in front of the plan's contents (all of it, or
    /// with `truncation: auto` what fits the model's window); and, when it is to be kept, the
    /// exchange for the context stage to store.
    pub fn thread(
        &self,
        plan: &mut ResponsesPlan,
        previous: Option<&Previous>,
        keep: bool,
        truncation: Option<&str>,
    ) -> Result<(String, Option<Thread>), GatewayError> {
        let (id, conversation) = new_response_id(previous.map(|p| p.conversation.as_str()));
        let owner = match &self.owner {
            Some(o) if keep || previous.is_some() => o.clone(),
            _ => return Ok((id, None)),
        };
        // The request's own contents, as the translation wrote them.
        let mut members: Members = serde_json::from_slice(&plan.body).map_err(internal)?;
        let own_text = members
            .remove("contents")
            .ok_or_else(|| internal("no contents"))?;
        let own: Vec<&RawValue> = serde_json::from_str(own_text.get()).map_err(internal)?;
        if let Some(p) = previous {
            let sent = match truncation {
                Some("auto") => {
                    let window = crate::context::window(self.state, &plan.model);
                    history::fit(&p.turns, window.saturating_sub(plan.est_tokens))
                }
                _ => &p.turns[..],
            };
            plan.est_tokens += sent.iter().map(|t| t.tokens).sum::<u64>();
            let sent = history::for_model(&plan.model, sent);
            plan.body = history::splice(&members, &sent, &own);
        }
        let thread = keep.then(|| Thread {
            conversation,
            owner,
            name: previous.map_or_else(|| format!("responses/{id}"), |p| p.name.clone()),
            // The new exchange follows the previous response's reply (0: it starts a conversation).
            follows: previous.and_then(|p| p.turns.last()).map_or(0, |t| t.seq),
            response: id.clone(),
            turns: own.iter().map(|r| Turn::own(r.get())).collect(),
        });
        Ok((id, thread))
    }
}
