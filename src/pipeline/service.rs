//! The only `ProxyHttp` implementation: it dispatches every request to the pipeline and nothing else.

use super::attempt::{self, Abort};
use super::ctx::ReqCtx;
use super::{Flow, Pipeline, Response};
use crate::error::{GatewayError, Surface};
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::sync::Arc;

/// The gateway service handed to Pingora.
pub struct GatewayProxy {
    pub pipeline: Arc<Pipeline>,
}

impl Pipeline {
    /// Run a request through the chain and the attempt loop, answering it one way or another.
    pub async fn handle(
        &self,
        session: &mut Session,
        ctx: &mut ReqCtx,
    ) -> std::result::Result<(), Abort> {
        ctx.surface = Surface::of_path(session.req_header().uri.path());
        let outcome = match self.check_headers(session) {
            Ok(()) => self.run(session, ctx).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(r) => r,
            Err(e) => {
                let r = if ctx.response_started {
                    Err(Abort::Connection)
                } else {
                    write_error(session, ctx, &e).await
                };
                ctx.error = Some(e);
                r
            }
        }
    }

    /// Refuse a request whose header block is over `limits.max_header_bytes` or has more than
    /// `limits.max_headers` fields (431, before any stage runs). Larger than the HTTP parser's own
    /// limits (256 fields, 1 MiB) never gets here: Pingora answers those with a bare 400.
    fn check_headers(&self, session: &Session) -> std::result::Result<(), GatewayError> {
        let l = &self.state.config.limits;
        let req = session.req_header();
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
                431,
                "header_too_large",
                format!(
                    "Request headers too large: {count} fields, {size} bytes (the gateway accepts at most {} fields and {} bytes).",
                    l.max_headers, l.max_header_bytes
                ),
            ));
        }
        Ok(())
    }

    async fn run(
        &self,
        session: &mut Session,
        ctx: &mut ReqCtx,
    ) -> std::result::Result<std::result::Result<(), Abort>, GatewayError> {
        for f in &self.filters {
            if let Flow::Respond(resp) = f.on_request(session, ctx).await? {
                return Ok(write_response(session, ctx, resp).await);
            }
        }
        attempt::run(self, session, ctx).await
    }

    /// The end-of-request hooks; runs exactly once per request.
    pub fn finish(&self, ctx: &mut ReqCtx) {
        for f in self.filters.iter().rev() {
            f.on_finish(ctx);
        }
        self.record_metrics(ctx);
        self.access_log(ctx);
    }

    /// Request counters and latency histograms; labels are bounded (known models only).
    fn record_metrics(&self, ctx: &ReqCtx) {
        let m = &self.state.metrics;
        let surface = match ctx.surface {
            Surface::Gemini => "gemini",
            Surface::OpenAi => "openai",
            Surface::Plain => "other",
        };
        let route = match (&ctx.openai, &ctx.upstream) {
            (Some(o), _) => o.route(),
            (None, Some(u)) => u.resource.label(),
            (None, None) => "none",
        };
        let route = match route {
            "generateContent"
            | "streamGenerateContent"
            | "countTokens"
            | "embedContent"
            | "batchEmbedContents"
            | "models"
            | "chat.completions"
            | "embeddings"
            | "none" => route,
            _ => "other",
        };
        let label;
        let model = match (&ctx.bucket, ctx.model.as_deref()) {
            (Some(b), _) => &**b,
            (None, m) => {
                label = self.state.catalog.label(m);
                &*label
            }
        };
        m.requests
            .with_label_values(&[
                surface,
                route,
                model,
                crate::metrics::status_class(ctx.status),
            ])
            .inc();
        if let Some(e) = &ctx.error {
            m.errors.with_label_values(&[surface, e.kind]).inc();
        }
        m.duration
            .with_label_values(&[surface])
            .observe(ctx.started.elapsed().as_secs_f64());
        if let (Some(first), Some(up)) = (ctx.first_byte, ctx.upstream_ttfb) {
            m.overhead
                .with_label_values(&[surface])
                .observe(first.saturating_sub(up).as_secs_f64());
        }
    }

    /// One line per request; keys appear only as fingerprints, clients as credential fingerprints.
    fn access_log(&self, ctx: &ReqCtx) {
        if !tracing::enabled!(target: "access", tracing::Level::INFO) {
            return;
        }
        let attempts: Vec<String> = ctx
            .attempts
            .iter()
            .map(|a| {
                let fp = self.state.pool.get(a.key).map_or("?", |k| k.fingerprint());
                match a.status {
                    Some(s) => format!("{fp}:{s}:{}", a.outcome),
                    None => format!("{fp}:{}", a.outcome),
                }
            })
            .collect();
        let usage = ctx.usage.unwrap_or_default();
        tracing::info!(
            target: "access",
            client = ctx.client.as_ref().map_or("-", |c| &*c.id),
            ip = %ctx.client_ip.map_or_else(|| "-".to_string(), |i| i.to_string()),
            route = %ctx.upstream.as_ref().map_or_else(|| "-".to_string(), |u| u.resource.to_string()),
            status = ctx.status,
            error = ctx.error.as_ref().map_or("", |e| e.kind),
            attempts = %attempts.join(","),
            ms = ctx.started.elapsed().as_millis() as u64,
            prompt_tokens = usage.prompt,
            output_tokens = usage.candidates + usage.thoughts,
            cancelled = ctx.cancelled,
            midstream_error = ctx.midstream_error.unwrap_or(""),
            "request"
        );
    }
}

async fn write_response(
    session: &mut Session,
    ctx: &mut ReqCtx,
    resp: Response,
) -> std::result::Result<(), Abort> {
    let mut h =
        ResponseHeader::build_no_case(resp.status, Some(3)).map_err(|_| Abort::Connection)?;
    h.insert_header(http::header::CONTENT_TYPE, resp.content_type)
        .map_err(|_| Abort::Connection)?;
    h.insert_header(http::header::CONTENT_LENGTH, resp.body.len())
        .map_err(|_| Abort::Connection)?;
    send(session, ctx, h, resp.body).await
}

/// Write an error in the request's surface envelope.
pub async fn write_error(
    session: &mut Session,
    ctx: &mut ReqCtx,
    e: &GatewayError,
) -> std::result::Result<(), Abort> {
    let body = e.body(ctx.surface);
    let mut h = ResponseHeader::build_no_case(e.status, Some(5)).map_err(|_| Abort::Connection)?;
    let ct = if ctx.surface == Surface::Gemini && e.upstream_body.is_some() {
        "application/json; charset=UTF-8"
    } else {
        "application/json"
    };
    h.insert_header(http::header::CONTENT_TYPE, ct)
        .map_err(|_| Abort::Connection)?;
    h.insert_header(http::header::CONTENT_LENGTH, body.len())
        .map_err(|_| Abort::Connection)?;
    if let Some(s) = e.retry_after_secs() {
        h.insert_header(http::header::RETRY_AFTER, s)
            .map_err(|_| Abort::Connection)?;
    }
    h.insert_header("x-gateway-attempts", ctx.attempts.len())
        .map_err(|_| Abort::Connection)?;
    if e.status == 413 {
        // The body was not read: this connection cannot carry another request.
        session.set_keepalive(None);
    }
    send(session, ctx, h, body).await
}

async fn send(
    session: &mut Session,
    ctx: &mut ReqCtx,
    h: ResponseHeader,
    body: Bytes,
) -> std::result::Result<(), Abort> {
    ctx.status = h.status.as_u16();
    // A request whose body was never read leaves bytes on the connection: do not reuse it.
    if !session.as_downstream_mut().is_body_done() {
        session.set_keepalive(None);
    }
    session
        .write_response_header(Box::new(h), false)
        .await
        .map_err(|_| Abort::Connection)?;
    ctx.response_started = true;
    session
        .write_response_body(Some(body), true)
        .await
        .map_err(|_| Abort::Connection)
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = ReqCtx;

    fn new_ctx(&self) -> ReqCtx {
        ReqCtx {
            inflight: Some(self.pipeline.state.drain.enter()),
            ..ReqCtx::default()
        }
    }

    /// Every request is answered here by the pipeline; `Ok(true)` tells Pingora it was answered.
    /// An `Err` makes Pingora drop the client connection without finishing the body.
    async fn request_filter(&self, session: &mut Session, ctx: &mut ReqCtx) -> Result<bool> {
        // HTTP/1.1 pipelining (RFC 9112 §9.3.2): a request sent before the previous answer is
        // kept and served next, in order, instead of the connection being dropped.
        session.as_downstream_mut().set_pipelining_enabled(true);
        match self.pipeline.handle(session, ctx).await {
            Ok(()) => Ok(true),
            Err(Abort::Connection) => Err(Error::explain(
                ErrorType::ConnectionClosed,
                "request aborted",
            )),
        }
    }

    /// Never reached: the pipeline answers every request in `request_filter`.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut ReqCtx,
    ) -> Result<Box<HttpPeer>> {
        Err(Error::explain(
            ErrorType::InternalError,
            "the pipeline answers every request",
        ))
    }

    /// Called only for an aborted request: write nothing more, and close the connection.
    async fn fail_to_proxy(
        &self,
        _session: &mut Session,
        _e: &Error,
        ctx: &mut ReqCtx,
    ) -> FailToProxy {
        FailToProxy {
            error_code: ctx.status,
            can_reuse_downstream: false,
        }
    }

    /// Aborts are logged by the pipeline with context; Pingora's own line would only repeat it.
    fn suppress_error_log(&self, _session: &Session, _ctx: &ReqCtx, _error: &Error) -> bool {
        true
    }

    /// Runs once per request: the end-of-request stages (usage, access log).
    async fn logging(&self, _session: &mut Session, _e: Option<&Error>, ctx: &mut ReqCtx) {
        self.pipeline.finish(ctx);
    }
}
