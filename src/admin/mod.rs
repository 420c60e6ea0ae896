//! The admin side port (loopback by default): health and readiness now; admin API, metrics and UI later.

use crate::state::AppState;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;
use std::sync::Arc;

/// The admin HTTP app.
pub struct AdminApp {
    pub state: Arc<AppState>,
}

fn json_response(status: u16, body: serde_json::Value) -> Response<Vec<u8>> {
    let body = body.to_string().into_bytes();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let get = session.req_header().method == http::Method::GET;
        match (get, path.as_str()) {
            (true, "/healthz") => json_response(200, json!({"status": "ok"})),
            (true, "/readyz") => {
                let usable = self.state.pool.usable(self.state.clock.now());
                let total = self.state.pool.len();
                let status = if usable > 0 { 200 } else { 503 };
                json_response(
                    status,
                    json!({"status": if usable > 0 {"ready"} else {"no usable key"}, "usable_keys": usable, "keys": total}),
                )
            }
            (false, "/healthz" | "/readyz") => {
                json_response(405, json!({"error": {"code": 405, "message": "GET only"}}))
            }
            _ => json_response(404, json!({"error": {"code": 404, "message": "not found"}})),
        }
    }
}
