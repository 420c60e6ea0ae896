//! Client credentials: the configured passwords and admin key, matched in constant time, and the
//! one parser of how a client presents a credential (`Authorization: Bearer`, `x-goog-api-key`,
//! `?key=`) — used by the gateway's identity step and by the admin API alike.

use crate::config::AuthConfig;
use crate::secret::{digest, digest_eq};
use pingora::http::RequestHeader;
use std::borrow::Cow;
use std::sync::Arc;

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

struct Credential {
    digest: [u8; 32],
    role: Role,
    /// The credential's fingerprint (never the credential): the client's id in logs and state.
    id: Arc<str>,
}

/// Every credential the gateway accepts.
pub struct Credentials {
    list: Vec<Credential>,
}

/// The credential part of an `Authorization` value: `Bearer <token>` (scheme case-insensitive).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// How the client presented a credential.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    None,
    /// A credential, from the first place that has one.
    Token(Cow<'a, str>),
    /// An `Authorization` header that is not a bearer token, or a header that is not text.
    Malformed,
}

/// The credential a request presents: `Authorization: Bearer`, else `x-goog-api-key`, else
/// `x-api-key` (Anthropic clients), else `?key=`.
pub fn presented(req: &RequestHeader) -> Presented<'_> {
    if let Some(v) = req.headers.get(http::header::AUTHORIZATION) {
        return match v.to_str().ok().and_then(bearer) {
            Some(t) => Presented::Token(Cow::Borrowed(t)),
            None => Presented::Malformed,
        };
    }
    for name in ["x-goog-api-key", "x-api-key"] {
        if let Some(v) = req.headers.get(name) {
            return match v.to_str() {
                Ok(t) => Presented::Token(Cow::Borrowed(t.trim())),
                Err(_) => Presented::Malformed,
            };
        }
    }
    if let Some(q) = req.uri.query() {
        if let Some((_, v)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "key") {
            return Presented::Token(v);
        }
    }
    Presented::None
}

impl Credentials {
    pub fn from_config(a: &AuthConfig) -> Credentials {
        let mut list: Vec<Credential> = a
            .passwords
            .iter()
            .map(|p| Credential {
                digest: p.digest(),
                role: Role::User,
                id: p.fingerprint().into(),
            })
            .collect();
        if let Some(k) = &a.admin_api_key {
            list.push(Credential {
                digest: k.digest(),
                role: Role::Admin,
                id: k.fingerprint().into(),
            });
        }
        Credentials { list }
    }

    /// Match a presented credential against every configured one without early exit; on a
    /// match, its role (admin wins when a value is configured twice) and id.
    pub fn check(&self, presented: &str) -> Option<(Role, Arc<str>)> {
        let d = digest(presented.as_bytes());
        let mut found: Option<(Role, &Arc<str>)> = None;
        for c in &self.list {
            if digest_eq(&d, &c.digest) {
                let role = match found {
                    Some((Role::Admin, _)) => Role::Admin,
                    _ => c.role,
                };
                found = Some((role, &c.id));
            }
        }
        found.map(|(r, id)| (r, id.clone()))
    }

    /// Whether `presented` is an admin credential.
    pub fn is_admin(&self, presented: &str) -> bool {
        matches!(self.check(presented), Some((Role::Admin, _)))
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{fingerprint, Secret};

    fn creds() -> Credentials {
        Credentials::from_config(&AuthConfig {
            required: true,
            passwords: vec![Secret::new("user-pw")],
            admin_api_key: Some(Secret::new("admin-key")),
        })
    }

    #[test]
    fn matches_user_and_admin() {
        let c = creds();
        assert_eq!(
            c.check("user-pw"),
            Some((Role::User, fingerprint("user-pw").into()))
        );
        assert_eq!(
            c.check("admin-key"),
            Some((Role::Admin, fingerprint("admin-key").into()))
        );
        assert!(c.is_admin("admin-key") && !c.is_admin("user-pw"));
        assert_eq!(c.check("nope"), None);
        assert_eq!(c.check(""), None);
    }

    #[test]
    fn one_bearer_parser() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerabc"), None);
    }

    #[test]
    fn presented_from_header_or_query() {
        let mut r = RequestHeader::build("GET", b"/v2/models?key=q%2Bk", None).unwrap();
        assert_eq!(presented(&r), Presented::Token(Cow::Owned("q+k".into())));
        r.insert_header("x-goog-api-key", " g ").unwrap();
        assert_eq!(presented(&r), Presented::Token(Cow::Borrowed("g")));
        r.insert_header("authorization", "Bearer b").unwrap();
        assert_eq!(presented(&r), Presented::Token(Cow::Borrowed("b")));
        r.insert_header("authorization", "Basic x").unwrap();
        assert_eq!(presented(&r), Presented::Malformed);
        let r = RequestHeader::build("GET", b"/v2/models", None).unwrap();
        assert_eq!(presented(&r), Presented::None);
    }
}
