//! The contract of an API surface (Gemini-native, OpenAI; next Responses and Anthropic): it owns
//! the paths of its API and turns each request there into a [`Routed`] — a route upstream or an
//! answer — reading and translating the body itself.

use super::ctx::Client;
use super::route::Routed;
use crate::error::{Envelope, GatewayError};
use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// One API the gateway speaks.
#[async_trait]
pub trait Surface: Send + Sync {
    /// The metric label (`gemini`, `openai`, ...).
    fn name(&self) -> &'static str;

    /// The error envelope of this API; every error of a request on this surface is rendered in it,
    /// including those of the stages that run before routing.
    fn envelope(&self) -> Envelope;

    /// Whether this surface serves the request (by its path, and where paths are shared by
    /// several APIs, by the dialect the client speaks: see [`Dialect`]). The pipeline asks the
    /// surfaces in registration order; the first that says yes routes the request.
    fn serves(&self, req: &RequestHeader) -> bool;

    /// Route the request: read and check its body, build the upstream request and the reply
    /// handling (`Routed::Upstream`), or answer it at once (`Routed::Answer`). `Err` is answered
    /// in [`Surface::envelope`]. Nothing has been sent upstream when this runs. `client` is who
    /// asks: a model listing shows only the models the client's credential may use, a lookup of
    /// another is refused.
    async fn route(&self, session: &mut Session, client: &Client) -> Result<Routed, GatewayError>;
}

/// The API family a client speaks, told by how it authenticates: what decides the answer to the
/// paths several APIs share (`GET /v1/models`, `GET /v1/models/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `x-goog-api-key`, `?key=`, or an `x-goog-api-client` header (the Google SDKs).
    Gemini,
    /// `anthropic-version` or `x-api-key` (the Anthropic SDKs, Claude Code).
    Anthropic,
    /// Anything else, in particular `Authorization: Bearer` (the OpenAI SDKs).
    OpenAi,
}

impl Dialect {
    pub fn of(req: &RequestHeader) -> Dialect {
        let h = &req.headers;
        if h.contains_key("anthropic-version") || h.contains_key("x-api-key") {
            Dialect::Anthropic
        } else if h.contains_key("x-goog-api-key")
            || h.contains_key("x-goog-api-client")
            || req
                .uri
                .query()
                .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "key"))
        {
            Dialect::Gemini
        } else {
            Dialect::OpenAi
        }
    }
}

/// Whether `path` is one of the model lookups several APIs share: `/v1/models` or
/// `/v1/models/{id}` (no `:method`).
pub fn is_shared_model_lookup(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p == "/v1/models"
        || p.strip_prefix("/v1/models/")
            .is_some_and(|id| !id.contains(':'))
}

/// Whether a request is for the gateway port's status page (`GET /`), which the auth stage lets
/// through without a credential unless `PROTECT_STATUS_PAGE` is set.
pub fn is_status_page(req: &RequestHeader) -> bool {
    req.uri.path() == "/" && (req.method == http::Method::GET || req.method == http::Method::HEAD)
}
