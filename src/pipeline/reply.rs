//! Sending answers to the client: a successful upstream answer through the route's reply handling
//! (passthrough, buffered transform, per-event transform), errors in the surface's envelope — as a
//! whole answer, or as a stream's terminal event once bytes are out — and stages' own answers.

use super::exchange::{ClientGone, Exchange, Ready, Woke};
use super::log::AttemptLog;
use super::route::{Framing, Reply, Response, Route, StreamReply};
use super::stage::StageState;
use super::{attempt, Outcome, Pipeline};
use crate::error::{Envelope, ErrorKind, GatewayError};
use crate::upstream::classify_transport;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::ResponseHeader;

/// Largest upstream answer read whole for a buffered transform.
const MAX_BUFFERED: usize = 64 * 1024 * 1024;

/// Send a 2xx upstream answer (its header already read) to the client.
pub(super) async fn send(
    p: &Pipeline,
    ex: &mut Exchange<'_>,
    route: &mut Route,
    log: &mut AttemptLog,
    stages: &mut [StageState],
    status: u16,
    envelope: Envelope,
) -> Outcome {
    let Some(mut head) = response_header(p, ex, route, log, status) else {
        ex.release(false).await;
        return Outcome::Failed(GatewayError::internal("upstream header missing"));
    };
    let Route {
        reply, upstream, ..
    } = route;
    let framing = upstream.framing;
    let mut transform = match reply {
        Reply::Buffered(t) => {
            let (body, complete) = match ex.read_all(MAX_BUFFERED).await {
                Woke::Done(b) => b,
                Woke::ClientGone => return gone(ex, log).await,
                Woke::ShuttingDown => {
                    ex.release(false).await;
                    return Outcome::Failed(attempt::shutting_down());
                }
            };
            ex.release(complete).await;
            if !complete {
                log.midstream = Some("truncated");
                return Outcome::Failed(GatewayError::new(
                    ErrorKind::BadGateway,
                    "The upstream answer was cut off before it finished.",
                ));
            }
            tell_stages(p, stages, &body);
            let answer = match t.transform(body.clone()) {
                Ok(b) => b,
                Err(e) => return Outcome::Failed(e),
            };
            match t.usage() {
                Some(u) => log.read_usage(u),
                None => log.keep_tail(&body),
            }
            let body = answer;
            answered(p, stages);
            if head
                .insert_header(http::header::CONTENT_LENGTH, body.len())
                .is_err()
            {
                return Outcome::Failed(GatewayError::internal("response header"));
            }
            return match write_all(ex, log, head, body).await {
                Ok(()) => Outcome::Answered,
                Err(ClientGone) => gone(ex, log).await,
            };
        }
        Reply::Streamed(t) => Some(t),
        Reply::Passthrough => None,
    };
    if ex.write_header(head).await.is_err() {
        return gone(ex, log).await;
    }
    started(log, status);
    let mut expired = std::pin::pin!(p.state.drain.expired());
    let mut out = Vec::new();
    loop {
        let (raw, next) = match ex.read_run(expired.as_mut()).await {
            Woke::Done(r) => r,
            Woke::ClientGone => return gone(ex, log).await,
            Woke::ShuttingDown => {
                tracing::warn!("shutdown grace period over: ending an open stream");
                ex.release(false).await;
                let e = attempt::shutting_down();
                let t = transform
                    .as_mut()
                    .map(|b| &mut ***b as &mut dyn StreamReply);
                return end_with(ex, log, (envelope, framing, t), e, "shutting_down").await;
            }
        };
        let end = matches!(next, Ready::End);
        if let Some(c) = &raw {
            log.keep_tail(c);
            tell_stages(p, stages, c);
        }
        let chunk = match transform.as_deref_mut() {
            None => raw,
            Some(t) => {
                out.clear();
                if let Some(c) = &raw {
                    t.feed(c, &mut out);
                }
                if end {
                    t.finish(&mut out);
                }
                (!out.is_empty()).then(|| Bytes::copy_from_slice(&out))
            }
        };
        if let Some(c) = &chunk {
            log.bytes_out += c.len() as u64;
        }
        if end {
            ex.release(true).await;
            answered(p, stages);
            return match ex.write_body(chunk, true).await {
                Ok(()) => Outcome::Answered,
                Err(ClientGone) => gone(ex, log).await,
            };
        }
        if let Some(c) = chunk {
            if ex.write_body(Some(c), false).await.is_err() {
                return gone(ex, log).await;
            }
        }
        if let Ready::Failed(e) = next {
            let fault = classify_transport(&e);
            tracing::warn!(kind = fault.kind(), error = %e, "upstream failed mid-response");
            ex.release(false).await;
            let err = match fault {
                crate::upstream::Fault::Timeout => GatewayError::new(
                    ErrorKind::UpstreamStalled,
                    "The upstream stream timed out before it finished.",
                ),
                _ => GatewayError::new(
                    ErrorKind::UpstreamCut,
                    "The upstream connection failed before the answer finished.",
                ),
            };
            let t = transform
                .as_mut()
                .map(|b| &mut ***b as &mut dyn StreamReply);
            return end_with(ex, log, (envelope, framing, t), err, fault.kind()).await;
        }
    }
}

/// Hand a piece of the upstream answer to every stage.
fn tell_stages(p: &Pipeline, stages: &mut [StageState], chunk: &[u8]) {
    for (s, state) in p.stages.iter().zip(stages.iter_mut()) {
        s.on_reply(state, chunk);
    }
}

/// The answer was read to its end: tell every stage before its last piece goes out.
fn answered(p: &Pipeline, stages: &mut [StageState]) {
    for (s, state) in p.stages.iter().zip(stages.iter_mut()) {
        s.on_answered(state);
    }
}

/// The client left: close the upstream connection so the upstream stops at once.
async fn gone(ex: &mut Exchange<'_>, log: &mut AttemptLog) -> Outcome {
    log.cancelled = true;
    ex.release(false).await;
    Outcome::Aborted
}

/// The response header went out.
fn started(log: &mut AttemptLog, status: u16) {
    log.status = status;
    log.response_started = true;
    log.first_byte = Some(log.started.elapsed());
}

/// After bytes reached the client nothing can change the status: end a stream with the error as
/// its terminal event; a plain JSON answer is cut (the client sees a truncated body, not a
/// complete wrong one).
async fn end_with(
    ex: &mut Exchange<'_>,
    log: &mut AttemptLog,
    (envelope, framing, transform): (Envelope, Framing, Option<&mut dyn StreamReply>),
    e: GatewayError,
    why: &'static str,
) -> Outcome {
    log.midstream = Some(why);
    let mut own = Vec::new();
    let event = match transform.map(|t| t.fail(&e, &mut own)) {
        Some(true) => Some(Bytes::from(own)),
        _ => e.stream_event(envelope, framing),
    };
    let outcome = match event {
        Some(event) => match ex.write_body(Some(event), true).await {
            Ok(()) => Outcome::Answered,
            Err(ClientGone) => Outcome::Aborted,
        },
        None => Outcome::Aborted,
    };
    log.error = Some(e);
    outcome
}

/// The client's response header for a 2xx upstream answer.
fn response_header(
    p: &Pipeline,
    ex: &Exchange<'_>,
    route: &Route,
    log: &AttemptLog,
    status: u16,
) -> Option<ResponseHeader> {
    let up = ex.upstream_header()?;
    let mut h = ResponseHeader::build_no_case(status, Some(8)).ok()?;
    let framing = route.upstream.framing;
    let stream = framing != Framing::Json;
    let static_ct = match (&route.reply, framing) {
        (Reply::Buffered(_), _) => Some("application/json"),
        (Reply::Streamed(_), _) | (_, Framing::Sse) => Some("text/event-stream"),
        _ => None,
    };
    match static_ct {
        Some(ct) => h.insert_header("content-type", HeaderValue::from_static(ct)),
        None => match up.headers.get(http::header::CONTENT_TYPE) {
            Some(ct) => h.insert_header("content-type", ct.clone()),
            None => h.insert_header(
                "content-type",
                HeaderValue::from_static("application/json; charset=UTF-8"),
            ),
        },
    }
    .ok()?;
    // Streams are sent chunked so each event is flushed as it arrives; a passed-through JSON
    // answer keeps its length; a buffered one gets the length of what it became.
    match (&route.reply, up.headers.get(http::header::CONTENT_LENGTH)) {
        (Reply::Buffered(_), _) => {}
        (Reply::Passthrough, Some(cl)) if !stream => h.insert_header("content-length", cl).ok()?,
        _ => h
            .insert_header("transfer-encoding", HeaderValue::from_static("chunked"))
            .ok()?,
    }
    if stream {
        h.insert_header("cache-control", HeaderValue::from_static("no-cache"))
            .ok()?;
        h.insert_header("x-accel-buffering", HeaderValue::from_static("no"))
            .ok()?;
    }
    if let Some(k) = log.key().and_then(|k| p.state.pool.get(k)) {
        h.insert_header("x-gateway-key", k.fingerprint_header().clone())
            .ok()?;
    }
    h.insert_header("x-gateway-attempts", HeaderValue::from(log.attempts.len()))
        .ok()?;
    Some(h)
}

/// Write a whole answer: header, then the body with the end of the message.
async fn write_all(
    ex: &mut Exchange<'_>,
    log: &mut AttemptLog,
    h: ResponseHeader,
    body: Bytes,
) -> Result<(), ClientGone> {
    let status = h.status.as_u16();
    // A request whose body was never read leaves bytes on the connection: do not reuse it.
    if !ex.down.as_downstream_mut().is_body_done() {
        ex.down.set_keepalive(None);
    }
    ex.write_header(h).await?;
    started(log, status);
    log.bytes_out += body.len() as u64;
    ex.write_body(Some(body), true).await
}

/// Answer with a response a stage or a surface gave.
pub(super) async fn answer(ex: &mut Exchange<'_>, log: &mut AttemptLog, resp: Response) -> Outcome {
    let Ok(mut h) = ResponseHeader::build_no_case(resp.status, Some(3)) else {
        return Outcome::Aborted;
    };
    if h.insert_header(http::header::CONTENT_TYPE, resp.content_type)
        .and_then(|_| h.insert_header(http::header::CONTENT_LENGTH, resp.body.len()))
        .is_err()
    {
        return Outcome::Aborted;
    }
    match write_all(ex, log, h, resp.body).await {
        Ok(()) => Outcome::Answered,
        Err(ClientGone) => Outcome::Aborted,
    }
}

/// Answer with an error in the envelope, before any response byte went out.
pub(super) async fn error(
    ex: &mut Exchange<'_>,
    log: &mut AttemptLog,
    envelope: Envelope,
    e: &GatewayError,
) -> Outcome {
    let body = e.body(envelope);
    let Ok(mut h) = ResponseHeader::build_no_case(e.status(), Some(5)) else {
        return Outcome::Aborted;
    };
    let ct = if e.is_upstream_body(envelope) {
        "application/json; charset=UTF-8"
    } else {
        "application/json"
    };
    let mut ok = h.insert_header(http::header::CONTENT_TYPE, ct).is_ok()
        && h.insert_header(http::header::CONTENT_LENGTH, body.len())
            .is_ok()
        && h.insert_header("x-gateway-attempts", log.attempts.len())
            .is_ok();
    if let Some(s) = e.retry_after_secs() {
        ok &= h.insert_header(http::header::RETRY_AFTER, s).is_ok();
    }
    if !ok {
        return Outcome::Aborted;
    }
    if e.kind().closes_connection() {
        // The body was not read: this connection cannot carry another request.
        ex.down.set_keepalive(None);
    }
    match write_all(ex, log, h, body).await {
        Ok(()) => Outcome::Answered,
        Err(ClientGone) => Outcome::Aborted,
    }
}
