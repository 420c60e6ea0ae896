//! Per-request state: who the client is, the route, each stage's own state, and the attempt log.
//! One `ReqCtx` per request, owned by Pingora, dropped when the request ends.

use super::log::AttemptLog;
use super::route::Route;
use super::stage::StageState;
use crate::credentials::{Identity, Role};
use crate::error::Envelope;
use std::net::IpAddr;
use std::sync::Arc;

/// What the client presented, as the identity step found it.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Nothing presented.
    None,
    /// Something presented that matches no credential (or is not a bearer token).
    Invalid,
    /// A known credential (it may still be expired or disabled: the auth stage decides).
    Valid(Arc<Identity>),
}

/// Who the client is: computed once by the pipeline before any stage runs.
#[derive(Debug, Clone)]
pub struct Client {
    pub credential: Credential,
    /// The TCP peer, or — behind a trusted proxy — the address it names.
    pub ip: Option<IpAddr>,
}

impl Client {
    /// The client's id for logs and per-client state: a proxy key's id or the credential's
    /// fingerprint (never the secret), else `-`.
    pub fn id(&self) -> &str {
        match &self.credential {
            Credential::Valid(i) => &i.id,
            _ => "-",
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.identity().map(|i| i.role())
    }

    /// The credential, when the client presented a known one.
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        match &self.credential {
            Credential::Valid(i) => Some(i),
            _ => None,
        }
    }

    /// Whether the client may use `model` (always, without a restricted credential).
    pub fn allows(&self, model: &str) -> bool {
        self.identity().is_none_or(|i| i.allows(model))
    }
}

/// The surface that serves a request, as far as logs and error answers need it.
#[derive(Debug, Clone, Copy)]
pub struct SurfaceInfo {
    /// The metric label (`gemini`, `openai`, `other` for paths no surface serves).
    pub name: &'static str,
    pub envelope: Envelope,
}

/// Per-request state.
pub struct ReqCtx {
    pub surface: SurfaceInfo,
    pub client: Client,
    /// Set once the surface has routed the request.
    pub route: Option<Route>,
    /// One slot per stage, in chain order; each stage sees only its own.
    pub(super) stages: Vec<StageState>,
    /// Written by the attempt loop only; read through its accessors.
    pub log: AttemptLog,
    /// Counts this request as in flight for the shutdown grace period until it is dropped.
    pub(super) _inflight: Option<crate::drain::InFlight>,
}

impl std::fmt::Debug for ReqCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqCtx")
            .field("surface", &self.surface.name)
            .field("client", &self.client.id())
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl ReqCtx {
    pub(super) fn new(inflight: Option<crate::drain::InFlight>) -> ReqCtx {
        ReqCtx {
            surface: SurfaceInfo {
                name: "other",
                envelope: Envelope::Plain,
            },
            client: Client {
                credential: Credential::None,
                ip: None,
            },
            route: None,
            stages: Vec::new(),
            log: AttemptLog::default(),
            _inflight: inflight,
        }
    }
}
