//! Client credentials: the admin key, the passwords and the proxy keys the gateway issues, one
//! table of them ([`Credentials`]), and the one parser of how a client presents a credential
//! (`Authorization: Bearer`, `x-goog-api-key`, `x-api-key`, `?key=`) — used by the gateway's
//! identity step and by the admin API alike.

mod identity;
pub mod import;
mod registry;
pub mod token;

pub use identity::{Identity, Kind, Settings, Usage};
pub use registry::{to_row, CreateError, Credentials, UsageSaver};

use pingora::http::RequestHeader;
use std::borrow::Cow;

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    /// The role's name in the API, the UI and sessions.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
