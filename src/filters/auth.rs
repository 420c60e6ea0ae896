//! Client auth stage: checks the client's credential (Bearer, `x-goog-api-key` or `?key=`) in constant time.

use crate::error::GatewayError;
use crate::pipeline::ctx::{ClientId, ReqCtx};
use crate::pipeline::{Filter, Flow};
use crate::secret::{digest, digest_eq};
use crate::state::AppState;
use async_trait::async_trait;
use pingora::proxy::Session;
use std::borrow::Cow;
use std::sync::Arc;

struct Credential {
    digest: [u8; 32],
    admin: bool,
    /// Computed once: the request path only clones it.
    fingerprint: Arc<str>,
}

/// The auth stage.
pub struct Auth {
    required: bool,
    credentials: Vec<Credential>,
    anonymous: Arc<str>,
}

impl Auth {
    pub fn new(state: &Arc<AppState>) -> Self {
        let a = &state.config.auth;
        let mut credentials: Vec<Credential> = a
            .passwords
            .iter()
            .map(|p| Credential {
                digest: p.digest(),
                admin: false,
                fingerprint: p.fingerprint().into(),
            })
            .collect();
        if let Some(k) = &a.admin_api_key {
            credentials.push(Credential {
                digest: k.digest(),
                admin: true,
                fingerprint: k.fingerprint().into(),
            });
        }
        Auth {
            required: a.required,
            credentials,
            anonymous: "anonymous".into(),
        }
    }

    /// Match a presented credential against every configured one without early exit; on a match,
    /// whether it grants admin and the credential's fingerprint.
    fn check(&self, presented: &str) -> Option<(bool, &Arc<str>)> {
        let d = digest(presented.as_bytes());
        let mut found: Option<(bool, &Arc<str>)> = None;
        for c in &self.credentials {
            if digest_eq(&d, &c.digest) {
                found = Some((found.is_some_and(|(a, _)| a) || c.admin, &c.fingerprint));
            }
        }
        found
    }
}

/// The credential the client presented, from the first place that has one.
pub fn presented_credential(session: &Session) -> Result<Option<Cow<'_, str>>, GatewayError> {
    let req = session.req_header();
    if let Some(v) = req.headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| GatewayError::unauthorized())?;
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .ok_or_else(GatewayError::unauthorized)?;
        return Ok(Some(Cow::Borrowed(token.trim())));
    }
    if let Some(v) = req.headers.get("x-goog-api-key") {
        let v = v.to_str().map_err(|_| GatewayError::unauthorized())?;
        return Ok(Some(Cow::Borrowed(v.trim())));
    }
    if let Some(q) = req.uri.query() {
        if let Some((_, v)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "key") {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

#[async_trait]
impl Filter for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    async fn on_request(
        &self,
        session: &mut Session,
        ctx: &mut ReqCtx,
    ) -> Result<Flow, GatewayError> {
        if !self.required {
            ctx.client = Some(ClientId {
                id: self.anonymous.clone(),
                admin: false,
            });
            return Ok(Flow::Continue);
        }
        let Some(token) = presented_credential(session)? else {
            return Err(GatewayError::unauthorized());
        };
        match self.check(&token) {
            Some((admin, id)) => {
                ctx.client = Some(ClientId {
                    id: id.clone(),
                    admin,
                });
                Ok(Flow::Continue)
            }
            None => Err(GatewayError::unauthorized()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::fingerprint;

    #[test]
    fn matches_user_and_admin() {
        let cred = |secret: &str, admin| Credential {
            digest: digest(secret.as_bytes()),
            admin,
            fingerprint: fingerprint(secret).into(),
        };
        let a = Auth {
            required: true,
            credentials: vec![cred("user-pw", false), cred("admin-key", true)],
            anonymous: "anonymous".into(),
        };
        let found = |s: &str| a.check(s).map(|(admin, id)| (admin, id.to_string()));
        assert_eq!(found("user-pw"), Some((false, fingerprint("user-pw"))));
        assert_eq!(found("admin-key"), Some((true, fingerprint("admin-key"))));
        assert_eq!(a.check("nope"), None);
        assert_eq!(a.check(""), None);
    }
}
