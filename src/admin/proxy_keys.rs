//! The proxy-key API of the admin port: create (the key is shown once), list, get, change,
//! delete, and `/api/me` — a credential's own standing. Bodies are checked field by field; an
//! error names the field. No answer carries a key, a hash or a password after creation.

use super::{blocking, error, json_response, Reply};
use crate::credentials::token::{self, ModelRules};
use crate::credentials::{Identity, Kind, Role, Settings};
use crate::state::AppState;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Largest page of `GET /api/proxy-keys`.
const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;
const MAX_NAME: usize = 200;
const MAX_MODELS: usize = 200;

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(SecondsFormat::Secs, true))
    })
}

/// What the API shows of a credential (never its value or hash).
pub(super) fn view(i: &Identity, now: DateTime<Utc>) -> Value {
    let s = &i.settings;
    let u = i.usage.snapshot(now);
    json!({
        "id": &*i.id,
        "kind": i.kind.as_str(),
        "name": s.name,
        "role": s.role.as_str(),
        "prefix": i.prefix,
        "created_at": time(i.created_at),
        "expires_at": time(s.expires_at),
        "expired": s.expires_at.is_some_and(|at| at <= now),
        "enabled": s.enabled,
        "enable_context_completion": s.enable_context_completion,
        "models": s.models.as_ref().map_or_else(|| json!(["*"]), |m| json!(m.entries())),
        "rpm": s.rpm,
        "rpd": s.rpd,
        "last_used_at": time(u.last_used_at),
        "usage": {
            "requests_today": u.requests_day,
            "tokens_today": u.tokens_day,
            "requests_total": u.requests_total,
            "tokens_total": u.tokens_total,
        },
    })
}

/// Why a body is refused (the message of a 400), naming the field.
type Bad = String;

fn bad(field: &str, message: impl std::fmt::Display) -> Bad {
    format!("{field}: {message}")
}

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, Bad> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("The body must be a JSON object.".into()),
        Err(e) => Err(format!("The body is not valid JSON: {e}")),
    }
}

fn string<'a>(field: &str, v: &'a Value) -> Result<&'a str, Bad> {
    v.as_str().ok_or_else(|| bad(field, "must be a string"))
}

fn boolean(field: &str, v: &Value) -> Result<bool, Bad> {
    v.as_bool()
        .ok_or_else(|| bad(field, "must be true or false"))
}

/// A limit: a positive integer, or null for none.
fn limit(field: &str, v: &Value) -> Result<Option<u32>, Bad> {
    if v.is_null() {
        return Ok(None);
    }
    v.as_u64()
        .filter(|n| *n > 0)
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| bad(field, "must be a positive integer or null"))
}

/// An allow-list: a list of names or globs; null, `[]`-less `"*"` or `["*"]` allow every model.
fn models(v: &Value) -> Result<Option<ModelRules>, Bad> {
    let list: Vec<String> = match v {
        Value::Null => return Ok(None),
        Value::String(s) if s == "*" => return Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|m| m.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("models", "must be a list of model names or patterns"))?,
        _ => return Err(bad("models", "must be a list of model names or patterns")),
    };
    if list.len() > MAX_MODELS {
        return Err(bad("models", format!("at most {MAX_MODELS} entries")));
    }
    let rules = ModelRules::new(list).map_err(|e| bad("models", e))?;
    Ok(if rules.is_all() { None } else { Some(rules) })
}

fn name(v: &Value) -> Result<String, Bad> {
    let n = string("name", v)?.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME {
        return Err(bad("name", format!("must be 1 to {MAX_NAME} characters")));
    }
    Ok(n.to_owned())
}

fn role(v: &Value) -> Result<Role, Bad> {
    match string("role", v)? {
        "user" => Ok(Role::User),
        "admin" => Ok(Role::Admin),
        other => Err(bad(
            "role",
            format!("must be \"user\" or \"admin\" (got {other:?})"),
        )),
    }
}

/// Apply the fields of a create or change body to `s`; `name` is required when `creating`.
fn apply(
    body: &Map<String, Value>,
    s: &mut Settings,
    creating: bool,
    now: DateTime<Utc>,
) -> Result<(), Bad> {
    let mut expires_at = None;
    let mut expires_in = None;
    for (k, v) in body {
        match k.as_str() {
            "name" => s.name = name(v)?,
            "role" => s.role = role(v)?,
            "enabled" => s.enabled = boolean(k, v)?,
            "enable_context_completion" => s.enable_context_completion = boolean(k, v)?,
            "models" => s.models = models(v)?,
            "rpm" => s.rpm = limit(k, v)?,
            "rpd" => s.rpd = limit(k, v)?,
            "expires_at" => expires_at = Some(v),
            "expires_in" => expires_in = Some(v),
            other => {
                return Err(bad(other, "unknown field (known: name, role, expires_at, expires_in, enabled, enable_context_completion, models, rpm, rpd)"))
            }
        }
    }
    if creating && !body.contains_key("name") {
        return Err(bad("name", "is required"));
    }
    let at = match expires_at {
        Some(Value::Null) => {
            if expires_in.is_none() {
                s.expires_at = None;
            }
            None
        }
        Some(v) => Some(string("expires_at", v)?),
        None => None,
    };
    let within = match expires_in {
        Some(Value::Null) | None => None,
        Some(v) => Some(string("expires_in", v)?),
    };
    if at.is_some() || within.is_some() {
        s.expires_at = token::expiry(at, within, now).map_err(|(f, m)| bad(f, m))?;
    }
    Ok(())
}

/// `POST /api/proxy-keys`.
pub(super) async fn create(state: &Arc<AppState>, body: &[u8]) -> Reply {
    let now = state.clock.now_utc();
    let fields = match object(body) {
        Ok(f) => f,
        Err(m) => return error(400, &m),
    };
    let mut settings = Settings::new("", Role::User);
    if let Err(m) = apply(&fields, &mut settings, true, now) {
        return error(400, &m);
    }
    let creds = state.credentials.clone();
    match blocking("create the proxy key", move || creds.create(settings, now)).await {
        Ok((identity, key)) => {
            tracing::info!(id = %identity.id, role = identity.role().as_str(), "proxy key created");
            let mut v = view(&identity, now);
            if let Some(o) = v.as_object_mut() {
                o.insert("key".into(), json!(key));
                o.insert("persistent".into(), json!(state.credentials.persistent()));
            }
            json_response(201, v)
        }
        Err(r) => r,
    }
}

/// `GET /api/proxy-keys?limit=&offset=`.
pub(super) fn list(state: &AppState, query: Option<&str>) -> Reply {
    let mut limit = DEFAULT_PAGE;
    let mut offset = 0usize;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let n = v.parse::<usize>();
        match (k.as_ref(), n) {
            ("limit", Ok(n)) if (1..=MAX_PAGE).contains(&n) => limit = n,
            ("limit", _) => {
                return error(
                    400,
                    &bad("limit", format!("must be an integer from 1 to {MAX_PAGE}")),
                )
            }
            ("offset", Ok(n)) => offset = n,
            ("offset", _) => return error(400, &bad("offset", "must be a non-negative integer")),
            _ => {}
        }
    }
    let now = state.clock.now_utc();
    let all = state.credentials.proxy_keys();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|k| view(k, now))
        .collect();
    let next = (offset + page.len() < all.len()).then_some(offset + page.len());
    json_response(
        200,
        json!({
            "data": page,
            "total": all.len(),
            "offset": offset,
            "limit": limit,
            "next_offset": next,
            "persistent": state.credentials.persistent(),
        }),
    )
}

/// `GET /api/proxy-keys/{id}`: an admin sees any key, a user only their own (others are 404).
pub(super) fn get(state: &AppState, caller: &Identity, id: &str) -> Reply {
    match state.credentials.get(id) {
        Some(k) if caller.role() == Role::Admin || k.id == caller.id => {
            json_response(200, view(&k, state.clock.now_utc()))
        }
        _ => not_found(id),
    }
}

fn not_found(id: &str) -> Reply {
    // The id is echoed only when it has the shape of one (never something else a caller pasted).
    let shown = if id.len() == 19
        && id.starts_with("pk_")
        && id[3..].bytes().all(|b| b.is_ascii_alphanumeric())
    {
        id
    } else {
        "…"
    };
    error(404, &format!("No proxy key {shown:?}."))
}

/// `PATCH /api/proxy-keys/{id}`.
pub(super) async fn change(state: &Arc<AppState>, id: &str, body: &[u8]) -> Reply {
    let now = state.clock.now_utc();
    let Some(old) = state.credentials.get(id) else {
        return not_found(id);
    };
    let fields = match object(body) {
        Ok(f) => f,
        Err(m) => return error(400, &m),
    };
    let mut settings = old.settings.clone();
    if let Err(m) = apply(&fields, &mut settings, false, now) {
        return error(400, &m);
    }
    let (creds, key_id) = (state.credentials.clone(), id.to_owned());
    match blocking("change the proxy key", move || {
        creds.update(&key_id, move |s| *s = settings, now)
    })
    .await
    {
        Ok(Some(k)) => {
            tracing::info!(id = %k.id, "proxy key changed");
            json_response(200, view(&k, now))
        }
        Ok(None) => not_found(id),
        Err(r) => r,
    }
}

/// `DELETE /api/proxy-keys/{id}`.
pub(super) async fn delete(state: &Arc<AppState>, id: &str) -> Reply {
    let (creds, key_id) = (state.credentials.clone(), id.to_owned());
    match blocking("delete the proxy key", move || creds.delete(&key_id)).await {
        Ok(true) => {
            tracing::info!(id = %id, "proxy key deleted");
            json_response(200, json!({"id": id, "deleted": true}))
        }
        Ok(false) => not_found(id),
        Err(r) => r,
    }
}

/// `GET /api/me`: the caller's own standing.
pub(super) fn me(state: &AppState, caller: &Identity) -> Reply {
    let mut v = view(caller, state.clock.now_utc());
    if let Some(o) = v.as_object_mut() {
        if caller.kind != Kind::ProxyKey {
            // Configured credentials count since the gateway started.
            o.insert("usage_since".into(), json!("start"));
        }
    }
    json_response(200, v)
}
