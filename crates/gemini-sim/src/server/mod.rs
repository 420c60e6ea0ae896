//! The Pingora `ProxyHttp` service: every request is answered inside `request_filter` — routing,
//! the exchange with the client and its plain answers here; the Gemini API in [`api`], its
//! generated answers in [`answers`], the `/_sim/*` control API in [`control`].

mod answers;
mod api;
mod control;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use serde_json::Value;

use crate::calls::PlannedCall;
use crate::catalog::{self, ModelInfo};
use crate::content;
use crate::fault::FaultAction;
use crate::quota::{Clock, Family, Limit, Violation};
use crate::state::{RecordedRequest, Shared};
use crate::wire::{self, Detail, QuotaViolation};

/// Bodies larger than this are not read: the connection is dropped.
const READ_CAP: usize = 64 << 20;
/// Google's inline request limit; larger bodies get 400.
const PAYLOAD_LIMIT: usize = 20 << 20;
/// Bodies up to this size are kept parsed in the recorded request.
const RECORD_BODY_LIMIT: usize = 1 << 20;
/// Default embedding size and the largest accepted `outputDimensionality`.
const DEFAULT_DIM: usize = 768;
const MAX_DIM: usize = 3072;

/// The simulator as a Pingora proxy application.
pub(crate) struct SimProxy {
    shared: Arc<Shared>,
}

impl SimProxy {
    pub(crate) fn new(shared: Arc<Shared>) -> SimProxy {
        SimProxy { shared }
    }
}

/// Per-request context.
#[derive(Default)]
pub(crate) struct Ctx {
    /// The error that ends this request is deliberate (fault) or the client left: write nothing, log nothing.
    quiet: bool,
}

#[async_trait]
impl ProxyHttp for SimProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        Err(Error::explain(
            ErrorType::InternalError,
            "gemini-sim answers every request itself",
        ))
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let mut ex = Exchange {
            s: session,
            sh: &self.shared,
            ctx,
        };
        ex.handle().await?;
        Ok(true)
    }

    async fn fail_to_proxy(
        &self,
        _session: &mut Session,
        _e: &Error,
        _ctx: &mut Ctx,
    ) -> FailToProxy {
        // Never write anything after a failure: a fault cut/reset must look like a dropped
        // connection, and a client that left cannot be answered anyway.
        FailToProxy {
            error_code: 0,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, _error: &Error) -> bool {
        ctx.quiet
    }
}

/// A parsed request line + headers + body.
struct Req {
    method: String,
    path: String,
    query: Option<String>,
    api_key: Option<String>,
    body: Bytes,
}

impl Req {
    fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Where a Gemini API path leads.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    ListModels,
    GetModel(String),
    Call { model: String, method: String },
    Unknown,
}

/// `/v1beta/models/{m}:{method}` and friends; returns the API version and the route.
fn parse_route(path: &str) -> (String, Route) {
    let trimmed = path.trim_start_matches('/');
    let (version, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if !matches!(version, "v1beta" | "v1" | "v1alpha") {
        return (version.to_owned(), Route::Unknown);
    }
    let route = if rest == "models" || rest == "models/" {
        Route::ListModels
    } else if let Some(m) = rest.strip_prefix("models/") {
        match m.split_once(':') {
            Some((model, method)) if !model.is_empty() && !model.contains('/') => Route::Call {
                model: model.to_owned(),
                method: method.to_owned(),
            },
            None if !m.is_empty() && !m.contains('/') => Route::GetModel(m.to_owned()),
            _ => Route::Unknown,
        }
    } else {
        Route::Unknown
    };
    (version.to_owned(), route)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a streamed answer is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamMode {
    Sse,
    Array,
}

/// What the answer to a generate request is.
enum Answer {
    Text {
        text: String,
        finish: &'static str,
    },
    /// One or more (parallel) function calls.
    Calls(Vec<PlannedCall>),
}

/// One request being answered.
struct Exchange<'a> {
    s: &'a mut Session,
    sh: &'a Shared,
    ctx: &'a mut Ctx,
}

impl Exchange<'_> {
    /// An error that drops the connection without writing anything more.
    fn drop_conn(&mut self, why: &'static str) -> Box<Error> {
        self.ctx.quiet = true;
        Error::explain(ErrorType::ConnectionClosed, why)
    }

    /// The client went away: count it and drop quietly.
    fn gone(&mut self, e: Box<Error>) -> Box<Error> {
        self.sh.note_cancelled();
        self.ctx.quiet = true;
        e
    }

    /// Wait `d` (forever when None); true if the client left meanwhile.
    async fn client_left_within(&mut self, d: Option<Duration>) -> bool {
        let watch = self.s.as_downstream_mut().read_body_or_idle(true);
        match d {
            None => {
                let _ = watch.await;
                true
            }
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => false,
                    _ = watch => true,
                }
            }
        }
    }

    fn header(status: u16, content_type: &str) -> Result<ResponseHeader> {
        let mut h = ResponseHeader::build(status, Some(10))?;
        h.insert_header("content-type", content_type)?;
        h.append_header("vary", "Origin")?;
        h.append_header("vary", "X-Origin")?;
        h.append_header("vary", "Referer")?;
        h.insert_header("server", "gemini-sim")?;
        h.insert_header("x-content-type-options", "nosniff")?;
        h.insert_header("x-frame-options", "SAMEORIGIN")?;
        h.insert_header("x-xss-protection", "0")?;
        Ok(h)
    }

    /// A complete answer with a content-length.
    async fn send(&mut self, status: u16, content_type: &str, body: Vec<u8>) -> Result<()> {
        let mut h = Self::header(status, content_type)?;
        h.insert_header("content-length", body.len().to_string())?;
        if let Err(e) = self.s.write_response_header(Box::new(h), false).await {
            return Err(self.gone(e));
        }
        if let Err(e) = self
            .s
            .write_response_body(Some(Bytes::from(body)), true)
            .await
        {
            return Err(self.gone(e));
        }
        Ok(())
    }

    /// A JSON answer, or (with a cut fault) its first half then a dropped connection.
    async fn send_json(&mut self, status: u16, body: Vec<u8>, cut: Option<u32>) -> Result<()> {
        if cut.is_none() {
            return self
                .send(status, "application/json; charset=UTF-8", body)
                .await;
        }
        let mut h = Self::header(status, "application/json; charset=UTF-8")?;
        h.insert_header("transfer-encoding", "chunked")?;
        if let Err(e) = self.s.write_response_header(Box::new(h), false).await {
            return Err(self.gone(e));
        }
        let mut body = body;
        body.truncate(body.len() / 2);
        if let Err(e) = self
            .s
            .write_response_body(Some(Bytes::from(body)), false)
            .await
        {
            return Err(self.gone(e));
        }
        Err(self.drop_conn("gemini-sim fault: cut after half a body"))
    }

    /// A Google-shaped error.
    async fn send_error(&mut self, code: u16, message: &str, details: Vec<Detail>) -> Result<()> {
        let body = wire::error_body(code, message, details);
        self.send(code, "application/json; charset=UTF-8", body)
            .await
    }

    async fn invalid_argument(&mut self, message: &str) -> Result<()> {
        self.send_error(400, message, vec![Detail::bad_request(message)])
            .await
    }

    async fn invalid_key(&mut self) -> Result<()> {
        let msg = "API key not valid. Please pass a valid API key.";
        self.send_error(
            400,
            msg,
            vec![
                Detail::error_info("API_KEY_INVALID", &[]),
                Detail::localized(msg),
            ],
        )
        .await
    }

    async fn read_body(&mut self) -> Result<Bytes> {
        let mut buf = BytesMut::new();
        loop {
            match self.s.read_request_body().await {
                Ok(Some(chunk)) => {
                    buf.extend_from_slice(&chunk);
                    if buf.len() > READ_CAP {
                        return Err(self.drop_conn("gemini-sim: request body over the read cap"));
                    }
                }
                Ok(None) => return Ok(buf.freeze()),
                Err(e) => {
                    self.ctx.quiet = true;
                    return Err(e);
                }
            }
        }
    }

    async fn handle(&mut self) -> Result<()> {
        let hdr = self.s.req_header();
        let method = hdr.method.as_str().to_owned();
        let version = format!("{:?}", hdr.version);
        let path = percent_decode(hdr.uri.path());
        let query = hdr.uri.query().map(str::to_owned);
        let record = self.sh.cfg.record;
        let headers: Vec<(String, String)> = if record {
            hdr.headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let header_key = hdr
            .headers
            .get("x-goog-api-key")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
            .filter(|k| !k.is_empty());
        let body = self.read_body().await?;
        let mut req = Req {
            method,
            path,
            query,
            api_key: header_key,
            body,
        };
        if req.path == "/_sim" || req.path.starts_with("/_sim/") {
            return control::control(self, &req).await;
        }
        if req.api_key.is_none() {
            req.api_key = req.query_param("key").filter(|k| !k.is_empty());
        }
        self.sh.note_call(req.api_key.as_deref());
        if record {
            self.sh.record(RecordedRequest {
                method: req.method.clone(),
                version,
                path: req.path.clone(),
                query: req.query.clone(),
                api_key: req.api_key.clone(),
                headers,
                body_len: req.body.len(),
                body_sha256: content::sha256_hex(&req.body),
                body: (req.body.len() <= RECORD_BODY_LIMIT)
                    .then(|| serde_json::from_slice(&req.body).ok())
                    .flatten(),
            });
        }
        tracing::debug!(method = %req.method, path = %req.path, key = ?req.api_key, "gemini-sim request");
        self.gemini(&req).await
    }
}

#[cfg(test)]
mod tests {
    use super::answers::upper_first;
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/v1beta/models").1, Route::ListModels);
        assert_eq!(
            parse_route("/v1/models/gemini-2.5-flash").1,
            Route::GetModel("gemini-2.5-flash".into())
        );
        assert_eq!(
            parse_route("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            (
                "v1beta".into(),
                Route::Call {
                    model: "gemini-2.5-flash".into(),
                    method: "streamGenerateContent".into()
                }
            )
        );
        assert_eq!(parse_route("/v2/models").1, Route::Unknown);
        assert_eq!(parse_route("/v1beta/tunedModels/x").1, Route::Unknown);
        assert_eq!(parse_route("/v1beta/models/a/b").1, Route::Unknown);
    }

    #[test]
    fn decoding() {
        assert_eq!(
            percent_decode("/m/x%3AgenerateContent"),
            "/m/x:generateContent"
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(upper_first("countTokens"), "CountTokens");
    }
}
