//! The admin side port (loopback by default): health, readiness, Prometheus metrics, and the admin
//! JSON API (`/api/keys`, `/api/report`) behind `Authorization: Bearer <ADMIN_API_KEY>`.

use crate::secret::{digest, digest_eq};
use crate::state::AppState;
use crate::upstream::Health;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// The admin HTTP app.
pub struct AdminApp {
    pub state: Arc<AppState>,
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_default()
}

fn json_response(status: u16, body: Value) -> Response<Vec<u8>> {
    respond(status, "application/json", body.to_string().into_bytes())
}

fn error(status: u16, message: &str) -> Response<Vec<u8>> {
    json_response(
        status,
        json!({"error": {"code": status, "message": message}}),
    )
}

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

impl AdminApp {
    fn authorized(&self, session: &ServerSession) -> Result<(), Box<Response<Vec<u8>>>> {
        let Some(admin) = &self.state.config.auth.admin_api_key else {
            return Err(Box::new(error(
                403,
                "The admin API is disabled: set ADMIN_API_KEY.",
            )));
        };
        let presented = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::credentials::bearer);
        match presented {
            Some(p) if digest_eq(&digest(p.as_bytes()), &admin.digest()) => Ok(()),
            _ => Err(Box::new(error(
                401,
                "Admin credential required: Authorization: Bearer <ADMIN_API_KEY>.",
            ))),
        }
    }

    fn keys(&self) -> Value {
        let st = &self.state;
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

    fn metrics(&self) -> Vec<u8> {
        let now = self.state.clock.now();
        let mut counts = [0i64; 4];
        for i in self.state.pool.ids() {
            let idx = match self.state.pool.overall(i, now) {
                Health::Active => 0,
                Health::Cooling { .. } => 1,
                Health::Parked { .. } => 2,
                Health::Invalid { .. } => 3,
            };
            counts[idx] += 1;
        }
        for (state, n) in ["active", "cooling", "parked", "invalid"]
            .iter()
            .zip(counts)
        {
            self.state.metrics.keys.with_label_values(&[state]).set(n);
        }
        self.state.metrics.render()
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        if session.req_header().method != http::Method::GET {
            return error(405, "GET only");
        }
        match path.as_str() {
            "/healthz" => json_response(200, json!({"status": "ok"})),
            "/readyz" => {
                let valid = self.state.pool.valid_count();
                let total = self.state.pool.len();
                let status = if valid > 0 { 200 } else { 503 };
                json_response(
                    status,
                    json!({"status": if valid > 0 {"ready"} else {"no usable key"}, "usable_keys": valid, "keys": total}),
                )
            }
            "/metrics" => respond(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics(),
            ),
            "/api/keys" => match self.authorized(session) {
                Ok(()) => json_response(200, self.keys()),
                Err(r) => *r,
            },
            "/api/report" => match self.authorized(session) {
                Ok(()) => json_response(200, json!(crate::report::build(&self.state))),
                Err(r) => *r,
            },
            _ => error(404, "not found"),
        }
    }
}
