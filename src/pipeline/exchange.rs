//! One exchange: the client's session and the upstream session of the attempt in flight, with
//! every wait raced against the client leaving and the shutdown deadline, and the one cancel
//! sequence (close the upstream connection instead of returning it to the pool).

use crate::drain::Drain;
use crate::upstream::UpstreamClient;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use std::future::Future;
use std::sync::Arc;

/// What ended a wait on the upstream, besides the upstream itself.
pub(super) enum Woke<T> {
    /// The upstream step finished.
    Done(T),
    /// The client closed its connection.
    ClientGone,
    /// The shutdown grace period ended.
    ShuttingDown,
}

/// The client could not be written to (it left).
#[derive(Debug)]
pub(super) struct ClientGone;

/// The client's session and, once connected, the upstream one.
pub(super) struct Exchange<'a> {
    pub(super) down: &'a mut Session,
    client: &'a UpstreamClient,
    drain: &'a Drain,
    peer: Arc<HttpPeer>,
    up: Option<HttpSession>,
}

/// Resolves when the client closes its connection (the request body was already read).
async fn client_left(session: &mut Session) {
    loop {
        match session.as_downstream_mut().read_body_or_idle(true).await {
            Err(_) => return,
            Ok(None) => std::future::pending::<()>().await,
            Ok(Some(_)) => continue,
        }
    }
}

/// Largest run of already-arrived upstream chunks sent to the client as one write.
const COALESCE_MAX: usize = 64 * 1024;

/// What follows a run of upstream chunks that were ready at once.
pub(super) enum Ready {
    /// Nothing more has arrived yet (or the run is full): read again.
    More,
    /// The upstream body ended.
    End,
    /// The upstream failed after the run.
    Failed(Box<pingora::Error>),
}

impl<'a> Exchange<'a> {
    pub(super) fn new(
        down: &'a mut Session,
        client: &'a UpstreamClient,
        drain: &'a Drain,
    ) -> Exchange<'a> {
        Exchange {
            down,
            client,
            drain,
            peer: client.peer(),
            up: None,
        }
    }

    /// Race an upstream step against the client leaving and the end of the grace period.
    async fn race<T>(down: &mut Session, drain: &Drain, work: impl Future<Output = T>) -> Woke<T> {
        tokio::select! {
            biased;
            r = work => Woke::Done(r),
            _ = client_left(down) => Woke::ClientGone,
            _ = drain.expired() => Woke::ShuttingDown,
        }
    }

    /// Connect, send, and wait for the final response header; the status, or the transport error.
    /// A pooled connection the server had closed is retried on a fresh one.
    pub(super) async fn send(
        &mut self,
        req: &RequestHeader,
        body: Option<&Bytes>,
    ) -> Woke<Result<u16, Box<pingora::Error>>> {
        let (client, peer) = (self.client, self.peer.clone());
        let work = async move {
            let mut tries = 0;
            loop {
                tries += 1;
                let (s, reused) = client.connect(&peer).await?;
                let (mut s, sent) = client.send(s, req, body).await;
                let status = match sent {
                    Ok(()) => client.read_header(&mut s).await,
                    Err(e) => Err(e),
                };
                match status {
                    Ok(status) => return Ok((s, status)),
                    Err(e) => {
                        client.finish(s, &peer, false).await;
                        if !(reused && tries < 3) {
                            return Err(e);
                        }
                    }
                }
            }
        };
        match Self::race(self.down, self.drain, work).await {
            Woke::Done(Ok((s, status))) => {
                self.up = Some(s);
                Woke::Done(Ok(status))
            }
            Woke::Done(Err(e)) => Woke::Done(Err(e)),
            Woke::ClientGone => Woke::ClientGone,
            Woke::ShuttingDown => Woke::ShuttingDown,
        }
    }

    /// The upstream response header of the attempt in flight.
    pub(super) fn upstream_header(&self) -> Option<&ResponseHeader> {
        self.up.as_ref()?.response_header()
    }

    /// Read the upstream body whole, up to `cap` bytes: the bytes and whether the body ended.
    pub(super) async fn read_all(&mut self, cap: usize) -> Woke<(Bytes, bool)> {
        let Some(up) = self.up.as_mut() else {
            return Woke::Done((Bytes::new(), false));
        };
        let client = self.client;
        let work = async move {
            let mut buf = Vec::new();
            loop {
                match client.read_body(up).await {
                    Ok(Some(chunk)) => {
                        if buf.len() + chunk.len() > cap {
                            buf.extend_from_slice(&chunk[..cap - buf.len()]);
                            return (Bytes::from(buf), false);
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    Ok(None) => return (Bytes::from(buf), true),
                    Err(_) => return (Bytes::from(buf), false),
                }
            }
        };
        Self::race(self.down, self.drain, work).await
    }

    /// The next run of upstream body chunks: what has arrived, and what follows it. Everything
    /// the upstream has already delivered is taken in one go (a burst of SSE events costs one
    /// client write); `expired` is the request's grace-period deadline, created once per stream.
    pub(super) async fn read_run(
        &mut self,
        expired: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Woke<(Option<Bytes>, Ready)> {
        let Some(up) = self.up.as_mut() else {
            return Woke::Done((None, Ready::End));
        };
        let read = tokio::select! {
            biased;
            r = self.client.read_body(up) => r,
            _ = client_left(self.down) => return Woke::ClientGone,
            _ = expired => return Woke::ShuttingDown,
        };
        Woke::Done(match read {
            Ok(Some(first)) => {
                let (c, next) = take_ready(up, first).await;
                (Some(c), next)
            }
            Ok(None) => (None, Ready::End),
            Err(e) => (None, Ready::Failed(e)),
        })
    }

    /// Return the upstream connection to the pool if its answer was read to the end; else close
    /// it (this is the cancel sequence: the upstream sees the request abandoned at once).
    pub(super) async fn release(&mut self, complete: bool) {
        if let Some(up) = self.up.take() {
            self.client.finish(up, &self.peer, complete).await;
        }
    }

    pub(super) async fn write_header(&mut self, h: ResponseHeader) -> Result<(), ClientGone> {
        self.down
            .write_response_header(Box::new(h), false)
            .await
            .map_err(|_| ClientGone)
    }

    pub(super) async fn write_body(
        &mut self,
        body: Option<Bytes>,
        end: bool,
    ) -> Result<(), ClientGone> {
        self.down
            .write_response_body(body, end)
            .await
            .map_err(|_| ClientGone)
    }
}

/// Append to `first` every body chunk the upstream session can hand over without waiting (already
/// read from the socket, or readable now). Each read is polled once and abandoned if it would
/// wait (Pingora's body reader is cancel-safe), so it needs no timeout: the caller's next read
/// carries the deadline.
async fn take_ready(up: &mut HttpSession, first: Bytes) -> (Bytes, Ready) {
    let mut run: Option<bytes::BytesMut> = None;
    loop {
        let len = run.as_ref().map_or(first.len(), |r| r.len());
        if len >= COALESCE_MAX {
            return (run.map_or(first, |r| r.freeze()), Ready::More);
        }
        let now = tokio::select! {
            biased;
            r = up.read_response_body() => Some(r),
            () = std::future::ready(()) => None,
        };
        let next = match now {
            None => Ready::More,
            Some(Ok(None)) => Ready::End,
            Some(Err(e)) => Ready::Failed(e),
            Some(Ok(Some(c))) => {
                run.get_or_insert_with(|| {
                    let mut r = bytes::BytesMut::with_capacity(first.len() * 4 + c.len());
                    r.extend_from_slice(&first);
                    r
                })
                .extend_from_slice(&c);
                continue;
            }
        };
        return (run.map_or(first, |r| r.freeze()), next);
    }
}
