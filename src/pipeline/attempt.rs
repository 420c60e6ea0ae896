//! The one upstream attempt loop: send, classify, fail over to another key, then stream the answer.
//!
//! The pipeline owns this loop (not Pingora's proxy phases) because Pingora replays a request body
//! only from a 64 KiB buffer; here the body is a shared `Bytes` sent whole on every attempt.

use super::ctx::{AttemptRecord, Framing, ReqCtx};
use super::{Attempt, Pipeline};
use crate::config::FailoverConfig;
use crate::error::{grpc_status, GatewayError, Surface};
use crate::upstream::client::backoff;
use crate::upstream::{classify, classify_transport, Fault, Shortage, UpstreamClient};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use std::time::Duration;

/// Largest upstream error body read for classification and pass-through.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How a request ended when it could not end with a clean response.
#[derive(Debug)]
pub enum Abort {
    /// Drop the client connection without finishing the body (truncated JSON, client gone).
    Connection,
}

/// Result of one upstream exchange up to the response header.
enum Head {
    Answer {
        session: Box<HttpSession>,
        status: u16,
    },
    Transport(Box<pingora::Error>),
    ClientGone,
    /// The shutdown grace period ended before the upstream answered.
    ShuttingDown,
}

/// Run attempts until one succeeds, the request fails for good, or attempts run out.
pub async fn run(
    p: &Pipeline,
    session: &mut Session,
    ctx: &mut ReqCtx,
) -> Result<Result<(), Abort>, GatewayError> {
    let client = &p.state.upstream;
    let max = p.state.config.failover.max_attempts;
    // Only the body (a shared `Bytes`) and the framing are needed here; the rest stays in `ctx`.
    let Some((body, framing)) = ctx.upstream.as_ref().map(|u| (u.body.clone(), u.framing)) else {
        return Err(GatewayError::not_found("Unknown route."));
    };
    let catalog = &p.state.catalog;
    ctx.bucket = ctx.model.as_deref().map(|m| catalog.bucket(m));
    if let Some(u) = &ctx.upstream {
        // Google said 404 for this model and method a moment ago: say it again without a key.
        if let Some(msg) = catalog.not_found(&u.resource, p.state.clock.now()) {
            return Err(GatewayError::new(404, "model_not_found", &*msg).with_param("model"));
        }
    }
    loop {
        if ctx.attempts.len() >= max {
            return Err(exhausted_error(ctx, &p.state.config.failover, None));
        }
        let mut attempt = Attempt {
            index: ctx.attempts.len(),
            ..Default::default()
        };
        for f in &p.filters {
            f.on_attempt(ctx, &mut attempt)?;
        }
        let (Some(key), Some(req)) = (attempt.key, attempt.request.take()) else {
            return Err(GatewayError::internal(
                "no stage prepared the upstream attempt",
            ));
        };
        ctx.key = Some(key);
        ctx.tried.push(key);
        let peer = client.peer();
        let sent_at = std::time::Instant::now();
        let head = exchange_head(&p.state.drain, client, &peer, req, body.as_ref(), session).await;
        if matches!(head, Head::Answer { .. }) {
            let ttfb = sent_at.elapsed();
            ctx.upstream_ttfb = Some(ttfb);
            p.state.metrics.upstream_ttfb.observe(ttfb.as_secs_f64());
        }
        match head {
            Head::ClientGone => {
                ctx.cancelled = true;
                ctx.attempts.push(AttemptRecord {
                    key,
                    status: None,
                    outcome: "cancelled",
                });
                return Ok(Err(Abort::Connection));
            }
            Head::ShuttingDown => {
                ctx.attempts.push(AttemptRecord {
                    key,
                    status: None,
                    outcome: "shutting_down",
                });
                return Err(shutting_down());
            }
            Head::Transport(e) => {
                let fault = classify_transport(&e);
                tracing::debug!(error = %e, kind = fault.kind(), "upstream transport failure");
                record(p, ctx, &attempt, key, None, &fault);
            }
            Head::Answer {
                session: mut up_session,
                status,
            } if status >= 400 => {
                let (body, complete) = read_capped(client, &mut up_session, MAX_ERROR_BODY).await;
                client.finish(*up_session, &peer, complete).await;
                let fault = classify(status, &body, p.state.config.failover.rate_limit_cooldown)
                    .unwrap_or(Fault::ServerError { status });
                record(p, ctx, &attempt, key, Some(status), &fault);
                if !fault.is_retryable() {
                    let e = client_error(status, body);
                    if status == 404 {
                        if let Some(u) = &ctx.upstream {
                            catalog.remember_not_found(
                                &u.resource,
                                &e.message,
                                p.state.clock.now(),
                            );
                        }
                    }
                    return Err(e);
                }
            }
            Head::Answer {
                session: up_session,
                status,
            } => {
                ctx.attempts.push(AttemptRecord {
                    key,
                    status: Some(status),
                    outcome: "ok",
                });
                p.state.metrics.attempts.with_label_values(&["ok"]).inc();
                if let Some(m) = ctx.model.as_deref() {
                    // Google answered for it: a real model, from now on with state of its own.
                    catalog.know(m);
                }
                for f in &p.filters {
                    f.on_attempt_done(ctx, &attempt, None);
                }
                return stream(p, session, ctx, client, &peer, *up_session, status, framing).await;
            }
        }
        // Retryable failure: back off only for server-side trouble (a different key is the remedy for the rest).
        if matches!(
            ctx.last_fault,
            Some(Fault::ServerError { .. } | Fault::Timeout | Fault::Connect { .. })
        ) {
            let cfg = &p.state.config.failover;
            let d = backoff(ctx.attempts.len() - 1, cfg.backoff_min, cfg.backoff_max);
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
        }
    }
}

fn record(
    p: &Pipeline,
    ctx: &mut ReqCtx,
    attempt: &Attempt,
    key: usize,
    status: Option<u16>,
    fault: &Fault,
) {
    ctx.attempts.push(AttemptRecord {
        key,
        status,
        outcome: fault.kind(),
    });
    p.state
        .metrics
        .attempts
        .with_label_values(&[fault.kind()])
        .inc();
    for f in &p.filters {
        f.on_attempt_done(ctx, attempt, Some(fault));
    }
    if fault.is_retryable() {
        ctx.last_fault = Some(fault.clone());
    }
}

/// The error for a request that ran out of keys (`shortage`: what the pool said when no key
/// could be picked) or of attempts (`None`). The answer follows the cause: 503 `UNAVAILABLE` (504
/// when this request's own attempts timed out) when upstream failures keep the keys out, 429 only
/// when quota does; both with `Retry-After`.
pub fn exhausted_error(
    ctx: &ReqCtx,
    cfg: &FailoverConfig,
    shortage: Option<(Option<Duration>, Shortage)>,
) -> GatewayError {
    let own = ctx.last_fault.as_ref();
    let own_timeout = matches!(own, Some(Fault::Timeout));
    let Some((retry_after, why)) = shortage else {
        // Attempts ran out: what this request met decides.
        return match own {
            Some(Fault::RateLimited { retry_after, .. }) => GatewayError::new(
                429,
                "upstream_rate_limited",
                "Every upstream key tried is rate-limited; retry later.",
            )
            .with_retry_after(Some(*retry_after)),
            Some(Fault::QuotaDay { .. }) => GatewayError::new(
                429,
                "upstream_rate_limited",
                "Every upstream key tried is out of its daily quota; retry later.",
            )
            .with_retry_after(Some(cfg.rate_limit_cooldown)),
            Some(Fault::Timeout) => GatewayError::new(
                504,
                "upstream_timeout",
                "Gemini did not answer in time on any key tried.",
            )
            .with_retry_after(Some(cfg.timeout_cooldown)),
            _ => GatewayError::new(
                503,
                "upstream_unavailable",
                "Gemini is failing (server errors or connection failures) on every key tried.",
            )
            .with_retry_after(Some(cfg.server_error_cooldown)),
        };
    };
    if why.quota == 0 && why.failing == 0 {
        // Nothing will come back by itself: every key is disabled (or was tried and failed for good).
        return match own {
            Some(f) if f.is_retryable() && !matches!(f, Fault::KeyInvalid { .. }) => {
                exhausted_error(ctx, cfg, None)
            }
            _ => GatewayError::new(
                503,
                "no_key_available",
                "No usable upstream key: every configured key was rejected by Gemini.",
            ),
        };
    }
    let wait = retry_after.map_or_else(String::new, |d| {
        format!(" Retry after {} s.", crate::error::retry_after_secs(d))
    });
    if why.is_outage() {
        let quota = if why.quota > 0 {
            format!(", {} out of quota", why.quota)
        } else {
            String::new()
        };
        let (status, kind) = if own_timeout {
            (504, "upstream_timeout")
        } else {
            (503, "upstream_unavailable")
        };
        let retry = retry_after.or(Some(cfg.server_error_cooldown));
        return GatewayError::new(
            status,
            kind,
            format!(
                "Gemini is failing: {} upstream key(s) cooling down after server errors, timeouts or connection failures{quota}. This is not a quota problem.{wait}",
                why.failing
            ),
        )
        .with_retry_after(retry);
    }
    let failing = if why.failing > 0 {
        format!(", {} cooling after upstream failures", why.failing)
    } else {
        String::new()
    };
    GatewayError::new(
        429,
        "no_key_available",
        format!(
            "Every upstream key is out of quota for this model right now ({} rate-limited or at a request/token limit{failing}).{wait}",
            why.quota
        ),
    )
    .with_retry_after(retry_after.or(Some(cfg.rate_limit_cooldown)))
}

/// Google's own 4xx, passed to the client (its body verbatim on the Gemini surface).
fn client_error(status: u16, body: Bytes) -> GatewayError {
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("Gemini rejected the request with status {status}."));
    let kind = if status == 404 {
        "model_not_found"
    } else {
        "client_error"
    };
    let mut e = GatewayError::new(status, kind, message);
    if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.get("error").is_some()) {
        e = e.with_upstream_body(body);
    }
    e
}

/// Connect, send, and wait for the response header, noticing a client that leaves meanwhile.
async fn exchange_head(
    drain: &crate::drain::Drain,
    client: &UpstreamClient,
    peer: &HttpPeer,
    req: pingora::http::RequestHeader,
    body: Option<&Bytes>,
    session: &mut Session,
) -> Head {
    let work = async {
        // A pooled connection may have been closed by the server: retry on a fresh one.
        let mut tries = 0;
        loop {
            tries += 1;
            let (s, reused) = match client.connect(peer).await {
                Ok(v) => v,
                Err(e) => return Head::Transport(e),
            };
            let (mut s, sent) = client.send(s, &req, body).await;
            let status = match sent {
                Ok(()) => client.read_header(&mut s).await,
                Err(e) => Err(e),
            };
            match status {
                Ok(status) => {
                    return Head::Answer {
                        session: Box::new(s),
                        status,
                    }
                }
                Err(e) => {
                    client.finish(s, peer, false).await;
                    if reused && tries < 3 {
                        continue;
                    }
                    return Head::Transport(e);
                }
            }
        }
    };
    tokio::select! {
        head = work => head,
        _ = client_left(session) => Head::ClientGone,
        _ = drain.expired() => Head::ShuttingDown,
    }
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

/// Read up to `cap` bytes of a body; returns whether the body was read to its end.
async fn read_capped(client: &UpstreamClient, s: &mut HttpSession, cap: usize) -> (Bytes, bool) {
    let mut buf = Vec::new();
    loop {
        match client.read_body(s).await {
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
}

/// Stream a success answer to the client as it arrives, through the stages' response hooks.
#[allow(clippy::too_many_arguments)]
async fn stream(
    p: &Pipeline,
    session: &mut Session,
    ctx: &mut ReqCtx,
    client: &UpstreamClient,
    peer: &HttpPeer,
    mut up: HttpSession,
    status: u16,
    framing: Framing,
) -> Result<Result<(), Abort>, GatewayError> {
    if ctx.buffer_response {
        return buffered(p, session, ctx, client, peer, up, status).await;
    }
    let resp = response_header(p, ctx, &up, status)?;
    if session
        .write_response_header(Box::new(resp), false)
        .await
        .is_err()
    {
        ctx.cancelled = true;
        client.finish(up, peer, false).await;
        return Ok(Err(Abort::Connection));
    }
    ctx.status = status;
    ctx.response_started = true;
    ctx.first_byte = Some(ctx.started.elapsed());
    let mut expired = std::pin::pin!(p.state.drain.expired());
    loop {
        let read = tokio::select! {
            biased;
            r = client.read_body(&mut up) => Woke::Data(r),
            _ = client_left(session) => Woke::ClientGone,
            _ = &mut expired => Woke::ShuttingDown,
        };
        let (mut chunk, next) = match read {
            Woke::ClientGone => {
                ctx.cancelled = true;
                client.finish(up, peer, false).await;
                return Ok(Err(Abort::Connection));
            }
            Woke::ShuttingDown => {
                tracing::warn!("shutdown grace period over: ending an open stream");
                ctx.midstream_error = Some("shutting_down");
                client.finish(up, peer, false).await;
                return Ok(finish_with_error_event(session, ctx, framing, Cut::Shutdown).await);
            }
            Woke::Data(r) => match r {
                // What the upstream has already delivered goes out in one write, without waiting for more.
                Ok(Some(first)) => {
                    let (c, next) = take_ready(&mut up, first).await;
                    (Some(c), next)
                }
                Ok(None) => (None, Ready::End),
                Err(e) => (None, Ready::Failed(e)),
            },
        };
        let end = matches!(next, Ready::End);
        if chunk.is_some() || end {
            for f in p.filters.iter().rev() {
                f.on_response_chunk(ctx, &mut chunk, end)?;
            }
        }
        if let Some(c) = &chunk {
            ctx.bytes_out += c.len() as u64;
        }
        if end {
            client.finish(up, peer, true).await;
            if session.write_response_body(chunk, true).await.is_err() {
                ctx.cancelled = true;
                return Ok(Err(Abort::Connection));
            }
            return Ok(Ok(()));
        }
        if let Some(c) = chunk {
            if session.write_response_body(Some(c), false).await.is_err() {
                ctx.cancelled = true;
                client.finish(up, peer, false).await;
                return Ok(Err(Abort::Connection));
            }
        }
        if let Ready::Failed(e) = next {
            let fault = classify_transport(&e);
            tracing::warn!(kind = fault.kind(), error = %e, "upstream failed mid-response");
            ctx.midstream_error = Some(fault.kind());
            client.finish(up, peer, false).await;
            return Ok(finish_with_error_event(session, ctx, framing, Cut::Upstream(fault)).await);
        }
    }
}

/// What woke a wait on the upstream answer.
enum Woke<T> {
    /// The upstream read finished.
    Data(T),
    ClientGone,
    ShuttingDown,
}

/// Largest run of already-arrived upstream chunks sent to the client as one write.
const COALESCE_MAX: usize = 64 * 1024;

/// What follows a run of upstream chunks that were ready at once.
enum Ready {
    /// Nothing more has arrived yet (or the run is full): read again.
    More,
    /// The upstream body ended.
    End,
    /// The upstream failed after the run.
    Failed(Box<pingora::Error>),
}

/// Append to `first` every body chunk the upstream session can hand over without waiting (already
/// read from the socket, or readable now), so a burst of SSE events costs one client write. Each
/// read is polled once and abandoned if it would wait (Pingora's body reader is cancel-safe), so it
/// needs no timeout: the caller's next `read_body` carries the deadline.
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

/// The client's response header, built by the stages from the upstream's.
fn response_header(
    p: &Pipeline,
    ctx: &mut ReqCtx,
    up: &HttpSession,
    status: u16,
) -> Result<ResponseHeader, GatewayError> {
    let mut resp = ResponseHeader::build_no_case(status, Some(8))
        .map_err(|_| GatewayError::internal("response header"))?;
    let Some(up_header) = up.response_header() else {
        return Err(GatewayError::internal("upstream header missing"));
    };
    for f in p.filters.iter().rev() {
        f.on_response_header(ctx, up_header, &mut resp)?;
    }
    Ok(resp)
}

/// Largest upstream answer read whole for transformation.
const MAX_BUFFERED: usize = 64 * 1024 * 1024;

/// Read the whole answer, let the stages transform it (or fail it), then send it with its length.
async fn buffered(
    p: &Pipeline,
    session: &mut Session,
    ctx: &mut ReqCtx,
    client: &UpstreamClient,
    peer: &HttpPeer,
    mut up: HttpSession,
    status: u16,
) -> Result<Result<(), Abort>, GatewayError> {
    let read = tokio::select! {
        biased;
        r = read_capped(client, &mut up, MAX_BUFFERED) => Woke::Data(r),
        _ = client_left(session) => Woke::ClientGone,
        _ = p.state.drain.expired() => Woke::ShuttingDown,
    };
    let (body, complete) = match read {
        Woke::Data(v) => v,
        Woke::ShuttingDown => {
            client.finish(up, peer, false).await;
            return Err(shutting_down());
        }
        Woke::ClientGone => {
            ctx.cancelled = true;
            client.finish(up, peer, false).await;
            return Ok(Err(Abort::Connection));
        }
    };
    let mut resp = response_header(p, ctx, &up, status)?;
    client.finish(up, peer, complete).await;
    if !complete {
        ctx.midstream_error = Some("truncated");
        return Err(GatewayError::bad_gateway(
            "The upstream answer was cut off before it finished.",
        ));
    }
    let mut chunk = Some(body);
    for f in p.filters.iter().rev() {
        f.on_response_chunk(ctx, &mut chunk, true)?;
    }
    let body = chunk.unwrap_or_default();
    let _ = resp.remove_header(&http::header::TRANSFER_ENCODING);
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())
        .map_err(|_| GatewayError::internal("response header"))?;
    if session
        .write_response_header(Box::new(resp), false)
        .await
        .is_err()
    {
        ctx.cancelled = true;
        return Ok(Err(Abort::Connection));
    }
    ctx.status = status;
    ctx.response_started = true;
    ctx.first_byte = Some(ctx.started.elapsed());
    ctx.bytes_out += body.len() as u64;
    if session.write_response_body(Some(body), true).await.is_err() {
        ctx.cancelled = true;
        return Ok(Err(Abort::Connection));
    }
    Ok(Ok(()))
}

/// After bytes reached the client nothing can change the status: end a stream with an error event in
/// the client's format; a plain JSON answer is cut (the client sees a truncated body, not a complete one).
async fn finish_with_error_event(
    session: &mut Session,
    ctx: &mut ReqCtx,
    framing: Framing,
    cut: Cut,
) -> Result<(), Abort> {
    let (code, message, openai_code) = match cut {
        Cut::Upstream(Fault::Timeout) => (
            504,
            "The upstream stream timed out before it finished.",
            "upstream_stream_error",
        ),
        Cut::Upstream(_) => (
            502,
            "The upstream connection failed before the answer finished.",
            "upstream_stream_error",
        ),
        Cut::Shutdown => (
            503,
            "The gateway is shutting down and cut this answer short; retry the request.",
            "gateway_shutting_down",
        ),
    };
    let event = match (ctx.surface, framing) {
        (_, Framing::Json) => return Err(Abort::Connection),
        (Surface::OpenAi, _) => format!(
            "data: {}\n\n",
            serde_json::json!({"error": {"message": message, "type": "server_error", "param": null, "code": openai_code}})
        ),
        (_, Framing::Sse) => format!(
            "data: {}\r\n\r\n",
            serde_json::json!({"error": {"code": code, "message": message, "status": grpc_status(code)}})
        ),
        (_, Framing::JsonArray) => format!(
            ",\r\n{}]",
            serde_json::json!({"error": {"code": code, "message": message, "status": grpc_status(code)}})
        ),
    };
    if session
        .write_response_body(Some(Bytes::from(event)), true)
        .await
        .is_err()
    {
        return Err(Abort::Connection);
    }
    Ok(())
}

/// Why an answer that already started is ended early.
enum Cut {
    /// The upstream failed or stalled mid-answer.
    Upstream(Fault),
    /// The shutdown grace period ended.
    Shutdown,
}

/// The answer for a request still waiting for the upstream when the shutdown grace period ends.
fn shutting_down() -> GatewayError {
    GatewayError::new(
        503,
        "shutting_down",
        "The gateway is shutting down; retry the request.",
    )
    .with_retry_after(Some(Duration::from_secs(1)))
}
