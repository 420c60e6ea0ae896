//! `GET /` on the gateway port: a small HTML status page — healthy or not, usable keys, models
//! served, the base URL each kind of client uses — with nothing secret and no link outside. With
//! `PROTECT_STATUS_PAGE=true` the auth stage asks for a client credential first.

use crate::error::{Envelope, GatewayError};
use crate::pipeline::ctx::Client;
use crate::pipeline::route::{Response, Routed};
use crate::pipeline::surface::{is_status_page, Surface};
use crate::state::AppState;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::fmt::Write;
use std::sync::Arc;

/// The status page.
pub struct Status {
    state: Arc<AppState>,
}

impl Status {
    pub fn new(state: &Arc<AppState>) -> Self {
        Status {
            state: state.clone(),
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page.
pub fn page(st: &AppState) -> (u16, String) {
    let usable = st.pool.valid_count();
    let healthy = usable > 0;
    let mut models = st.pool.quota_models();
    models.retain(|m| !m.is_empty());
    if models.is_empty() {
        models = st.pool.limits.table().models();
    }
    models.sort();
    models.dedup();
    let mut items = String::new();
    for m in &models {
        let _ = write!(items, "<li><code>{}</code></li>", escape(m));
    }
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gemini-gateway status</title><link rel="icon" href="data:,">
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2330}}
.s{{display:inline-block;padding:.1rem .7rem;border-radius:999px;color:#fff;background:{colour}}}
code{{font-family:ui-monospace,Menlo,monospace}}td{{padding:.2rem .8rem .2rem 0}}</style></head>
<body><h1>gemini-gateway <span class="s" id="health">{health}</span></h1>
<p>{usable} of {total} upstream keys usable now. Version {version}.</p>
<table><tr><td>Gemini SDKs, native REST</td><td>this address (paths <code>/v1beta</code>, <code>/v1</code>, <code>/v2</code>)</td></tr>
<tr><td>OpenAI SDKs</td><td>this address + <code>/v1</code></td></tr>
<tr><td>Anthropic SDKs, Claude Code</td><td>this address</td></tr></table>
<h2>Models</h2><ul id="models">{items}</ul></body></html>
"#,
        colour = if healthy { "#1f8a4c" } else { "#c53030" },
        health = if healthy { "healthy" } else { "no usable key" },
        total = st.pool.len(),
        version = env!("CARGO_PKG_VERSION"),
    );
    (if healthy { 200 } else { 503 }, html)
}

#[async_trait]
impl Surface for Status {
    fn name(&self) -> &'static str {
        "status"
    }

    fn envelope(&self) -> Envelope {
        Envelope::Plain
    }

    fn serves(&self, req: &RequestHeader) -> bool {
        is_status_page(req)
    }

    async fn route(
        &self,
        _session: &mut Session,
        _client: &Client,
    ) -> Result<Routed, GatewayError> {
        let (status, html) = page(&self.state);
        Ok(Routed::Answer(Response {
            status,
            content_type: "text/html; charset=utf-8",
            body: html.into(),
        }))
    }
}
