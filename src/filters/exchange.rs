//! Upstream exchange stage: builds each attempt's upstream request (key only in `x-goog-api-key`)
//! and the response header the client gets.

use crate::error::GatewayError;
use crate::pipeline::ctx::{Framing, ReqCtx};
use crate::pipeline::{Attempt, Filter};
use crate::state::AppState;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use std::sync::Arc;

/// The exchange stage.
pub struct Exchange {
    state: Arc<AppState>,
}

impl Exchange {
    pub fn new(state: &Arc<AppState>) -> Self {
        Exchange {
            state: state.clone(),
        }
    }
}

impl Filter for Exchange {
    fn name(&self) -> &'static str {
        "exchange"
    }

    fn on_attempt(&self, ctx: &mut ReqCtx, attempt: &mut Attempt) -> Result<(), GatewayError> {
        let (Some(up), Some(key)) = (&ctx.upstream, attempt.key) else {
            return Ok(());
        };
        let Some(pool_key) = self.state.pool.get(key) else {
            return Err(GatewayError::internal("selected key does not exist"));
        };
        let client = &self.state.upstream;
        let path = client.path(&up.resource, up.query.as_deref());
        let req = client
            .request_header(
                &up.method,
                &path,
                pool_key.header_value(),
                up.body.as_ref().map(|b| b.len()),
            )
            .map_err(|_| GatewayError::internal("could not build the upstream request"))?;
        attempt.request = Some(req);
        Ok(())
    }

    fn on_response_header(
        &self,
        ctx: &mut ReqCtx,
        upstream: &ResponseHeader,
        resp: &mut ResponseHeader,
    ) -> Result<(), GatewayError> {
        let framing = ctx.upstream.as_ref().map_or(Framing::Json, |u| u.framing);
        let ct = upstream.headers.get(http::header::CONTENT_TYPE).cloned();
        let put = |r: &mut ResponseHeader, k: &'static str, v: HeaderValue| {
            r.insert_header(k, v)
                .map_err(|_| GatewayError::internal("response header"))
        };
        let set = |r: &mut ResponseHeader, k: &'static str, v: &'static str| {
            put(r, k, HeaderValue::from_static(v))
        };
        match (framing, ct) {
            (Framing::Sse, _) => set(resp, "content-type", "text/event-stream")?,
            (_, Some(ct)) => put(resp, "content-type", ct)?,
            (_, None) => set(resp, "content-type", "application/json; charset=UTF-8")?,
        }
        // Streams are sent chunked so each event is flushed as it arrives; a plain JSON answer keeps its length.
        match (framing, upstream.headers.get(http::header::CONTENT_LENGTH)) {
            (Framing::Json, Some(cl)) => put(resp, "content-length", cl.clone())?,
            _ => set(resp, "transfer-encoding", "chunked")?,
        }
        if framing == Framing::Sse {
            set(resp, "cache-control", "no-cache")?;
            set(resp, "x-accel-buffering", "no")?;
        }
        if let Some(k) = ctx.key.and_then(|k| self.state.pool.get(k)) {
            put(resp, "x-gateway-key", k.fingerprint_header().clone())?;
        }
        put(
            resp,
            "x-gateway-attempts",
            HeaderValue::from(ctx.attempts.len()),
        )?;
        Ok(())
    }
}
