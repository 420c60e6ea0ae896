//! What each admin page shows, as template data: built from the same state and JSON views the
//! admin API serves (keys by fingerprint only, credentials by id and name only).

use super::charts::{bars, Tone};
use crate::admin::{proxy_keys, status};
use crate::credentials::Identity;
use crate::state::AppState;
use crate::upstream::Health;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn at(wall: DateTime<Utc>, now: Instant, until: Instant) -> String {
    let later = ChronoDuration::from_std(until.saturating_duration_since(now)).unwrap_or_default();
    (wall + later).format("%H:%M:%S UTC").to_string()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A key's overall state as the dashboard names it, and when it changes.
fn state_of(h: &Health, held: bool, wall: DateTime<Utc>, now: Instant) -> (&'static str, String) {
    match h {
        Health::Active => ("active", String::new()),
        Health::Cooling { until, reason } => (
            "cooling",
            format!("until {} ({reason})", at(wall, now, *until)),
        ),
        Health::Parked { until_wall, .. } => (
            "parked",
            format!(
                "until Pacific midnight ({})",
                until_wall.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        Health::Invalid { since, reason } => {
            let since: DateTime<Utc> = (*since).into();
            (
                if held { "disabled" } else { "invalid" },
                format!("since {}: {reason}", rfc(since)),
            )
        }
    }
}

fn round_pct(used: u64, of: Option<u64>) -> u64 {
    match of {
        Some(c) if c > 0 => ((used.saturating_mul(100) / c).min(100) + 5) / 10 * 10,
        _ => 0,
    }
    .min(100)
}

/// The dashboard.
pub fn dashboard(st: &AppState) -> Value {
    let (now, wall) = (st.clock.now(), st.clock.now_utc());
    let mut counts = BTreeMap::from([
        ("active", 0u64),
        ("cooling", 0),
        ("parked", 0),
        ("invalid", 0),
    ]);
    let keys: Vec<Value> = st
        .pool
        .entries()
        .map(|(i, k)| {
            let (state, detail) = state_of(&st.pool.overall(i, now), k.held(), wall, now);
            *counts.entry(if state == "disabled" { "invalid" } else { state }).or_default() += 1;
            json!({"fingerprint": k.fingerprint(), "group": st.pool.group_name(k.group), "state": state, "detail": detail})
        })
        .collect();
    let report = crate::report::build(st);
    let models: Vec<Value> = report
        .models
        .iter()
        .map(|m| {
            let mut v = json!(m);
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "capacity".into(),
                    json!(m
                        .capacity_requests_per_day
                        .map_or_else(|| "unlimited".to_string(), |c| c.to_string())),
                );
                o.insert(
                    "used_pct".into(),
                    json!(round_pct(m.today.requests, m.capacity_requests_per_day)),
                );
            }
            v
        })
        .collect();
    let hour = st.metrics.recent.last_hour(wall.into());
    let labels: Vec<String> = (0..hour.len())
        .map(|i| match hour.len() - 1 - i {
            0 => "now".to_string(),
            ago => format!("{ago} min ago"),
        })
        .collect();
    let series = |f: fn(&crate::recent::Counts) -> u64| hour.iter().map(f).collect::<Vec<u64>>();
    let (req, err, att) = (
        series(|c| c.requests),
        series(|c| c.errors),
        series(|c| c.attempts),
    );
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": humantime::format_duration(Duration::from_secs(st.started.elapsed().as_secs())).to_string(),
        "pacific_day": report.pacific_day,
        "counts": {"total": keys.len(), "active": counts["active"], "cooling": counts["cooling"],
                   "parked": counts["parked"], "invalid": counts["invalid"]},
        "keys": keys,
        "models": models,
        "hour": {"requests": req.iter().sum::<u64>(), "errors": err.iter().sum::<u64>(), "attempts": att.iter().sum::<u64>()},
        "charts": {
            "requests": bars(&req, &labels, Tone::Requests, "requests per minute"),
            "errors": bars(&err, &labels, Tone::Errors, "errors per minute"),
            "attempts": bars(&att, &labels, Tone::Attempts, "upstream attempts per minute"),
        },
    })
}

/// The upstream keys page: the admin API's `/api/keys` view plus each key's hold and last error.
pub fn keys(st: &AppState) -> Value {
    let mut v = status::keys(st);
    let extra: Vec<(bool, Option<String>)> = st
        .pool
        .entries()
        .map(|(_, k)| {
            let last = k
                .last_error()
                .map(|(t, what)| format!("{} at {}", what, rfc(t.into())));
            (k.held(), last)
        })
        .collect();
    if let Some(list) = v.get_mut("keys").and_then(Value::as_array_mut) {
        for (k, (held, last)) in list.iter_mut().zip(extra) {
            if let Some(o) = k.as_object_mut() {
                if held {
                    o.insert("state".into(), json!("disabled"));
                }
                o.insert("held".into(), json!(held));
                if let Some(models) = o.get_mut("models").and_then(Value::as_object_mut) {
                    for m in models.values_mut() {
                        if let Some(score) = m.get("score").and_then(Value::as_f64) {
                            m["score"] = json!(format!("{score:.2}"));
                        }
                    }
                }
                o.insert("last_error".into(), json!(last));
            }
        }
    }
    v
}

/// A credential's API view with its model list as text, for the templates and forms.
pub fn credential(i: &Identity, now: DateTime<Utc>) -> Value {
    let mut v = proxy_keys::view(i, now);
    let text = v["models"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("models_text".into(), json!(text));
    }
    v
}

/// The proxy keys, oldest first.
pub fn proxy_keys(st: &AppState) -> Vec<Value> {
    let now = st.clock.now_utc();
    st.credentials
        .proxy_keys()
        .iter()
        .map(|i| credential(i, now))
        .collect()
}

/// The conversations of a listing grouped by owner, each owner named.
pub fn owners(st: &AppState, list: &[Value]) -> Vec<Value> {
    let mut by: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for c in list {
        let owner = c["owner"].as_str().unwrap_or("").to_string();
        by.entry(owner).or_default().push(c.clone());
    }
    by.into_iter()
        .map(|(owner, conversations)| {
            json!({"owner_name": owner_name(st, &owner), "owner": owner, "conversations": conversations})
        })
        .collect()
}

/// The display name of a credential id.
pub fn owner_name(st: &AppState, id: &str) -> String {
    st.credentials.by_id(id).map_or_else(
        || "(deleted credential)".to_string(),
        |i| i.settings.name.clone(),
    )
}

const MAX_TEXT: usize = 20_000;

fn clip(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &s[..end], s.len() - end)
}

fn size_text(base64_len: usize) -> String {
    let bytes = base64_len / 4 * 3;
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{} KB", bytes.div_ceil(1000))
    }
}

/// One stored part, readably: text, a function call or result, media as "[image/png 812 KB]".
fn part(p: &Value) -> Value {
    if let Some(t) = p.get("text").and_then(Value::as_str) {
        return json!({"kind": "text", "text": clip(t)});
    }
    if let Some(c) = p.get("functionCall") {
        return json!({"kind": "call", "label": format!("call {}", c["name"].as_str().unwrap_or("?")),
                      "text": clip(&c.get("args").map(Value::to_string).unwrap_or_default())});
    }
    if let Some(r) = p.get("functionResponse") {
        return json!({"kind": "response", "label": format!("result of {}", r["name"].as_str().unwrap_or("?")),
                      "text": clip(&r.get("response").map(Value::to_string).unwrap_or_default())});
    }
    if let Some(d) = p.get("inlineData") {
        let mime = d["mimeType"].as_str().unwrap_or("application/octet-stream");
        let len = d["data"].as_str().map_or(0, str::len);
        return json!({"kind": "media", "text": format!("[{mime} {}]", size_text(len))});
    }
    if let Some(f) = p.get("fileData") {
        return json!({"kind": "media", "text": format!("[{} file {}]",
            f["mimeType"].as_str().unwrap_or("file"), f["fileUri"].as_str().unwrap_or(""))});
    }
    if let Some(c) = p.get("executableCode") {
        return json!({"kind": "call", "label": "code", "text": clip(c["code"].as_str().unwrap_or(""))});
    }
    if let Some(r) = p.get("codeExecutionResult") {
        return json!({"kind": "response", "label": "code result", "text": clip(r["output"].as_str().unwrap_or(""))});
    }
    json!({"kind": "media", "text": "[another kind of part]"})
}

/// The turns of a conversation (`GET /api/contexts/{id}`'s `contents`), readably.
pub fn turns(contents: &[Value]) -> Vec<Value> {
    contents
        .iter()
        .map(|t| {
            let c = &t["content"];
            let parts: Vec<Value> = c["parts"].as_array().map_or_else(Vec::new, |ps| {
                ps.iter()
                    .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                    .map(part)
                    .collect()
            });
            json!({"role": c["role"].as_str().unwrap_or("user"), "tokens": t["tokens"], "parts": parts})
        })
        .collect()
}

/// The usage page's charts: requests per Pacific day for the last 7 days, per model and per
/// project, from the store's day rows.
pub fn usage(
    rows: &[(chrono::NaiveDate, String, String, crate::store::DayCounts)],
    today: chrono::NaiveDate,
) -> Value {
    let days: Vec<chrono::NaiveDate> = (0..7)
        .rev()
        .map(|i| today - ChronoDuration::days(i))
        .collect();
    let labels: Vec<String> = days.iter().map(|d| d.format("%m-%d").to_string()).collect();
    let mut per_model: BTreeMap<&str, [u64; 7]> = BTreeMap::new();
    let mut per_group: BTreeMap<&str, [u64; 7]> = BTreeMap::new();
    for (day, group, model, c) in rows {
        let Some(i) = days.iter().position(|d| d == day) else {
            continue;
        };
        per_model.entry(model).or_default()[i] += c.requests;
        per_group.entry(group).or_default()[i] += c.requests;
    }
    let charts = |m: BTreeMap<&str, [u64; 7]>| -> Vec<Value> {
        m.into_iter()
            .map(|(name, v)| {
                json!({"name": name, "total": v.iter().sum::<u64>(),
                       "chart": bars(&v, &labels, Tone::Requests, &format!("{name}: requests per day"))})
            })
            .collect()
    };
    json!({"per_model": charts(per_model), "per_group": charts(per_group)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_shown_readably() {
        let contents = vec![json!({"tokens": 3, "content": {"role": "model", "parts": [
            {"text": "thinking", "thought": true},
            {"text": "hello"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"inlineData": {"mimeType": "image/png", "data": "A".repeat(1_082_664)}},
        ]}})];
        let t = turns(&contents);
        let parts = t[0]["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 3, "thought text is never shown");
        assert_eq!(parts[0]["text"], "hello");
        assert_eq!(parts[1]["label"], "call get_weather");
        assert_eq!(parts[1]["text"], r#"{"city":"Paris"}"#);
        assert_eq!(parts[2]["text"], "[image/png 812 KB]");
    }

    #[test]
    fn usage_sums_per_day_model_and_project() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let c = |r| crate::store::DayCounts {
            requests: r,
            input_tokens: 0,
            output_tokens: 0,
        };
        let rows = vec![
            (today, "p1".to_string(), "m1".to_string(), c(3)),
            (today, "p2".to_string(), "m1".to_string(), c(4)),
            (
                today - ChronoDuration::days(6),
                "p1".to_string(),
                "m2".to_string(),
                c(1),
            ),
            (
                today - ChronoDuration::days(9),
                "p1".to_string(),
                "m2".to_string(),
                c(100),
            ),
        ];
        let u = usage(&rows, today);
        assert_eq!(u["per_model"][0]["name"], "m1");
        assert_eq!(u["per_model"][0]["total"], 7);
        assert_eq!(
            u["per_model"][1]["total"], 1,
            "older than 7 days is left out"
        );
        assert_eq!(u["per_group"][0]["total"], 4);
    }

    #[test]
    fn usage_bars_round_to_tens() {
        assert_eq!(round_pct(0, Some(100)), 0);
        assert_eq!(round_pct(47, Some(100)), 50);
        assert_eq!(round_pct(500, Some(100)), 100);
        assert_eq!(round_pct(5, None), 0);
    }
}
