//! Client auth stage: checks the client's credential (Bearer, `x-goog-api-key` or `?key=`) in constant time.

use crate::error::GatewayError;
use crate::pipeline::ctx::{ClientId, ReqCtx};
use crate::pipeline::{Filter, Flow};
use crate::secret::{digest, digest_eq, fingerprint};
use crate::state::AppState;
use async_trait::async_trait;
use pingora::proxy::Session;
use std::sync::Arc;

struct Credential {
    digest: [u8; 32],
    admin: bool,
}

/// The auth stage.
pub struct Auth {
    required: bool,
    credentials: Vec<Credential>,
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
            })
            .collect();
        if let Some(k) = &a.admin_api_key {
            credentials.push(Credential {
                digest: k.digest(),
                admin: true,
            });
        }
        Auth {
            required: a.required,
            credentials,
        }
    }

    /// Match a presented credential against every configured one without early exit.
    fn check(&self, presented: &str) -> Option<bool> {
        let d = digest(presented.as_bytes());
        let mut found: Option<bool> = None;
        for c in &self.credentials {
            if digest_eq(&d, &c.digest) {
                found = Some(found.unwrap_or(false) || c.admin);
            }
        }
        found
    }
}

/// The credential the client presented, from the first place that has one.
pub fn presented_credential(session: &Session) -> Result<Option<String>, GatewayError> {
    let req = session.req_header();
    if let Some(v) = req.headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| GatewayError::unauthorized())?;
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .ok_or_else(GatewayError::unauthorized)?;
        return Ok(Some(token.trim().to_string()));
    }
    if let Some(v) = req.headers.get("x-goog-api-key") {
        let v = v.to_str().map_err(|_| GatewayError::unauthorized())?;
        return Ok(Some(v.trim().to_string()));
    }
    if let Some(q) = req.uri.query() {
        if let Some((_, v)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "key") {
            return Ok(Some(v.into_owned()));
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
                id: "anonymous".into(),
                admin: false,
            });
            return Ok(Flow::Continue);
        }
        let Some(token) = presented_credential(session)? else {
            return Err(GatewayError::unauthorized());
        };
        match self.check(&token) {
            Some(admin) => {
                ctx.client = Some(ClientId {
                    id: fingerprint(&token),
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

    #[test]
    fn matches_user_and_admin() {
        let a = Auth {
            required: true,
            credentials: vec![
                Credential {
                    digest: digest(b"user-pw"),
                    admin: false,
                },
                Credential {
                    digest: digest(b"admin-key"),
                    admin: true,
                },
            ],
        };
        assert_eq!(a.check("user-pw"), Some(false));
        assert_eq!(a.check("admin-key"), Some(true));
        assert_eq!(a.check("nope"), None);
        assert_eq!(a.check(""), None);
    }
}
