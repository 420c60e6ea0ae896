//! The admin side port (loopback by default): health, readiness, Prometheus metrics, and the admin
//! JSON API under `Authorization: Bearer <credential>` — `/api/keys`, `/api/report` and
//! `/api/proxy-keys*` and `PUT /api/settings` for admins (`ADMIN_API_KEY` or an admin proxy key);
//! `/api/me`, `/api/contexts*` (one's own conversations; an admin's: all) and `GET /api/settings`
//! for any valid credential; and the web UI (`ui`: pages under a session cookie). Paths are routed
//! with `matchit`.

mod contexts;
mod proxy_keys;
mod status;
pub mod ui;

use crate::credentials::{Identity, Role};
use crate::state::AppState;
use async_trait::async_trait;
use http::{Method, Response};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};
use std::sync::Arc;

/// A whole admin answer.
pub(crate) type Reply = Response<Vec<u8>>;

/// Largest request body the admin API reads.
const MAX_BODY: usize = 64 * 1024;

/// What a path addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Health,
    Ready,
    Metrics,
    Keys,
    Report,
    ProxyKeys,
    ProxyKey,
    Me,
    Contexts,
    Context,
    Settings,
    Page(ui::Page),
}

/// The admin HTTP app.
pub struct AdminApp {
    state: Arc<AppState>,
    router: matchit::Router<Endpoint>,
    ui: ui::Ui,
}

/// Why the admin app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin route: {0}")]
    Route(#[from] matchit::InsertError),
    #[error(transparent)]
    Ui(#[from] ui::UiError),
}

/// Read a request body of at most [`MAX_BODY`] bytes.
pub(crate) async fn read_body(session: &mut ServerSession) -> Result<Vec<u8>, Box<Reply>> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(Box::new(error(
                        413,
                        &format!("The body is over {MAX_BODY} bytes."),
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => return Err(Box::new(error(400, "The request body could not be read."))),
        }
    }
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_default()
}

pub(crate) fn json_response(status: u16, body: Value) -> Reply {
    respond(status, "application/json", body.to_string().into_bytes())
}

pub(crate) fn error(status: u16, message: &str) -> Reply {
    json_response(
        status,
        json!({"error": {"code": status, "message": message}}),
    )
}

/// Run a store operation off the async threads; a failure is a 500 saying what could not be done
/// (the cause goes to the log, never to the client).
pub(crate) async fn blocking<T, E>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Reply>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not {what}");
            Err(error(
                500,
                &format!("Could not {what} (see the gateway log)."),
            ))
        }
        Err(_) => Err(error(500, &format!("Could not {what}."))),
    }
}

fn method_not_allowed(allowed: &str) -> Reply {
    let mut r = error(405, &format!("Allowed methods: {allowed}."));
    if let Ok(v) = http::HeaderValue::from_str(allowed) {
        r.headers_mut().insert(http::header::ALLOW, v);
    }
    r
}

impl AdminApp {
    pub fn new(state: Arc<AppState>) -> Result<AdminApp, AdminError> {
        let mut router = matchit::Router::new();
        for (path, e) in [
            ("/healthz", Endpoint::Health),
            ("/readyz", Endpoint::Ready),
            ("/metrics", Endpoint::Metrics),
            ("/api/keys", Endpoint::Keys),
            ("/api/report", Endpoint::Report),
            ("/api/proxy-keys", Endpoint::ProxyKeys),
            ("/api/proxy-keys/{id}", Endpoint::ProxyKey),
            ("/api/me", Endpoint::Me),
            ("/api/contexts", Endpoint::Contexts),
            ("/api/contexts/{id}", Endpoint::Context),
            ("/api/settings", Endpoint::Settings),
        ] {
            router.insert(path, e)?;
        }
        for (path, p) in ui::ROUTES {
            router.insert(*path, Endpoint::Page(*p))?;
        }
        let ui = ui::Ui::new(state.clone())?;
        Ok(AdminApp { state, router, ui })
    }

    /// The caller's credential: 401 when missing, unknown, expired or disabled.
    fn caller(&self, session: &ServerSession) -> Result<Arc<Identity>, Box<Reply>> {
        let presented = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::credentials::bearer);
        let Some(identity) = presented.and_then(|p| self.state.credentials.check(p)) else {
            return Err(Box::new(error(
                401,
                "A credential is required: Authorization: Bearer <ADMIN_API_KEY or a proxy key>.",
            )));
        };
        if let Some(refusal) = identity.refusal(self.state.clock.now_utc()) {
            return Err(Box::new(error(401, refusal.message())));
        }
        Ok(identity)
    }

    /// The caller, if it is an administrator: 403 for a user credential.
    fn admin(&self, session: &ServerSession) -> Result<Arc<Identity>, Box<Reply>> {
        let who = self.caller(session)?;
        if who.role() != Role::Admin {
            return Err(Box::new(error(403, "This route is for administrators.")));
        }
        Ok(who)
    }

    async fn body(session: &mut ServerSession) -> Result<Vec<u8>, Box<Reply>> {
        read_body(session).await
    }

    async fn serve(&self, session: &mut ServerSession) -> Result<Reply, Box<Reply>> {
        let path = session.req_header().uri.path().to_string();
        let query = session.req_header().uri.query().map(str::to_owned);
        let method = session.req_header().method.clone();
        let Ok(found) = self.router.at(&path) else {
            return Ok(error(404, "not found"));
        };
        let endpoint = *found.value;
        let id = found.params.get("id").map(str::to_owned);
        if let Endpoint::Page(page) = endpoint {
            let params = ui::Params {
                id: id.clone(),
                key: found.params.get("key").map(str::to_owned),
                action: found.params.get("action").map(str::to_owned),
            };
            return Ok(self.ui.serve(page, params, session).await);
        }
        let st = &self.state;
        Ok(match (endpoint, &method) {
            (Endpoint::Health, &Method::GET) => json_response(200, json!({"status": "ok"})),
            (Endpoint::Ready, &Method::GET) => {
                let (status, body) = status::readiness(st);
                let mut r = json_response(status, body.clone());
                if let Some(secs) = body.get("retry_after_seconds").and_then(Value::as_u64) {
                    r.headers_mut()
                        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
                }
                r
            }
            (Endpoint::Metrics, &Method::GET) => respond(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                status::metrics(st),
            ),
            (Endpoint::Keys, &Method::GET) => {
                self.admin(session)?;
                json_response(200, status::keys(st))
            }
            (Endpoint::Report, &Method::GET) => {
                self.admin(session)?;
                json_response(200, json!(crate::report::build(st)))
            }
            (Endpoint::ProxyKeys, &Method::GET) => {
                self.admin(session)?;
                proxy_keys::list(st, query.as_deref())
            }
            (Endpoint::ProxyKeys, &Method::POST) => {
                self.admin(session)?;
                let body = Self::body(session).await?;
                proxy_keys::create(st, &body).await
            }
            (Endpoint::ProxyKey, m) if [Method::GET, Method::PATCH, Method::DELETE].contains(m) => {
                let id = id.unwrap_or_default();
                let who = self.caller(session)?;
                if m == Method::GET {
                    return Ok(proxy_keys::get(st, &who, &id));
                }
                self.admin(session)?;
                if m == Method::DELETE {
                    proxy_keys::delete(st, &id).await
                } else {
                    let body = Self::body(session).await?;
                    proxy_keys::change(st, &id, &body).await
                }
            }
            (Endpoint::Me, &Method::GET) => proxy_keys::me(st, &*self.caller(session)?),
            (Endpoint::Contexts, &Method::GET) => {
                contexts::list(st, &*self.caller(session)?, query.as_deref()).await
            }
            (Endpoint::Contexts, &Method::DELETE) => {
                contexts::delete_all(st, &*self.caller(session)?, query.as_deref()).await
            }
            (Endpoint::Context, &Method::GET) => {
                contexts::get(st, &*self.caller(session)?, &id.unwrap_or_default()).await
            }
            (Endpoint::Context, &Method::DELETE) => {
                contexts::delete(st, &*self.caller(session)?, &id.unwrap_or_default()).await
            }
            (Endpoint::Settings, &Method::GET) => {
                self.caller(session)?;
                contexts::settings(st)
            }
            (Endpoint::Settings, &Method::PUT) => {
                self.admin(session)?;
                let body = Self::body(session).await?;
                contexts::put_settings(st, &body).await
            }
            (Endpoint::Contexts | Endpoint::Context, _) => method_not_allowed("GET, DELETE"),
            (Endpoint::Settings, _) => method_not_allowed("GET, PUT"),
            (Endpoint::ProxyKeys, _) => method_not_allowed("GET, POST"),
            (Endpoint::ProxyKey, _) => method_not_allowed("GET, PATCH, DELETE"),
            _ => method_not_allowed("GET"),
        })
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        if !peer.is_some_and(|ip| self.state.config.admin.allows(ip)) {
            tracing::warn!(peer = ?peer, "admin side refused a connection from outside admin.allow_cidrs");
            return error(
                403,
                "This address may not use the admin side (see admin.allow_cidrs).",
            );
        }
        match self.serve(session).await {
            Ok(r) => r,
            Err(r) => *r,
        }
    }
}
