//! The Gemini client: Pingora's pooled connector (HTTP/1.1 and HTTP/2, rustls) and a pre-resolved peer.

use crate::config::UpstreamConfig;
use crate::error::StartupError;
use crate::model::Resource;
use crate::sync::{read, write};
use bytes::Bytes;
use http::HeaderValue;
use pingora::connectors::http::Connector;
use pingora::connectors::ConnectorOptions;
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::protocols::ALPN;
use pingora::upstreams::peer::{HttpPeer, Peer};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The upstream client shared by all requests.
pub struct UpstreamClient {
    /// Pool for the request path (connections owned by the serving runtime).
    connector: Connector,
    /// Separate pool for calls made by background services (model list, key checks). Their
    /// connections belong to the background runtime's I/O driver; were they pooled with the request
    /// path's, every request on one would be woken through that other thread.
    side: Connector,
    peer: RwLock<Arc<HttpPeer>>,
    cfg: UpstreamConfig,
    host_header: HeaderValue,
    /// `{base_path}/{api_version}` — prefix of every upstream path.
    prefix: String,
}

impl UpstreamClient {
    /// Build the client; resolves the upstream host once (blocking, at startup only).
    pub fn new(cfg: &UpstreamConfig) -> Result<UpstreamClient, StartupError> {
        let addr = resolve_blocking(&cfg.host, cfg.port)?;
        let host_header = HeaderValue::from_str(&cfg.authority())
            .map_err(|_| StartupError::Upstream("bad host".into()))?;
        let options = |pool: usize| {
            let mut o = ConnectorOptions::new(pool);
            o.ca_file = cfg.ca_file.clone();
            o
        };
        Ok(UpstreamClient {
            connector: Connector::new(Some(options(cfg.pool_size))),
            side: Connector::new(Some(options(cfg.pool_size.min(16)))),
            peer: RwLock::new(Arc::new(build_peer(cfg, addr))),
            cfg: cfg.clone(),
            host_header,
            prefix: format!("{}/{}", cfg.base_path, cfg.api_version),
        })
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.cfg
    }

    /// The current peer (cheap clone of an `Arc`).
    pub fn peer(&self) -> Arc<HttpPeer> {
        read(&self.peer).clone()
    }

    /// Re-resolve the upstream host without blocking a worker; swap the peer if the address changed.
    pub async fn refresh_dns(&self) {
        if self.cfg.host.parse::<std::net::IpAddr>().is_ok() {
            return;
        }
        match tokio::net::lookup_host((self.cfg.host.as_str(), self.cfg.port)).await {
            Ok(mut addrs) => {
                if let Some(addr) = addrs.next() {
                    let current = self.peer();
                    if current.address().to_string() != addr.to_string() {
                        tracing::info!(host = %self.cfg.host, %addr, "upstream address changed");
                        {
                            let mut p = write(&self.peer);
                            *p = Arc::new(build_peer(&self.cfg, addr));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(host = %self.cfg.host, error = %e, "upstream DNS refresh failed; keeping the old address")
            }
        }
    }

    /// Full upstream path for a resource (built from validated parts only) and a query the
    /// gateway composed itself.
    pub fn path(&self, resource: &Resource, query: Option<&str>) -> String {
        let mut p = String::with_capacity(self.prefix.len() + 96);
        p.push_str(&self.prefix);
        p.push('/');
        resource.write_path(&mut p);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            p.push('?');
            p.push_str(q);
        }
        p
    }

    /// A request header for the upstream: only what Gemini needs, never the client's credential.
    pub fn request_header(
        &self,
        method: &http::Method,
        path: &str,
        key: &HeaderValue,
        body_len: Option<usize>,
    ) -> pingora::Result<RequestHeader> {
        let mut req = RequestHeader::build_no_case(method.clone(), path.as_bytes(), Some(6))?;
        req.insert_header(http::header::HOST, self.host_header.clone())?;
        req.insert_header("x-goog-api-key", key.clone())?;
        req.insert_header(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("gemini-gateway/", env!("CARGO_PKG_VERSION"))),
        )?;
        if let Some(len) = body_len {
            req.insert_header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )?;
            req.insert_header(http::header::CONTENT_LENGTH, len)?;
        }
        Ok(req)
    }

    /// Get a (possibly pooled) session with timeouts applied. Returns whether it was reused.
    pub async fn connect(&self, peer: &HttpPeer) -> pingora::Result<(HttpSession, bool)> {
        self.connect_on(&self.connector, peer).await
    }

    async fn connect_on(
        &self,
        connector: &Connector,
        peer: &HttpPeer,
    ) -> pingora::Result<(HttpSession, bool)> {
        let (mut s, reused) = connector.get_http_session(peer).await?;
        s.set_write_timeout(Some(self.cfg.write_timeout));
        Ok((s, reused))
    }

    /// Send the request header and body; returns the session to read the answer from.
    ///
    /// HTTP/1: the request line, headers (serialised by Pingora) and body leave in one vectored write.
    /// Pingora's own client writes the header and the body separately — one more system call and, on
    /// the server's side, one more wake-up per request. The answer is then read by a fresh Pingora
    /// session on the same pooled connection, as after `write_request_header`. HTTP/2 goes through
    /// Pingora's client unchanged (its frames are batched by the h2 codec anyway).
    pub async fn send(
        &self,
        s: HttpSession,
        req: &RequestHeader,
        body: Option<&Bytes>,
    ) -> (HttpSession, pingora::Result<()>) {
        match s {
            HttpSession::H1(h1) => {
                let mut stream = h1.into_inner();
                let sent = self.write_h1(&mut stream, req, body).await;
                // Nothing more is written through this session: it only reads the answer.
                let s = HttpSession::H1(pingora::protocols::http::v1::client::HttpSession::new(
                    stream,
                ));
                (s, sent)
            }
            mut s => {
                let sent = async {
                    s.write_request_header(Box::new(req.clone())).await?;
                    if let Some(b) = body.filter(|b| !b.is_empty()) {
                        s.write_request_body(b.clone(), true).await?;
                    }
                    s.finish_request_body().await
                }
                .await;
                (s, sent)
            }
        }
    }

    async fn write_h1(
        &self,
        stream: &mut pingora::protocols::Stream,
        req: &RequestHeader,
        body: Option<&Bytes>,
    ) -> pingora::Result<()> {
        use bytes::Buf;
        use pingora::{Error, ErrorType, OrErr};
        use tokio::io::AsyncWriteExt;
        let head = pingora::protocols::http::v1::client::http_req_header_to_wire(req)
            .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "bad request line"))?
            .freeze();
        let mut wire = head.chain(body.cloned().unwrap_or_default());
        let write = async {
            stream.write_all_buf(&mut wire).await?;
            stream.flush().await
        };
        within(
            self.cfg.write_timeout,
            ErrorType::WriteTimedout,
            "request",
            async {
                write
                    .await
                    .or_err(ErrorType::WriteError, "writing the request")
            },
        )
        .await
    }

    /// Read the final (non-1xx) response header, within `first_byte_timeout`.
    ///
    /// Read timeouts are tokio timers (removed as soon as the read finishes) rather than the
    /// session's own, whose entries stay in Pingora's timer map until their deadline passes.
    pub async fn read_header(&self, s: &mut HttpSession) -> pingora::Result<u16> {
        let read = async {
            loop {
                s.read_response_header().await?;
                let status = s.response_header().map(|h| h.status.as_u16()).unwrap_or(0);
                if !(100..200).contains(&status) {
                    return Ok(status);
                }
            }
        };
        within(
            self.cfg.first_byte_timeout,
            pingora::ErrorType::ReadTimedout,
            "response header",
            read,
        )
        .await
    }

    /// The next piece of the response body, waiting at most `read_timeout` for it.
    pub async fn read_body(&self, s: &mut HttpSession) -> pingora::Result<Option<Bytes>> {
        within(
            self.cfg.read_timeout,
            pingora::ErrorType::ReadTimedout,
            "response body",
            s.read_response_body(),
        )
        .await
    }

    /// A small GET outside the request pipeline (model list refresh, key checks): status and body.
    pub async fn get(
        &self,
        resource: &Resource,
        query: Option<&str>,
        key: &HeaderValue,
        cap: usize,
    ) -> pingora::Result<(u16, Bytes)> {
        let peer = self.peer();
        let path = self.path(resource, query);
        let req = self.request_header(&http::Method::GET, &path, key, None)?;
        let (s, _) = self.connect_on(&self.side, &peer).await?;
        let (mut s, sent) = self.send(s, &req, None).await;
        let result = async {
            sent?;
            let status = self.read_header(&mut s).await?;
            let mut body = Vec::new();
            while let Some(chunk) = self.read_body(&mut s).await? {
                if body.len() + chunk.len() > cap {
                    return Err(pingora::Error::explain(
                        pingora::ErrorType::ReadError,
                        "upstream answer too large",
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, Bytes::from(body)))
        }
        .await;
        self.finish_on(&self.side, s, &peer, result.is_ok()).await;
        result
    }

    /// Return a session whose response was read to the end to the pool; otherwise close it.
    pub async fn finish(&self, s: HttpSession, peer: &HttpPeer, complete: bool) {
        self.finish_on(&self.connector, s, peer, complete).await
    }

    async fn finish_on(
        &self,
        connector: &Connector,
        mut s: HttpSession,
        peer: &HttpPeer,
        complete: bool,
    ) {
        let is_h2 = matches!(s, HttpSession::H2(_));
        if !complete {
            s.shutdown().await;
            if !is_h2 {
                return;
            }
        }
        connector
            .release_http_session(s, peer, Some(self.cfg.pool_idle_timeout))
            .await;
    }
}

/// Run an upstream read or write with a deadline (a tokio timer, gone when the I/O finishes).
/// Running out is `timed_out` (`ReadTimedout`/`WriteTimedout`), as the session's own timeouts
/// would report it, so the failure classifier sees the same thing either way.
async fn within<T>(
    limit: Duration,
    timed_out: pingora::ErrorType,
    what: &'static str,
    io: impl std::future::Future<Output = pingora::Result<T>>,
) -> pingora::Result<T> {
    match tokio::time::timeout(limit, io).await {
        Ok(r) => r,
        Err(_) => Err(pingora::Error::explain(
            timed_out,
            format!("upstream {what}: not done within {limit:?}"),
        )),
    }
}

fn resolve_blocking(host: &str, port: u16) -> Result<SocketAddr, StartupError> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| StartupError::Upstream(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| StartupError::Upstream(format!("{host} has no address")))
}

fn build_peer(cfg: &UpstreamConfig, addr: SocketAddr) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, cfg.tls, cfg.host.clone());
    peer.options.connection_timeout = Some(cfg.connect_timeout);
    peer.options.idle_timeout = Some(cfg.pool_idle_timeout);
    peer.options.verify_cert = cfg.verify_cert;
    peer.options.verify_hostname = cfg.verify_cert;
    if cfg.tls && cfg.http2 {
        peer.options.alpn = ALPN::H2H1;
    }
    peer
}

/// How long to wait before the next attempt after `n` failed ones (exponential, jittered, capped).
pub fn backoff(n: usize, min: Duration, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let exp = min.saturating_mul(1u32 << n.min(16));
    let capped = exp.min(max);
    // full jitter in [capped/2, capped]
    let half = capped / 2;
    half + Duration::from_nanos(fastrand::u64(0..=(capped - half).as_nanos() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let min = Duration::from_millis(50);
        let max = Duration::from_millis(1000);
        for n in 0..20 {
            let d = backoff(n, min, max);
            assert!(d <= max, "{d:?}");
            assert!(d >= min.min(max) / 2, "{d:?}");
        }
        assert_eq!(backoff(3, min, Duration::ZERO), Duration::ZERO);
    }
}
