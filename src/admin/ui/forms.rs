//! The UI's forms and the pages that read the store: each form is checked (same origin, the
//! session's CSRF token), turned into the admin API's JSON body and handed to the same function
//! the API uses, so the UI and the API cannot disagree on what is valid.

use super::session::{same_origin, tokens_match, Session};
use super::{redirect, views, Flash, Ui};
use crate::admin::{blocking, contexts, proxy_keys, Reply};
use crate::upstream::health::{check_key, Check};
use crate::upstream::{pacific, KeyId};
use chrono::Duration as ChronoDuration;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// A form body's fields (the first value of each name).
pub fn parse(body: &[u8]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    m
}

/// Whether a form post may change anything: it comes from our origin and carries the session's
/// CSRF token.
pub fn checked(session: &ServerSession, s: &Session, form: &HashMap<String, String>) -> bool {
    same_origin(session.req_header())
        && tokens_match(form.get("csrf").map_or("", String::as_str), &s.claims.csrf)
}

/// The answer to a post that failed the check: 403, nothing changed.
pub fn refused(ui: &Ui, s: &Session) -> Reply {
    ui.message(
        Some(s),
        403,
        "Refused",
        "The form's security token is missing or wrong, or it was sent from another site: nothing was changed. Reload the page and try again.",
    )
}

/// The notice of a redirect after a successful post (`?done=`: fixed codes, never user text).
pub fn done_flash(query: Option<&str>) -> Option<Flash> {
    let code = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned())?;
    let text = match code.as_str() {
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "valid" => "The key answered: it is valid.",
        "invalid" => "Google rejected the key: it is disabled until it validates again.",
        "unknown" => "The check could not tell (timeout, network or 5xx): nothing changed.",
        "disabled" => "The key is disabled and stays so across restarts.",
        "enabled" => "The key is enabled.",
        "settings" => "Settings saved.",
        _ => return None,
    };
    Flash::ok(text)
}

fn body_json(r: &Reply) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn api_error(r: &Reply) -> String {
    body_json(r)["error"]["message"]
        .as_str()
        .unwrap_or("The change was refused.")
        .to_string()
}

/// A number field: empty is null, digits a number, anything else is passed as text so the API
/// names the field in its refusal.
fn number(v: Option<&String>) -> Value {
    match v.map(|s| s.trim()) {
        None | Some("") => Value::Null,
        Some(s) => s.parse::<u64>().map_or_else(|_| json!(s), |n| json!(n)),
    }
}

/// The proxy key form as the API's JSON body.
fn key_body(form: &HashMap<String, String>, creating: bool) -> Value {
    let mut o = Map::new();
    for f in ["name", "role"] {
        if let Some(v) = form.get(f) {
            o.insert(f.into(), json!(v));
        }
    }
    let models: Vec<&str> = form
        .get("models")
        .map(|m| {
            m.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    o.insert(
        "models".into(),
        if models.is_empty() {
            Value::Null
        } else {
            json!(models)
        },
    );
    o.insert("rpm".into(), number(form.get("rpm")));
    o.insert("rpd".into(), number(form.get("rpd")));
    match form.get("expires").map(|e| e.trim()) {
        None | Some("") => {
            if !creating {
                o.insert("expires_at".into(), Value::Null);
            }
        }
        Some(e) if humantime::parse_duration(e).is_ok() => {
            o.insert("expires_in".into(), json!(e));
        }
        Some(e) => {
            o.insert("expires_at".into(), json!(e));
        }
    }
    o.insert(
        "enable_context_completion".into(),
        json!(form.contains_key("enable_context_completion")),
    );
    if !creating {
        o.insert("enabled".into(), json!(form.contains_key("enabled")));
    }
    Value::Object(o)
}

pub async fn create_proxy_key(ui: &Ui, s: &Session, form: &HashMap<String, String>) -> Reply {
    let r = proxy_keys::create(ui.state(), key_body(form, true).to_string().as_bytes()).await;
    if r.status() != 201 {
        return ui.proxy_keys_page(s, None, r.status().as_u16(), Flash::error(api_error(&r)));
    }
    let created = body_json(&r);
    ui.proxy_keys_page(s, Some(created), 201, Flash::ok("Key created."))
}

pub async fn change_proxy_key(
    ui: &Ui,
    s: &Session,
    id: &str,
    form: &HashMap<String, String>,
) -> Reply {
    let r = proxy_keys::change(ui.state(), id, key_body(form, false).to_string().as_bytes()).await;
    if r.status() != 200 {
        return proxy_key_page(ui, s, id, r.status().as_u16(), Flash::error(api_error(&r)));
    }
    redirect(&format!("/proxy-keys/{id}?done=saved"), &[])
}

pub async fn delete_proxy_key(ui: &Ui, s: &Session, id: &str) -> Reply {
    let r = proxy_keys::delete(ui.state(), id).await;
    if r.status() != 200 {
        return ui.message(Some(s), r.status().as_u16(), "Not deleted", &api_error(&r));
    }
    redirect("/proxy-keys?done=deleted", &[])
}

pub fn proxy_key_page(ui: &Ui, s: &Session, id: &str, status: u16, flash: Option<Flash>) -> Reply {
    let st = ui.state();
    match st.credentials.get(id) {
        Some(k) => {
            let d = json!({"page": "proxy-keys", "csrf": s.claims.csrf, "key": views::credential(&k, st.clock.now_utc())});
            ui.render(Some(s), status, "proxy_key", "Proxy key", d, flash)
        }
        None => ui.message(Some(s), 404, "Not found", "No such proxy key."),
    }
}

/// The caller's own conversations.
pub async fn own_conversations(
    st: &std::sync::Arc<crate::state::AppState>,
    s: &Session,
) -> Vec<Value> {
    let r = contexts::list(st, &s.who, None).await;
    body_json(&r)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub async fn contexts_page(
    ui: &Ui,
    s: &Session,
    query: Option<&str>,
    flash: Option<Flash>,
) -> Reply {
    let st = ui.state();
    let r = contexts::list(st, &s.who, query).await;
    if r.status() != 200 {
        return ui.message(Some(s), r.status().as_u16(), "Unavailable", &api_error(&r));
    }
    let list = body_json(&r)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let settings = body_json(&contexts::settings(st));
    let ttl = settings["context_ttl_seconds"].as_u64().unwrap_or(0);
    let d = json!({
        "page": "contexts",
        "csrf": s.claims.csrf,
        "admin": s.is_admin(),
        "owners": views::owners(st, &list),
        "settings": settings,
        "modes": ["auto", "always", "off"],
        "ttl_text": humantime::format_duration(std::time::Duration::from_secs(ttl)).to_string(),
    });
    ui.render(Some(s), 200, "contexts", "Conversations", d, flash)
}

pub async fn context_page(ui: &Ui, s: &Session, id: &str) -> Reply {
    let st = ui.state();
    let r = contexts::get(st, &s.who, id).await;
    if r.status() != 200 {
        return ui.message(Some(s), r.status().as_u16(), "Not found", &api_error(&r));
    }
    let c = body_json(&r);
    let turns = views::turns(c["contents"].as_array().map_or(&[][..], Vec::as_slice));
    let owner = c["owner"].as_str().unwrap_or("").to_string();
    let d = json!({"page": "contexts", "csrf": s.claims.csrf, "c": c, "turns": turns,
                   "owner_name": views::owner_name(st, &owner)});
    ui.render(Some(s), 200, "context", "Conversation", d, None)
}

pub async fn delete_context(ui: &Ui, s: &Session, id: &str) -> Reply {
    let r = contexts::delete(ui.state(), &s.who, id).await;
    if r.status() != 200 {
        return ui.message(Some(s), r.status().as_u16(), "Not deleted", &api_error(&r));
    }
    redirect("/contexts?done=deleted", &[])
}

pub async fn delete_contexts(ui: &Ui, s: &Session, form: &HashMap<String, String>) -> Reply {
    let query = form.get("owner").map(|o| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("owner", o)
            .finish()
    });
    let r = contexts::delete_all(ui.state(), &s.who, query.as_deref()).await;
    if r.status() != 200 {
        return ui.message(Some(s), r.status().as_u16(), "Not deleted", &api_error(&r));
    }
    redirect("/contexts?done=deleted", &[])
}

pub async fn save_settings(ui: &Ui, s: &Session, form: &HashMap<String, String>) -> Reply {
    let mut o = Map::new();
    if let Some(m) = form.get("context_mode") {
        o.insert("context_mode".into(), json!(m));
    }
    if let Some(t) = form.get("context_ttl").filter(|t| !t.trim().is_empty()) {
        o.insert("context_ttl".into(), json!(t));
    }
    let r = contexts::put_settings(ui.state(), Value::Object(o).to_string().as_bytes()).await;
    if r.status() != 200 {
        return contexts_page(ui, s, None, Flash::error(api_error(&r))).await;
    }
    redirect("/contexts?done=settings", &[])
}

/// `POST /keys/{fingerprint}/{check|disable|enable}`.
pub async fn key_action(ui: &Ui, s: &Session, fingerprint: &str, action: &str) -> Reply {
    let st = ui.state();
    let Some(id): Option<KeyId> = st
        .pool
        .entries()
        .find(|(_, k)| k.fingerprint() == fingerprint)
        .map(|(i, _)| i)
    else {
        return ui.message(
            Some(s),
            404,
            "Not found",
            "No upstream key has that fingerprint.",
        );
    };
    let done = match action {
        "check" => {
            let (now, wall) = (st.clock.now(), st.clock.now_utc());
            match check_key(st, id).await {
                Check::Valid => {
                    st.pool.restore(id, now);
                    "valid"
                }
                Check::Invalid(f) => {
                    st.pool.report_fault(id, "", &f, now, wall);
                    "invalid"
                }
                Check::Unknown(_) => "unknown",
            }
        }
        "disable" | "enable" => {
            let held = action == "disable";
            let (state, now) = (st.clone(), st.clock.now());
            let store = st.store.clone();
            if let Err(r) = blocking("save the key's state", move || {
                crate::upstream::holds::set(&state.pool, &*store, id, held, now)
            })
            .await
            {
                return ui.message(Some(s), 500, "Not saved", &api_error(&r));
            }
            if held {
                "disabled"
            } else {
                "enabled"
            }
        }
        _ => {
            return ui.message(
                Some(s),
                404,
                "Not found",
                "Unknown action (check, disable, enable).",
            )
        }
    };
    tracing::info!(key = %fingerprint, action, by = %s.who.id, "upstream key action from the admin UI");
    redirect(&format!("/keys?done={done}"), &[])
}

pub async fn usage_page(ui: &Ui, s: &Session) -> Reply {
    let st = ui.state();
    let today = pacific::day_of(st.clock.now_utc());
    let store = st.store.clone();
    let mut rows = match blocking("read the usage history", move || {
        store.range(
            today - ChronoDuration::days(6),
            today - ChronoDuration::days(1),
        )
    })
    .await
    {
        Ok(r) => r,
        Err(r) => return ui.message(Some(s), 500, "Unavailable", &api_error(&r)),
    };
    let report = crate::report::build(st);
    // Today from the scheduler's windows (what the store has not been sent yet included).
    rows.extend(report.groups.iter().map(|g| {
        let c = crate::store::DayCounts {
            requests: g.today.requests,
            input_tokens: g.today.input_tokens,
            output_tokens: g.today.output_tokens,
        };
        (today, g.group.clone(), g.model.clone(), c)
    }));
    let mut rep = json!(report);
    if let Some(models) = rep["models"].as_array_mut() {
        for m in models {
            let text = m["utilisation"]
                .as_f64()
                .map_or_else(|| "–".to_string(), |u| format!("{:.0} %", u * 100.0));
            m["utilisation_text"] = json!(text);
        }
    }
    let mut d = views::usage(&rows, today);
    d["page"] = json!("usage");
    d["report"] = rep;
    ui.render(Some(s), 200, "usage", "Usage", d, None)
}
