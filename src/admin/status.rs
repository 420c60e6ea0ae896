//! The admin port's status answers: the upstream keys' health and usage (`/api/keys`) and the
//! Prometheus text (`/metrics`).

use crate::state::AppState;
use crate::upstream::Health;
use serde_json::{json, Value};
use std::time::Instant;

/// Seconds from `now` until `until`, for JSON.
fn secs_until(until: Instant, now: Instant) -> u64 {
    until.saturating_duration_since(now).as_secs()
}

fn health_json(h: &Health, now: Instant) -> Value {
    match h {
        Health::Active => json!({"state": "active"}),
        Health::Cooling { until, reason } => {
            json!({"state": "cooling", "reason": reason, "seconds_left": secs_until(*until, now)})
        }
        Health::Parked { until, until_wall } => {
            json!({"state": "parked", "until": until_wall.to_rfc3339(), "seconds_left": secs_until(*until, now)})
        }
        Health::Invalid { since, reason } => {
            let since: chrono::DateTime<chrono::Utc> = (*since).into();
            json!({"state": "invalid", "reason": reason, "since": since.to_rfc3339()})
        }
    }
}

pub(super) fn keys(st: &AppState) -> Value {
    let now = st.clock.now();
    let wall = st.clock.now_utc();
    let models = st.pool.quota_models();
    let keys: Vec<Value> = st
        .pool
        .entries()
        .map(|(i, k)| {
            let group = st.pool.group_name(k.group);
            let per_model: serde_json::Map<String, Value> = models
                .iter()
                .filter(|m| !m.is_empty())
                .map(|m| {
                    let usage = st.pool.usage(k.group, m, now, wall);
                    let mut v = health_json(&st.pool.health(i, m, now), now);
                    if let (Some((mr, mt, dr, di, dout)), Some(obj)) = (usage, v.as_object_mut()) {
                        obj.insert(
                            "group_usage".into(),
                            json!({"minute_requests": mr, "minute_input_tokens": mt, "today_requests": dr,
                                   "today_input_tokens": di, "today_output_tokens": dout}),
                        );
                        obj.insert("limits".into(), json!(st.pool.limits.get(group, m)));
                        obj.insert("score".into(), json!(st.pool.group_score(k.group, m, now)));
                        let c = st.usage.get(i, m);
                        obj.insert("key_since_start".into(), json!({"attempts": c.attempts, "ok": c.ok, "input_tokens": c.prompt_tokens, "output_tokens": c.output_tokens}));
                    }
                    (m.clone(), v)
                })
                .collect();
            let mut v = health_json(&st.pool.overall(i, now), now);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("key".into(), json!(k.fingerprint()));
                obj.insert("group".into(), json!(group));
                obj.insert("successes".into(), json!(k.successes.load(std::sync::atomic::Ordering::Relaxed)));
                obj.insert("failures".into(), json!(k.failures.load(std::sync::atomic::Ordering::Relaxed)));
                obj.insert("models".into(), Value::Object(per_model));
            }
            v
        })
        .collect();
    let learned: Vec<Value> = st
        .pool
        .limits
        .learned()
        .into_iter()
        .map(|(g, m, k, v)| json!({"group": g, "model": m, "limit": k.as_str(), "value": v}))
        .collect();
    json!({"pacific_day": crate::upstream::pacific::day_of(wall).to_string(), "keys": keys, "learned_limits": learned})
}

/// A state's position in the per-state counts: active, cooling, parked, invalid.
fn state_index(h: &Health) -> usize {
    match h {
        Health::Active => 0,
        Health::Cooling { .. } => 1,
        Health::Parked { .. } => 2,
        Health::Invalid { .. } => 3,
    }
}

pub(super) fn metrics(st: &AppState) -> Vec<u8> {
    let now = st.clock.now();
    let mut counts = [0i64; 4];
    for i in st.pool.ids() {
        counts[state_index(&st.pool.overall(i, now))] += 1;
    }
    for (state, n) in ["active", "cooling", "parked", "invalid"]
        .iter()
        .zip(counts)
    {
        st.metrics.keys.with_label_values(&[state]).set(n);
    }
    st.metrics.render()
}

/// `/readyz`: 200 while some key can serve some model right now; 503 when none can (every key
/// invalid, disabled, cooling or parked), saying why and when the first key comes back.
pub(super) fn readiness(st: &AppState) -> (u16, Value) {
    let (now, wall) = (st.clock.now(), st.clock.now_utc());
    let models = st.pool.quota_models();
    let mut usable = 0usize;
    let mut counts = [0usize; 4];
    let mut back: Option<Instant> = None;
    for i in st.pool.ids() {
        let healths: Vec<Health> = if models.is_empty() {
            vec![st.pool.overall(i, now)]
        } else {
            models.iter().map(|m| st.pool.health(i, m, now)).collect()
        };
        if healths.iter().any(|h| matches!(h, Health::Active)) {
            usable += 1;
        }
        for h in &healths {
            if let Health::Cooling { until, .. } | Health::Parked { until, .. } = h {
                back = Some(back.map_or(*until, |b| b.min(*until)));
            }
        }
        counts[state_index(&st.pool.overall(i, now))] += 1;
    }
    let states = json!({"active": counts[0], "cooling": counts[1], "parked": counts[2], "invalid": counts[3]});
    if usable > 0 {
        return (
            200,
            json!({"status": "ready", "usable_keys": usable, "keys": st.pool.len(), "states": states}),
        );
    }
    let mut v = json!({
        "status": "no usable key",
        "usable_keys": 0,
        "keys": st.pool.len(),
        "states": states,
        "reason": format!(
            "No upstream key can serve any model now: {} invalid or disabled, {} cooling down, {} parked until Pacific midnight.",
            counts[3], counts[1], counts[2]
        ),
    });
    if let (Some(b), Some(o)) = (back, v.as_object_mut()) {
        let wait = b.saturating_duration_since(now);
        let at = wall + chrono::Duration::from_std(wait).unwrap_or_default();
        o.insert(
            "next_key_at".into(),
            json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        o.insert("retry_after_seconds".into(), json!(wait.as_secs().max(1)));
    }
    (503, v)
}
