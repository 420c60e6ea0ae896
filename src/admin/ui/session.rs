//! Admin UI sessions: a JWT signed with `SECRET_KEY` (algorithm pinned on verification) naming
//! only the credential's id and role, carried in an `HttpOnly`, `SameSite=Strict` cookie; the
//! CSRF token bound to it; the same-origin check of form posts; the per-IP login throttle.

use crate::config::admin::{AdminConfig, JwtAlgorithm};
use crate::credentials::{Identity, Role};
use crate::secret::Secret;
use crate::sync::lock;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pingora::http::RequestHeader;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The session cookie.
pub const SESSION_COOKIE: &str = "gg_session";
/// The login form's CSRF cookie (there is no session yet to bind the token to).
pub const LOGIN_COOKIE: &str = "gg_login";
/// Failed logins per IP per minute before 429.
pub const MAX_FAILED_LOGINS: u32 = 5;

/// What a session says: who (id, never the credential), as what, until when, and its CSRF token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iat: u64,
    pub exp: u64,
    pub csrf: String,
}

/// A verified session: the claims and the credential they name, as it is now.
#[derive(Clone)]
pub struct Session {
    pub claims: Claims,
    pub who: Arc<Identity>,
}

impl Session {
    pub fn is_admin(&self) -> bool {
        self.who.role() == Role::Admin
    }
}

/// Why the UI's signing secret is not a configured, strong one (for the dashboard's banner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretState {
    Strong,
    Weak,
    /// Not set: a random per-process secret is used, sessions end on restart.
    Missing,
}

/// Signs and checks sessions.
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    algorithm: Algorithm,
    lifetime_secs: u64,
    secure: bool,
    pub secret_state: SecretState,
}

fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::Hs256 => Algorithm::HS256,
        JwtAlgorithm::Hs384 => Algorithm::HS384,
        JwtAlgorithm::Hs512 => Algorithm::HS512,
    }
}

/// A secret shorter than this (or with few distinct characters) is called weak.
pub const STRONG_SECRET_LEN: usize = 32;

/// Whether a configured secret is weak: short or made of few distinct characters.
pub fn is_weak(s: &str) -> bool {
    let distinct: std::collections::HashSet<char> = s.chars().collect();
    s.len() < STRONG_SECRET_LEN || distinct.len() < 8
}

impl Sessions {
    pub fn new(cfg: &AdminConfig, secret: Option<&Secret>) -> Result<Sessions, getrandom::Error> {
        let (bytes, secret_state) = match secret {
            Some(s) => (
                s.expose().as_bytes().to_vec(),
                if is_weak(s.expose()) {
                    SecretState::Weak
                } else {
                    SecretState::Strong
                },
            ),
            None => {
                tracing::warn!(
                    "SECRET_KEY is not set: the admin UI signs sessions with a random secret of this \
                     process (logins end when it restarts); set SECRET_KEY to a long random string"
                );
                let mut b = vec![0u8; 32];
                getrandom::fill(&mut b)?;
                (b, SecretState::Missing)
            }
        };
        Ok(Sessions {
            encoding: EncodingKey::from_secret(&bytes),
            decoding: DecodingKey::from_secret(&bytes),
            algorithm: algorithm(cfg.jwt_algorithm),
            lifetime_secs: cfg.session_lifetime.as_secs(),
            secure: cfg.secure_cookies,
            secret_state,
        })
    }

    /// A new session for `who` at `now` (Unix seconds): the JWT and its CSRF token.
    pub fn issue(&self, who: &Identity, now: u64) -> Option<(String, Claims)> {
        let claims = Claims {
            sub: who.id.to_string(),
            role: who.role().as_str().into(),
            iat: now,
            exp: now + self.lifetime_secs,
            csrf: crate::credentials::token::base62(32).ok()?,
        };
        let jwt =
            jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding).ok()?;
        Some((jwt, claims))
    }

    /// The claims of a token signed by us with the pinned algorithm and not expired at `now`.
    pub fn verify(&self, token: &str, now: u64) -> Option<Claims> {
        let mut v = Validation::new(self.algorithm);
        v.leeway = 0;
        v.validate_exp = false; // checked below against the gateway's clock
        v.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).ok()?;
        (data.claims.exp > now).then_some(data.claims)
    }

    fn attributes(&self) -> &'static str {
        if self.secure {
            "; HttpOnly; SameSite=Strict; Path=/; Secure"
        } else {
            "; HttpOnly; SameSite=Strict; Path=/"
        }
    }

    /// `Set-Cookie` for a new session.
    pub fn cookie(&self, jwt: &str) -> String {
        format!(
            "{SESSION_COOKIE}={jwt}; Max-Age={}{}",
            self.lifetime_secs,
            self.attributes()
        )
    }

    /// `Set-Cookie` that ends the session.
    pub fn clear_cookie(&self) -> String {
        format!("{SESSION_COOKIE}=; Max-Age=0{}", self.attributes())
    }

    /// `Set-Cookie` for the login form's CSRF token (ten minutes).
    pub fn login_cookie(&self, token: &str) -> String {
        format!("{LOGIN_COOKIE}={token}; Max-Age=600{}", self.attributes())
    }

    /// `Set-Cookie` that drops the login form's token.
    pub fn clear_login_cookie(&self) -> String {
        format!("{LOGIN_COOKIE}=; Max-Age=0{}", self.attributes())
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie_value(req: &RequestHeader, name: &str) -> Option<String> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// Constant-time equality of two tokens.
pub fn tokens_match(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether a state-changing request comes from our own pages: its `Origin` (or, without one, its
/// `Referer`) names the host it was sent to. A request with neither (not a browser) relies on the
/// CSRF token alone.
pub fn same_origin(req: &RequestHeader) -> bool {
    let Some(host) = req
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let source = req
        .headers
        .get(http::header::ORIGIN)
        .or_else(|| req.headers.get(http::header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source else {
        return true;
    };
    let Ok(uri) = source.parse::<http::Uri>() else {
        return false;
    };
    uri.authority()
        .is_some_and(|a| a.as_str().eq_ignore_ascii_case(host))
        && matches!(uri.scheme_str(), Some("http" | "https"))
}

/// Failed logins per IP in the current minute.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

/// Most IPs the throttle remembers (older minutes are dropped first).
const MAX_TRACKED: usize = 10_000;

impl LoginThrottle {
    /// Whether `ip` has used up its failed logins this minute.
    pub fn blocked(&self, ip: IpAddr, minute: u64) -> bool {
        lock(&self.failures)
            .get(&ip)
            .is_some_and(|(m, n)| *m == minute && *n >= MAX_FAILED_LOGINS)
    }

    /// Count a failed login.
    pub fn fail(&self, ip: IpAddr, minute: u64) {
        let mut map = lock(&self.failures);
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (m, _)| *m == minute);
        }
        let e = map.entry(ip).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        e.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Settings;

    fn who(role: Role) -> Identity {
        Identity {
            id: "pk_test".into(),
            kind: crate::credentials::Kind::ProxyKey,
            prefix: None,
            created_at: None,
            settings: Settings::new("t", role),
            usage: Arc::default(),
        }
    }

    fn sessions(alg: JwtAlgorithm, secret: &str) -> Sessions {
        let cfg = AdminConfig {
            jwt_algorithm: alg,
            ..AdminConfig::default()
        };
        Sessions::new(&cfg, Some(&Secret::new(secret))).unwrap()
    }

    const SECRET: &str = "a-long-random-secret-for-the-tests-0123456789";

    #[test]
    fn a_session_names_the_id_and_role_only_and_expires() {
        let s = sessions(JwtAlgorithm::Hs256, SECRET);
        let (jwt, claims) = s.issue(&who(Role::Admin), 1_000).unwrap();
        assert_eq!(claims.exp, 1_000 + 30 * 60);
        let back = s.verify(&jwt, 1_001).unwrap();
        assert_eq!(
            (back.sub.as_str(), back.role.as_str()),
            ("pk_test", "admin")
        );
        assert!(s.verify(&jwt, claims.exp).is_none(), "expired at exp");
    }

    #[test]
    fn tampered_tokens_are_refused() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let s = sessions(JwtAlgorithm::Hs256, SECRET);
        let (jwt, _) = s.issue(&who(Role::User), 1_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        // alg: none, no signature
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert!(s.verify(&none, 1_001).is_none());
        // another algorithm with the same secret
        let other = sessions(JwtAlgorithm::Hs512, SECRET);
        let (jwt512, _) = other.issue(&who(Role::User), 1_000).unwrap();
        assert!(s.verify(&jwt512, 1_001).is_none());
        // another secret
        let forged = sessions(
            JwtAlgorithm::Hs256,
            "another-long-random-secret-0123456789abc",
        );
        let (bad, _) = forged.issue(&who(Role::Admin), 1_000).unwrap();
        assert!(s.verify(&bad, 1_001).is_none());
        // a changed payload (user → admin) with the old signature
        let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
        let promoted = b64.encode(payload.replace("\"user\"", "\"admin\""));
        assert!(s
            .verify(&format!("{}.{promoted}.{}", parts[0], parts[2]), 1_001)
            .is_none());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_asked() {
        let s = sessions(JwtAlgorithm::Hs256, SECRET);
        let c = s.cookie("x");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"));
        assert!(!c.contains("Secure"));
        let cfg = AdminConfig {
            secure_cookies: true,
            ..AdminConfig::default()
        };
        let s = Sessions::new(&cfg, None).unwrap();
        assert_eq!(s.secret_state, SecretState::Missing);
        assert!(s.cookie("x").ends_with("; Secure"));
        assert!(s.clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn origin_must_name_the_host() {
        let mut req = RequestHeader::build("POST", b"/x", None).unwrap();
        req.insert_header("host", "127.0.0.1:7861").unwrap();
        assert!(same_origin(&req), "no Origin, no Referer: token alone");
        req.insert_header("origin", "http://127.0.0.1:7861")
            .unwrap();
        assert!(same_origin(&req));
        req.insert_header("origin", "http://evil.example").unwrap();
        assert!(!same_origin(&req));
        req.insert_header("origin", "null").unwrap();
        assert!(!same_origin(&req));
    }

    #[test]
    fn five_failures_a_minute_block_an_ip_until_the_next_minute() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(!t.blocked(ip, 7));
            t.fail(ip, 7);
        }
        assert!(t.blocked(ip, 7));
        assert!(!t.blocked("10.0.0.2".parse().unwrap(), 7));
        assert!(!t.blocked(ip, 8));
    }

    #[test]
    fn weak_secrets_are_told() {
        assert!(is_weak("change-me"));
        assert!(is_weak(&"a".repeat(40)));
        assert!(!is_weak(SECRET));
    }
}
