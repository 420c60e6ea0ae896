//! The identity step: who the client is (credential and role, IP address), computed once per
//! request before any stage runs, and the cap on request headers.

use super::ctx::{Client, Credential};
use crate::config::LimitsConfig;
use crate::credentials::{presented, Presented};
use crate::error::{ErrorKind, GatewayError};
use crate::state::AppState;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::net::IpAddr;

/// The client of this request.
pub(super) fn identify(state: &AppState, session: &Session) -> Client {
    let credential = match presented(session.req_header()) {
        Presented::None => Credential::None,
        Presented::Malformed => Credential::Invalid,
        Presented::Token(t) => match state.credentials.check(&t) {
            Some(identity) => Credential::Valid(identity),
            None => Credential::Invalid,
        },
    };
    Client {
        credential,
        ip: client_ip(session, &state.config.limits.trusted_proxies),
    }
}

/// The client's address: the TCP peer, or — only when the peer is a trusted proxy — the rightmost
/// untrusted address in `X-Forwarded-For`.
pub fn client_ip(session: &Session, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())?;
    if trusted.is_empty() || !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for v in session
        .req_header()
        .headers
        .get_all("x-forwarded-for")
        .iter()
    {
        for part in v.to_str().unwrap_or("").split(',') {
            if let Ok(ip) = part.trim().parse::<IpAddr>() {
                chain.push(ip);
            }
        }
    }
    Some(
        chain
            .into_iter()
            .rev()
            .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
            .unwrap_or(peer),
    )
}

/// Refuse a request whose header block is over `limits.max_header_bytes` or has more than
/// `limits.max_headers` fields (431). Larger than the HTTP parser's own limits (256 fields,
/// 1 MiB) never gets here: Pingora answers those with a bare 400.
pub(super) fn check_headers(l: &LimitsConfig, req: &RequestHeader) -> Result<(), GatewayError> {
    let count = req.headers.len();
    let size = req.method.as_str().len()
        + req.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + 12
        + req
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if count > l.max_headers || size > l.max_header_bytes {
        return Err(GatewayError::new(
            ErrorKind::HeaderTooLarge,
            format!(
                "Request headers too large: {count} fields, {size} bytes (the gateway accepts at most {} fields and {} bytes).",
                l.max_headers, l.max_header_bytes
            ),
        ));
    }
    Ok(())
}
