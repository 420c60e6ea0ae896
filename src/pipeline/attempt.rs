//! The one upstream attempt loop: choose a key, send, classify, let the retry policy decide —
//! another key, or stop — then hand a successful answer to the reply step.
//!
//! The pipeline owns this loop (not Pingora's proxy phases) because Pingora replays a request body
//! only from a 64 KiB buffer; here the body is a shared `Bytes` sent whole on every attempt.

use super::ctx::ReqCtx;
use super::exchange::{Exchange, Woke};
use super::log::{AttemptLog, AttemptRecord};
use super::route::Route;
use super::stage::StageState;
use super::{reply, Outcome, Pipeline};
use crate::error::{ErrorKind, GatewayError};
use crate::upstream::retry::{Exhausted, Next};
use crate::upstream::{classify_transport, Fault, KeyId, Pick};
use std::time::{Duration, Instant};

/// Largest upstream error body read for classification and pass-through.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The answer for a request still waiting for the upstream when the shutdown grace period ends.
pub(super) fn shutting_down() -> GatewayError {
    GatewayError::new(
        ErrorKind::ShuttingDown,
        "The gateway is shutting down; retry the request.",
    )
    .with_retry_after(Some(Duration::from_secs(1)))
}

/// Run attempts until one succeeds (then reply), the request fails for good, or the client leaves.
pub(super) async fn run(p: &Pipeline, ex: &mut Exchange<'_>, ctx: &mut ReqCtx) -> Outcome {
    let st = &p.state;
    let ReqCtx {
        route,
        log,
        stages,
        surface,
        ..
    } = ctx;
    let envelope = surface.envelope;
    let Some(route) = route.as_mut() else {
        return Outcome::Failed(GatewayError::internal("no route to send upstream"));
    };
    // Google said 404 for this model and method a moment ago: say it again without a key.
    if let Some(msg) = st
        .catalog
        .not_found(&route.upstream.resource, st.clock.now())
    {
        return Outcome::Failed(
            GatewayError::new(ErrorKind::ModelNotFound, &*msg).with_param("model"),
        );
    }
    log.bucket = route.model.as_deref().map(|m| st.catalog.bucket(m));
    // The model whose quota the attempts spend ("" when they spend none: listing, counting tokens).
    let quota_bucket = log.bucket.clone().filter(|_| route.quota.counts);
    let quota_model = quota_bucket.as_deref().unwrap_or("");
    let mut last_fault: Option<Fault> = None;
    loop {
        // Key selection: the scheduler's choice among keys this request has not tried.
        let tried: Vec<KeyId> = log.tried().collect();
        let (now, wall) = (st.clock.now(), st.clock.now_utc());
        let key = match st
            .pool
            .pick(quota_model, route.quota.est_tokens, &tried, now, wall)
        {
            Pick::Key(k) => k,
            Pick::Exhausted { retry_after, why } => {
                return Outcome::Failed(st.retry.out_of_keys(
                    last_fault.as_ref(),
                    Some(Exhausted {
                        model: quota_model,
                        retry_after,
                        why,
                        wall,
                    }),
                ))
            }
        };
        let Some(req) = st.pool.get(key).and_then(|k| {
            let u = &route.upstream;
            let path = st.upstream.path(&u.resource, u.query.as_deref());
            st.upstream
                .request_header(
                    &u.method,
                    &path,
                    k.header_value(),
                    u.body.as_ref().map(|b| b.len()),
                )
                .ok()
        }) else {
            return Outcome::Failed(GatewayError::internal(
                "could not build the upstream request",
            ));
        };
        let sent_at = Instant::now();
        let sent = ex.send(&req, route.upstream.body.as_ref()).await;
        if let Woke::Done(Ok(_)) = sent {
            let ttfb = sent_at.elapsed();
            log.upstream_ttfb = Some(ttfb);
            st.metrics.upstream_ttfb.observe(ttfb.as_secs_f64());
        }
        let fault = match sent {
            Woke::ClientGone => {
                log.cancelled = true;
                attempted(p, stages, log, route, key, None, "cancelled");
                return Outcome::Aborted;
            }
            Woke::ShuttingDown => {
                attempted(p, stages, log, route, key, None, "shutting_down");
                return Outcome::Failed(shutting_down());
            }
            Woke::Done(Err(e)) => {
                let fault = classify_transport(&e);
                tracing::debug!(error = %e, kind = fault.kind(), "upstream transport failure");
                (fault, None)
            }
            Woke::Done(Ok(status)) if status >= 400 => {
                let (body, complete) = match ex.read_all(MAX_ERROR_BODY).await {
                    Woke::Done(b) => b,
                    Woke::ClientGone => {
                        ex.release(false).await;
                        log.cancelled = true;
                        attempted(p, stages, log, route, key, Some(status), "cancelled");
                        return Outcome::Aborted;
                    }
                    Woke::ShuttingDown => {
                        ex.release(false).await;
                        attempted(p, stages, log, route, key, Some(status), "shutting_down");
                        return Outcome::Failed(shutting_down());
                    }
                };
                ex.release(complete).await;
                let fault = st
                    .retry
                    .classify(status, &body)
                    .unwrap_or(Fault::ServerError { status });
                (fault, Some((status, body)))
            }
            Woke::Done(Ok(status)) => {
                st.metrics.attempts.with_label_values(&["ok"]).inc();
                st.pool.report_success(key);
                if let Some(m) = route.model.as_deref() {
                    // Google answered for it: a real model, from now on with state of its own.
                    st.catalog.know(m);
                }
                attempted(p, stages, log, route, key, Some(status), "ok");
                return reply::send(p, ex, route, log, stages, status, envelope).await;
            }
        };
        let (fault, answer) = fault;
        let status = answer.as_ref().map(|(s, _)| *s);
        st.metrics.attempts.with_label_values(&[fault.kind()]).inc();
        st.pool
            .report_fault(key, quota_model, &fault, st.clock.now(), st.clock.now_utc());
        attempted(p, stages, log, route, key, status, fault.kind());
        if fault.is_retryable() {
            last_fault = Some(fault.clone());
        }
        match st.retry.after(&fault, log.attempts.len(), answer) {
            Next::Retry { after } => {
                if !after.is_zero() {
                    tokio::time::sleep(after).await;
                }
            }
            Next::Stop(e) => {
                if e.kind() == ErrorKind::ModelNotFound {
                    st.catalog.remember_not_found(
                        &route.upstream.resource,
                        e.message(),
                        st.clock.now(),
                    );
                }
                return Outcome::Failed(e);
            }
        }
    }
}

/// Record an attempt in the log and tell the stages.
fn attempted(
    p: &Pipeline,
    stages: &mut [StageState],
    log: &mut AttemptLog,
    route: &Route,
    key: KeyId,
    status: Option<u16>,
    outcome: &'static str,
) {
    let record = AttemptRecord {
        key,
        status,
        outcome,
    };
    for (s, state) in p.stages.iter().zip(stages.iter_mut()) {
        s.on_attempt(state, &record, route, log);
    }
    log.attempts.push(record);
}
