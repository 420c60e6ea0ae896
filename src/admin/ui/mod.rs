//! The admin web UI on the admin side port: server-rendered handlebars pages (embedded in the
//! binary, as are the CSS and the little script), a JWT session cookie, CSRF-checked forms. The
//! pages drive the same functions as the admin JSON API.

mod charts;
mod forms;
pub mod session;
mod views;

use super::Reply;
use crate::state::AppState;
use handlebars::Handlebars;
use http::{Method, Response};
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};
use session::{SecretState, Session, Sessions};
use std::sync::Arc;

/// A page or action of the UI (what the admin router maps a path to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Home,
    Login,
    Logout,
    Keys,
    KeyAction,
    ProxyKeys,
    ProxyKey,
    ProxyKeyDelete,
    Contexts,
    ContextsDelete,
    Context,
    ContextDelete,
    Settings,
    Usage,
    Style,
    Script,
    /// An old system's page address: redirect to ours.
    Moved(&'static str),
}

/// The UI's paths, for the admin router.
pub const ROUTES: &[(&str, Page)] = &[
    ("/", Page::Home),
    ("/login", Page::Login),
    ("/logout", Page::Logout),
    ("/keys", Page::Keys),
    ("/keys/{key}/{action}", Page::KeyAction),
    ("/proxy-keys", Page::ProxyKeys),
    ("/proxy-keys/{id}", Page::ProxyKey),
    ("/proxy-keys/{id}/delete", Page::ProxyKeyDelete),
    ("/contexts", Page::Contexts),
    ("/contexts/delete", Page::ContextsDelete),
    ("/contexts/{id}", Page::Context),
    ("/contexts/{id}/delete", Page::ContextDelete),
    ("/settings", Page::Settings),
    ("/usage", Page::Usage),
    ("/static/style.css", Page::Style),
    ("/static/app.js", Page::Script),
    ("/manage", Page::Moved("/proxy-keys")),
    ("/manage/keys", Page::Moved("/proxy-keys")),
    ("/manage/context", Page::Moved("/contexts")),
    ("/manage/report", Page::Moved("/usage")),
];

const TEMPLATES: &[(&str, &str)] = &[
    ("base", include_str!("templates/base.hbs")),
    ("login", include_str!("templates/login.hbs")),
    ("message", include_str!("templates/message.hbs")),
    ("dashboard", include_str!("templates/dashboard.hbs")),
    ("keys", include_str!("templates/keys.hbs")),
    ("proxy_keys", include_str!("templates/proxy_keys.hbs")),
    ("proxy_key", include_str!("templates/proxy_key.hbs")),
    ("contexts", include_str!("templates/contexts.hbs")),
    ("context", include_str!("templates/context.hbs")),
    ("usage", include_str!("templates/usage.hbs")),
    ("me", include_str!("templates/me.hbs")),
];

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// Every page: scripts, styles, images, forms and fetches from this origin only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why the UI could not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("admin UI template {0}: {1}")]
    Template(&'static str, Box<handlebars::TemplateError>),
    #[error("the OS random generator failed: {0}")]
    Random(String),
}

/// A one-line notice on a page.
pub(crate) struct Flash {
    kind: &'static str,
    text: String,
}

impl Flash {
    pub(crate) fn ok(text: impl Into<String>) -> Option<Flash> {
        Some(Flash {
            kind: "ok",
            text: text.into(),
        })
    }
    pub(crate) fn error(text: impl Into<String>) -> Option<Flash> {
        Some(Flash {
            kind: "error",
            text: text.into(),
        })
    }
}

/// The UI: templates, sessions, the login throttle.
pub struct Ui {
    state: Arc<AppState>,
    hbs: Handlebars<'static>,
    sessions: Sessions,
    throttle: session::LoginThrottle,
}

/// The path parameters of a route.
pub struct Params {
    pub id: Option<String>,
    pub key: Option<String>,
    pub action: Option<String>,
}

fn with_headers(status: u16, content_type: &str, body: Vec<u8>, cookies: &[String]) -> Reply {
    let mut b = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::CACHE_CONTROL, "no-store")
        .header(http::header::CONTENT_SECURITY_POLICY, CSP)
        .header(http::header::X_FRAME_OPTIONS, "DENY")
        .header(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(http::header::REFERRER_POLICY, "same-origin");
    for c in cookies {
        b = b.header(http::header::SET_COOKIE, c);
    }
    b.body(body).unwrap_or_default()
}

/// 303 to `location`, setting these cookies.
pub(crate) fn redirect(location: &str, cookies: &[String]) -> Reply {
    let mut r = with_headers(303, "text/plain; charset=utf-8", Vec::new(), cookies);
    if let Ok(v) = http::HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

impl Ui {
    pub fn new(state: Arc<AppState>) -> Result<Ui, UiError> {
        let mut hbs = Handlebars::new();
        for (name, text) in TEMPLATES {
            hbs.register_template_string(name, *text)
                .map_err(|e| UiError::Template(name, Box::new(e)))?;
        }
        let sessions = Sessions::new(&state.config.admin, state.config.secret_key.as_ref())
            .map_err(|e| UiError::Random(e.to_string()))?;
        Ok(Ui {
            state,
            hbs,
            sessions,
            throttle: Default::default(),
        })
    }

    fn now_secs(&self) -> u64 {
        u64::try_from(self.state.clock.now_utc().timestamp()).unwrap_or(0)
    }

    /// The verified session of a request: a valid JWT naming a credential that still exists, is
    /// enabled and unexpired, and has the role the session says.
    fn session(&self, session: &ServerSession) -> Option<Session> {
        let token = session::cookie_value(session.req_header(), session::SESSION_COOKIE)?;
        let claims = self.sessions.verify(&token, self.now_secs())?;
        let who = self.state.credentials.by_id(&claims.sub)?;
        if who.refusal(self.state.clock.now_utc()).is_some() {
            return None;
        }
        (who.role().as_str() == claims.role).then_some(Session { claims, who })
    }

    /// The red banners an administrator sees.
    fn banners(&self) -> Vec<String> {
        let mut v = Vec::new();
        match &self.state.config.auth.admin_api_key {
            None => v.push("ADMIN_API_KEY is not set: only admin proxy keys can administer this gateway. Set a long random ADMIN_API_KEY.".to_string()),
            Some(k) if session::is_weak(k.expose()) => v.push(format!(
                "ADMIN_API_KEY is weak: use at least {} random characters.",
                session::STRONG_SECRET_LEN
            )),
            Some(_) => {}
        }
        match self.sessions.secret_state {
            SecretState::Missing => v.push("SECRET_KEY is not set: sessions are signed with a random secret of this process and end when it restarts. Set a long random SECRET_KEY.".to_string()),
            SecretState::Weak => v.push(format!(
                "SECRET_KEY is weak: use at least {} random characters.",
                session::STRONG_SECRET_LEN
            )),
            SecretState::Strong => {}
        }
        v
    }

    /// Render `template` with `data` inside the layout.
    pub(crate) fn render(
        &self,
        s: Option<&Session>,
        status: u16,
        template: &str,
        title: &str,
        data: Value,
        flash: Option<Flash>,
    ) -> Reply {
        let content = match self.hbs.render(template, &data) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(template, error = %e, "admin UI template failed");
                return with_headers(
                    500,
                    "text/plain; charset=utf-8",
                    b"The page could not be rendered (see the gateway log).".to_vec(),
                    &[],
                );
            }
        };
        let admin = s.is_some_and(Session::is_admin);
        let layout = json!({
            "title": title,
            "page": data.get("page").cloned().unwrap_or(Value::Null),
            "refresh": data.get("refresh").cloned().unwrap_or(Value::Null),
            "who": s.map(|s| json!({"name": s.who.settings.name, "role": s.claims.role})),
            "admin": admin,
            "csrf": s.map(|s| s.claims.csrf.clone()),
            "banners": if admin { self.banners() } else { Vec::new() },
            "flash": flash.map(|f| json!({"kind": f.kind, "text": f.text})),
            "version": env!("CARGO_PKG_VERSION"),
            "content": content,
        });
        match self.hbs.render("base", &layout) {
            Ok(html) => with_headers(status, "text/html; charset=utf-8", html.into_bytes(), &[]),
            Err(e) => {
                tracing::error!(error = %e, "admin UI layout failed");
                with_headers(
                    500,
                    "text/plain; charset=utf-8",
                    b"The page could not be rendered.".to_vec(),
                    &[],
                )
            }
        }
    }

    /// A page with one message (a refusal, a missing item).
    pub(crate) fn message(
        &self,
        s: Option<&Session>,
        status: u16,
        heading: &str,
        text: &str,
    ) -> Reply {
        self.render(
            s,
            status,
            "message",
            heading,
            json!({"heading": heading, "text": text, "back": "/"}),
            None,
        )
    }

    fn forbidden(&self, s: &Session) -> Reply {
        self.message(
            Some(s),
            403,
            "Not allowed",
            "This page is for administrators.",
        )
    }

    /// Serve a UI route.
    pub async fn serve(&self, page: Page, params: Params, session: &mut ServerSession) -> Reply {
        let method = session.req_header().method.clone();
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        match page {
            Page::Style if get => {
                return with_headers(
                    200,
                    "text/css; charset=utf-8",
                    STYLE.as_bytes().to_vec(),
                    &[],
                )
            }
            Page::Script if get => {
                return with_headers(
                    200,
                    "text/javascript; charset=utf-8",
                    SCRIPT.as_bytes().to_vec(),
                    &[],
                )
            }
            Page::Moved(to) if get => return redirect(to, &[]),
            Page::Login if get => return self.login_page(session, None, 200),
            Page::Login if post => return self.login(session).await,
            Page::Logout if post => return self.logout(session).await,
            _ => {}
        }
        let Some(s) = self.session(session) else {
            let had_cookie =
                session::cookie_value(session.req_header(), session::SESSION_COOKIE).is_some();
            let clear = if had_cookie {
                vec![self.sessions.clear_cookie()]
            } else {
                Vec::new()
            };
            return redirect("/login", &clear);
        };
        let admin_only = matches!(
            page,
            Page::Keys
                | Page::KeyAction
                | Page::ProxyKeys
                | Page::ProxyKey
                | Page::ProxyKeyDelete
                | Page::Settings
                | Page::Usage
        );
        if admin_only && !s.is_admin() {
            return self.forbidden(&s);
        }
        if post {
            return self.action(page, params, session, &s).await;
        }
        if !get {
            let mut r = self.message(
                Some(&s),
                405,
                "Method not allowed",
                "This address takes GET (pages) or POST (forms).",
            );
            r.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, POST"),
            );
            return r;
        }
        let query = session.req_header().uri.query().map(str::to_owned);
        self.view(page, params, &s, query.as_deref()).await
    }

    async fn view(&self, page: Page, params: Params, s: &Session, query: Option<&str>) -> Reply {
        let st = &self.state;
        let flash = forms::done_flash(query);
        match page {
            Page::Home if s.is_admin() => {
                let mut d = views::dashboard(st);
                d["page"] = json!("dashboard");
                d["refresh"] = json!(10);
                self.render(Some(s), 200, "dashboard", "Dashboard", d, flash)
            }
            Page::Home => {
                let mine = forms::own_conversations(st, s).await;
                let d = json!({"page": "me", "me": views::credential(&s.who, st.clock.now_utc()), "conversations": mine.len()});
                self.render(Some(s), 200, "me", "My key", d, flash)
            }
            Page::Keys => {
                let mut d = views::keys(st);
                d["page"] = json!("keys");
                d["csrf"] = json!(s.claims.csrf);
                d["refresh"] = json!(10);
                self.render(Some(s), 200, "keys", "Upstream keys", d, flash)
            }
            Page::ProxyKeys => self.proxy_keys_page(s, None, 200, flash),
            Page::ProxyKey => {
                forms::proxy_key_page(self, s, params.id.as_deref().unwrap_or(""), 200, flash)
            }
            Page::Contexts => forms::contexts_page(self, s, query, flash).await,
            Page::Context => forms::context_page(self, s, params.id.as_deref().unwrap_or("")).await,
            Page::Usage => forms::usage_page(self, s).await,
            _ => {
                let mut r = self.message(
                    Some(s),
                    405,
                    "Method not allowed",
                    "This address takes POST from its form.",
                );
                r.headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
                r
            }
        }
    }

    pub(crate) fn proxy_keys_page(
        &self,
        s: &Session,
        created: Option<Value>,
        status: u16,
        flash: Option<Flash>,
    ) -> Reply {
        let d = json!({
            "page": "proxy-keys",
            "csrf": s.claims.csrf,
            "keys": views::proxy_keys(&self.state),
            "created": created,
            "persistent": self.state.credentials.persistent(),
        });
        self.render(Some(s), status, "proxy_keys", "Proxy keys", d, flash)
    }

    fn login_page(&self, session: &ServerSession, error: Option<&str>, status: u16) -> Reply {
        let Ok(token) = crate::credentials::token::base62(32) else {
            return self.message(None, 500, "Unavailable", "The OS random generator failed.");
        };
        let mut r = self.render(
            None,
            status,
            "login",
            "Log in",
            json!({"login_token": token, "error": error}),
            None,
        );
        let _ = session;
        if let Ok(v) = http::HeaderValue::from_str(&self.sessions.login_cookie(&token)) {
            r.headers_mut().append(http::header::SET_COOKIE, v);
        }
        r
    }

    async fn login(&self, session: &mut ServerSession) -> Reply {
        let ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let minute = self.now_secs() / 60;
        if self.throttle.blocked(ip, minute) {
            let mut r = self.message(None, 429, "Too many attempts", "Five logins failed from this address in the last minute: wait a minute and try again.");
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(60 - self.now_secs() % 60),
            );
            return r;
        }
        let Ok(body) = super::read_body(session).await else {
            return self.message(None, 400, "Bad request", "The form could not be read.");
        };
        let form = forms::parse(&body);
        let expected =
            session::cookie_value(session.req_header(), session::LOGIN_COOKIE).unwrap_or_default();
        if !session::same_origin(session.req_header())
            || !session::tokens_match(form.get("csrf").map_or("", String::as_str), &expected)
        {
            return self.login_page(
                session,
                Some("The login form expired or did not come from this page: try again."),
                403,
            );
        }
        let presented = form.get("credential").map_or("", |c| c.trim());
        let now = self.state.clock.now_utc();
        let who = self.state.credentials.check(presented);
        let refusal = match &who {
            None => Some("That credential is not known.".to_string()),
            Some(w) => w.refusal(now).map(|r| r.message().to_string()),
        };
        if let Some(why) = refusal {
            self.throttle.fail(ip, minute);
            tracing::info!(ip = %ip, "admin UI login refused");
            return self.login_page(session, Some(&why), 401);
        }
        let Some(who) = who else {
            return self.login_page(session, Some("That credential is not known."), 401);
        };
        let Some((jwt, _)) = self.sessions.issue(&who, self.now_secs()) else {
            return self.message(None, 500, "Unavailable", "The session could not be signed.");
        };
        tracing::info!(id = %who.id, role = ?who.role(), "admin UI login");
        redirect(
            "/",
            &[
                self.sessions.cookie(&jwt),
                self.sessions.clear_login_cookie(),
            ],
        )
    }

    async fn logout(&self, session: &mut ServerSession) -> Reply {
        if let Some(s) = self.session(session) {
            let body = super::read_body(session).await.unwrap_or_default();
            let form = forms::parse(&body);
            if !forms::checked(session, &s, &form) {
                return forms::refused(self, &s);
            }
        }
        redirect("/login", &[self.sessions.clear_cookie()])
    }

    async fn action(
        &self,
        page: Page,
        params: Params,
        session: &mut ServerSession,
        s: &Session,
    ) -> Reply {
        let Ok(body) = super::read_body(session).await else {
            return self.message(
                Some(s),
                400,
                "Bad request",
                "The form could not be read (at most 64 KiB).",
            );
        };
        let form = forms::parse(&body);
        if !forms::checked(session, s, &form) {
            return forms::refused(self, s);
        }
        let id = params.id.unwrap_or_default();
        match page {
            Page::KeyAction => {
                forms::key_action(
                    self,
                    s,
                    params.key.as_deref().unwrap_or(""),
                    params.action.as_deref().unwrap_or(""),
                )
                .await
            }
            Page::ProxyKeys => forms::create_proxy_key(self, s, &form).await,
            Page::ProxyKey => forms::change_proxy_key(self, s, &id, &form).await,
            Page::ProxyKeyDelete => forms::delete_proxy_key(self, s, &id).await,
            Page::ContextsDelete => forms::delete_contexts(self, s, &form).await,
            Page::ContextDelete => forms::delete_context(self, s, &id).await,
            Page::Settings => forms::save_settings(self, s, &form).await,
            _ => {
                let mut r =
                    self.message(Some(s), 405, "Method not allowed", "This page takes GET.");
                r.headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
                r
            }
        }
    }

    pub(crate) fn state(&self) -> &Arc<AppState> {
        &self.state
    }
}
