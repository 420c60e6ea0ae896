//! The conversation API of the admin port: list, read and delete conversations (an administrator
//! sees every owner's, filtered by `?owner=`; a user only their own — another's id is a 404), and
//! the context settings (`GET`/`PUT /api/settings`: TTL and mode, applied without a restart).

use super::{blocking, error, json_response, Reply};
use crate::config::ContextMode;
use crate::context::Conversation;
use crate::credentials::{Identity, Role};
use crate::state::AppState;
use crate::store::ContextSummary;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

fn time(secs: i64) -> Value {
    DateTime::<Utc>::from_timestamp(secs, 0).map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(SecondsFormat::Secs, true))
    })
}

fn summary(c: &ContextSummary, ttl: u64) -> Value {
    let r = &c.row;
    json!({
        "id": r.id,
        "owner": r.owner,
        "conversation": r.conversation,
        "turns": c.turns,
        "tokens": c.tokens,
        "last_used": time(r.last_used),
        "expires_at": time(r.last_used.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX / 2))),
    })
}

/// The `owner` filter of the query, if any.
fn owner_param(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "owner")
        .map(|(_, v)| v.into_owned())
}

/// Whose conversations a caller may see: an administrator any (optionally one owner's), a user
/// only their own.
fn scope(caller: &Identity, query: Option<&str>) -> Option<String> {
    match caller.role() {
        Role::Admin => owner_param(query),
        Role::User => Some(caller.id.to_string()),
    }
}

async fn conversations(
    state: &Arc<AppState>,
    owner: Option<String>,
) -> Result<Vec<ContextSummary>, Reply> {
    let (c, now) = (state.contexts.clone(), state.clock.now_utc().timestamp());
    blocking("read the conversations", move || {
        c.list(owner.as_deref(), now)
    })
    .await
}

/// One conversation the caller may see, or `Err` 404.
async fn visible(
    state: &Arc<AppState>,
    caller: &Identity,
    id: &str,
) -> Result<Arc<Conversation>, Reply> {
    let (c, key, now) = (
        state.contexts.clone(),
        id.to_owned(),
        state.clock.now_utc().timestamp(),
    );
    match blocking("read the conversation", move || c.get(&key, now)).await? {
        Some(c) if caller.role() == Role::Admin || c.owner == *caller.id => Ok(c),
        _ => Err(error(404, "No such conversation.")),
    }
}

/// `GET /api/contexts`.
pub(super) async fn list(state: &Arc<AppState>, caller: &Identity, query: Option<&str>) -> Reply {
    let ttl = state.contexts.ttl_secs();
    match conversations(state, scope(caller, query)).await {
        Ok(list) => json_response(
            200,
            json!({"data": list.iter().map(|c| summary(c, ttl)).collect::<Vec<_>>(), "total": list.len()}),
        ),
        Err(r) => r,
    }
}

/// `GET /api/contexts/{id}`: the turns too.
pub(super) async fn get(state: &Arc<AppState>, caller: &Identity, id: &str) -> Reply {
    match visible(state, caller, id).await {
        Ok(c) => {
            let mut v = summary(&c.summary(), state.contexts.ttl_secs());
            if let Some(o) = v.as_object_mut() {
                let turns: Vec<Value> = c
                    .turns
                    .iter()
                    .map(|t| json!({"content": t.content(), "tokens": t.tokens}))
                    .collect();
                o.insert("contents".into(), Value::Array(turns));
            }
            json_response(200, v)
        }
        Err(r) => r,
    }
}

/// `DELETE /api/contexts/{id}`.
pub(super) async fn delete(state: &Arc<AppState>, caller: &Identity, id: &str) -> Reply {
    match visible(state, caller, id).await {
        Ok(c) => {
            state.contexts.delete(&c.id);
            json_response(200, json!({"id": c.id, "deleted": true}))
        }
        Err(r) => r,
    }
}

/// `DELETE /api/contexts`: the caller's own conversations, or (an administrator) `?owner=`'s.
pub(super) async fn delete_all(
    state: &Arc<AppState>,
    caller: &Identity,
    query: Option<&str>,
) -> Reply {
    let owner = match caller.role() {
        Role::Admin => owner_param(query).unwrap_or_else(|| caller.id.to_string()),
        Role::User => caller.id.to_string(),
    };
    match conversations(state, Some(owner.clone())).await {
        Ok(list) => {
            for c in &list {
                state.contexts.delete(&c.row.id);
            }
            json_response(200, json!({"owner": owner, "deleted": list.len()}))
        }
        Err(r) => r,
    }
}

fn settings_view(state: &AppState) -> Value {
    let c = &state.contexts;
    json!({
        "context_enabled": c.config().enabled,
        "context_mode": c.mode().as_str(),
        "context_ttl_seconds": c.ttl_secs(),
    })
}

/// `GET /api/settings`.
pub(super) fn settings(state: &AppState) -> Reply {
    json_response(200, settings_view(state))
}

/// `PUT /api/settings` `{"context_mode"?, "context_ttl"? ("7d") | "context_ttl_seconds"?}`.
pub(super) async fn put_settings(state: &Arc<AppState>, body: &[u8]) -> Reply {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "The body must be a JSON object.");
    };
    let mut mode = None;
    let mut ttl = None;
    for (k, v) in &fields {
        match k.as_str() {
            "context_mode" => match v.as_str().and_then(ContextMode::parse) {
                Some(m) => mode = Some(m),
                None => return error(400, "context_mode: must be \"auto\", \"always\" or \"off\""),
            },
            "context_ttl" => match v.as_str().and_then(|s| humantime::parse_duration(s.trim()).ok()) {
                Some(d) if d.as_secs() >= 60 => ttl = Some(d.as_secs()),
                _ => return error(400, "context_ttl: must be a duration of at least 1m, such as 7d or 12h"),
            },
            "context_ttl_seconds" => match v.as_u64() {
                Some(s) if s >= 60 => ttl = Some(s),
                _ => return error(400, "context_ttl_seconds: must be a whole number of at least 60"),
            },
            other => {
                return error(
                    400,
                    &format!("{other}: unknown setting (known: context_mode, context_ttl, context_ttl_seconds)"),
                )
            }
        }
    }
    let c = state.contexts.clone();
    match blocking("save the settings", move || c.set(mode, ttl)).await {
        Ok(()) => {
            tracing::info!(mode = ?mode.map(ContextMode::as_str), ttl_seconds = ?ttl, "context settings changed");
            json_response(200, settings_view(state))
        }
        Err(r) => r,
    }
}
