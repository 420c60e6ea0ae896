//! The contract of an API surface (Gemini-native, OpenAI; next Responses and Anthropic): it owns
//! the paths of its API and turns each request there into a [`Routed`] — a route upstream or an
//! answer — reading and translating the body itself.

use super::route::Routed;
use crate::error::{Envelope, GatewayError};
use async_trait::async_trait;
use pingora::proxy::Session;

/// One API the gateway speaks.
#[async_trait]
pub trait Surface: Send + Sync {
    /// The metric label (`gemini`, `openai`, ...).
    fn name(&self) -> &'static str;

    /// The error envelope of this API; every error of a request on this surface is rendered in it,
    /// including those of the stages that run before routing.
    fn envelope(&self) -> Envelope;

    /// Whether this surface serves `path`. The pipeline asks the surfaces in registration order;
    /// the first that says yes routes the request.
    fn serves(&self, path: &str) -> bool;

    /// Route the request: read and check its body, build the upstream request and the reply
    /// handling (`Routed::Upstream`), or answer it at once (`Routed::Answer`). `Err` is answered
    /// in [`Surface::envelope`]. Nothing has been sent upstream when this runs.
    async fn route(&self, session: &mut Session) -> Result<Routed, GatewayError>;
}
