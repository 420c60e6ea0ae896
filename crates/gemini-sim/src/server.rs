//! The Pingora `ProxyHttp` service: every request is answered inside `request_filter`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use serde_json::Value;

use crate::catalog::{self, ModelInfo};
use crate::content::{self, PlannedCall};
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
            return control(self, &req).await;
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

    async fn gemini(&mut self, req: &Req) -> Result<()> {
        let (version, route) = parse_route(&req.path);
        if route == Route::Unknown {
            return self
                .send_error(
                    404,
                    &format!("Method not found: {} {}", req.method, req.path),
                    vec![],
                )
                .await;
        }

        // --- auth
        let sh = self.sh;
        let cfg = &sh.cfg;
        let Some(key) = req.api_key.clone() else {
            return self
                .send_error(
                    403,
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                    vec![],
                )
                .await;
        };
        let listed = |list: &[String]| list.contains(&key);
        if listed(&cfg.forbidden_keys) {
            let service_method = match &route {
                Route::Call { method, .. } => format!(
                    "google.ai.generativelanguage.{version}.GenerativeService.{}",
                    upper_first(method)
                ),
                _ => format!("google.ai.generativelanguage.{version}.ModelService.ListModels"),
            };
            let msg = format!(
                "Requests to this API {} method {service_method} are blocked.",
                wire::SERVICE
            );
            let details = vec![
                Detail::error_info(
                    "API_KEY_SERVICE_BLOCKED",
                    &[
                        ("methodName", service_method.clone()),
                        ("apiName", wire::SERVICE.to_owned()),
                        ("consumer", "projects/000000000000".to_owned()),
                    ],
                ),
                Detail::localized(&msg),
            ];
            return self.send_error(403, &msg, details).await;
        }
        if listed(&cfg.invalid_keys) || (!cfg.valid_keys.is_empty() && !listed(&cfg.valid_keys)) {
            return self.invalid_key().await;
        }

        // --- faults
        let model_id = match &route {
            Route::GetModel(m) | Route::Call { model: m, .. } => Some(m.as_str()),
            _ => None,
        };
        let mut cut = None;
        let mut stream_shape = (self.sh.cfg.stream_events, self.sh.cfg.stream_interval);
        if let Some(action) = self.sh.take_fault(Some(&key), model_id) {
            tracing::debug!(?action, "gemini-sim fault");
            match action {
                FaultAction::Status { code } => return self.status_fault(code).await,
                FaultAction::RateLimit { retry_delay_secs } => {
                    return self
                        .rate_limit_fault(&key, model_id, retry_delay_secs)
                        .await
                }
                FaultAction::QuotaDay => return self.quota_day_fault(&key, model_id).await,
                FaultAction::InvalidKey => return self.invalid_key().await,
                FaultAction::Hang => {
                    self.client_left_within(None).await;
                    self.sh.note_cancelled();
                    return Err(self.drop_conn("gemini-sim fault: hang, client left"));
                }
                FaultAction::SlowFirstByte { ms } => {
                    if self
                        .client_left_within(Some(Duration::from_millis(ms)))
                        .await
                    {
                        self.sh.note_cancelled();
                        return Err(self.drop_conn("gemini-sim: client left before the first byte"));
                    }
                }
                FaultAction::CutAfter { events } => cut = Some(events),
                FaultAction::Reset => return Err(self.drop_conn("gemini-sim fault: reset")),
                FaultAction::Stream {
                    events,
                    interval_ms,
                } => stream_shape = (events, Duration::from_millis(interval_ms)),
            }
        }

        match route {
            Route::ListModels => {
                if req.method != "GET" {
                    return self.method_not_allowed(req).await;
                }
                self.list_models(req, cut).await
            }
            Route::GetModel(id) => {
                if req.method != "GET" {
                    return self.method_not_allowed(req).await;
                }
                match catalog::find(&id) {
                    Some(m) => {
                        self.send_json(200, wire::to_pretty_json(&m.json()), cut)
                            .await
                    }
                    None => {
                        let msg = format!("models/{id} is not found for API version {version}, or is not supported for get. Call ListModels to see the list of available models and their supported methods.");
                        self.send_error(404, &msg, vec![]).await
                    }
                }
            }
            Route::Call { model, method } => {
                if req.method != "POST" {
                    return self.method_not_allowed(req).await;
                }
                let needs = match method.as_str() {
                    "generateContent" | "streamGenerateContent" => "generateContent",
                    "countTokens" => "countTokens",
                    "embedContent" | "batchEmbedContents" => "embedContent",
                    _ => {
                        return self
                            .send_error(404, &format!("Method not found: {method}"), vec![])
                            .await
                    }
                };
                let info = match catalog::find(&model) {
                    Some(m) if needs == "countTokens" || m.supports(needs) => m,
                    _ => {
                        let msg = format!("models/{model} is not found for API version {version}, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods.");
                        return self.send_error(404, &msg, vec![]).await;
                    }
                };
                if req.body.len() > PAYLOAD_LIMIT {
                    let msg =
                        format!("Request payload size exceeds the limit: {PAYLOAD_LIMIT} bytes.");
                    return self.invalid_argument(&msg).await;
                }
                let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
                    Value::Object(Default::default())
                } else {
                    match serde_json::from_slice(&req.body) {
                        Ok(v) => v,
                        Err(e) => {
                            let msg =
                                format!("Invalid JSON payload received. Unexpected token.\n{e}");
                            return self.invalid_argument(&msg).await;
                        }
                    }
                };
                if !body.is_object() {
                    let msg = format!("Invalid JSON payload received. Expected an object for the {method} request body.");
                    return self.invalid_argument(&msg).await;
                }
                match method.as_str() {
                    "generateContent" => {
                        self.generate(&key, info, &body, None, cut, stream_shape)
                            .await
                    }
                    "streamGenerateContent" => {
                        let mode = if req.query_param("alt").as_deref() == Some("sse") {
                            StreamMode::Sse
                        } else {
                            StreamMode::Array
                        };
                        self.generate(&key, info, &body, Some(mode), cut, stream_shape)
                            .await
                    }
                    "countTokens" => self.count_tokens(&body, cut).await,
                    "embedContent" => self.embed(&key, info, &body, false, cut).await,
                    _ => self.embed(&key, info, &body, true, cut).await,
                }
            }
            Route::Unknown => Ok(()),
        }
    }

    async fn method_not_allowed(&mut self, req: &Req) -> Result<()> {
        self.send_error(
            404,
            &format!("Method not found: {} {}", req.method, req.path),
            vec![],
        )
        .await
    }

    async fn status_fault(&mut self, code: u16) -> Result<()> {
        let code = if (200..=599).contains(&code) {
            code
        } else {
            500
        };
        let (message, details) = match code {
            400 => ("Request contains an invalid argument.", vec![]),
            401 => ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", vec![]),
            403 => ("The caller does not have permission", vec![]),
            404 => ("Requested entity was not found.", vec![]),
            429 => (
                "Resource has been exhausted (e.g. check quota).",
                vec![Detail::retry_info(60)],
            ),
            500 => ("An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", vec![]),
            503 => ("The model is overloaded. Please try again later.", vec![]),
            504 => ("Deadline expired before operation could complete.", vec![]),
            _ => ("Simulated error.", vec![]),
        };
        self.send_error(code, message, details).await
    }

    async fn rate_limit_fault(&mut self, key: &str, model: Option<&str>, secs: u64) -> Result<()> {
        let rpm = self
            .sh
            .quota_for(key)
            .and_then(|q| q.rpm)
            .map_or(10, u64::from);
        let v = Violation {
            limit: Limit::Rpm,
            value: rpm,
            wait: Duration::from_secs(secs),
        };
        let model = model.unwrap_or("gemini-2.5-flash").to_owned();
        self.quota_error(&model, Family::Generate, &[v]).await
    }

    async fn quota_day_fault(&mut self, key: &str, model: Option<&str>) -> Result<()> {
        let rpd = self
            .sh
            .quota_for(key)
            .and_then(|q| q.rpd)
            .map_or(250, u64::from);
        let v = Violation {
            limit: Limit::Rpd,
            value: rpd,
            wait: Clock::now().until_next_day,
        };
        let model = model.unwrap_or("gemini-2.5-flash").to_owned();
        self.quota_error(&model, Family::Generate, &[v]).await
    }

    /// 429 RESOURCE_EXHAUSTED with QuotaFailure, Help and an honest RetryInfo.
    async fn quota_error(
        &mut self,
        model: &str,
        family: Family,
        violations: &[Violation],
    ) -> Result<()> {
        let wait = violations
            .iter()
            .map(|v| v.wait)
            .max()
            .unwrap_or(Duration::from_secs(60));
        let mut message = String::from("You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. \n");
        let mut qv = Vec::new();
        for v in violations {
            let (metric, id) = family.ids(v.limit);
            message.push_str(&format!(
                "* Quota exceeded for metric: {metric}, limit: {}, model: {model}\n",
                v.value
            ));
            let mut dims = std::collections::BTreeMap::new();
            dims.insert("location", "global".to_owned());
            dims.insert("model", model.to_owned());
            qv.push(QuotaViolation {
                quota_metric: metric,
                quota_id: id,
                quota_dimensions: dims,
                quota_value: v.value.to_string(),
            });
        }
        message.push_str(&format!("Please retry in {:.9}s.", wait.as_secs_f64()));
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let details = vec![
            Detail::quota_failure(qv),
            Detail::rate_limit_help(),
            Detail::retry_info(secs),
        ];
        self.send_error(429, &message, details).await
    }

    /// Count the request against the key's quota; Err(()) after a 429 was sent.
    async fn admit(&mut self, key: &str, model: &str, family: Family, tokens: u64) -> Result<bool> {
        let Some(q) = self.sh.quota_for(key) else {
            return Ok(true);
        };
        let clock = Clock::now();
        let verdict = crate::state::lock(&self.sh.quotas).admit(key, model, &q, tokens, &clock);
        match verdict {
            Ok(()) => Ok(true),
            Err(v) => {
                self.quota_error(model, family, &v).await?;
                Ok(false)
            }
        }
    }

    async fn list_models(&mut self, req: &Req, cut: Option<u32>) -> Result<()> {
        let size_param = req
            .query_param("pageSize")
            .or_else(|| req.query_param("page_size"));
        let size = match size_param {
            None => 50,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if n <= 0 => 50,
                Ok(n) => usize::try_from(n.min(1000)).unwrap_or(1000),
                Err(_) => {
                    let msg = format!("Invalid value at 'page_size' (TYPE_INT32), \"{s}\"");
                    return self.invalid_argument(&msg).await;
                }
            },
        };
        let token = req
            .query_param("pageToken")
            .or_else(|| req.query_param("page_token"));
        let offset = match token.as_deref() {
            None | Some("") => 0,
            Some(t) => match catalog::parse_page_token(t) {
                Some(o) => o,
                None => return self.invalid_argument("Invalid page token.").await,
            },
        };
        let page = catalog::page(offset, size);
        self.send_json(200, wire::to_pretty_json(&page), cut).await
    }

    async fn count_tokens(&mut self, body: &Value, cut: Option<u32>) -> Result<()> {
        let inner = content::field(body, "generateContentRequest").unwrap_or(body);
        let count = content::count_request(inner);
        let resp = wire::CountTokensResponse {
            total_tokens: count.total(),
            prompt_tokens_details: count.details(),
        };
        self.send_json(200, wire::to_pretty_json(&resp), cut).await
    }

    async fn embed(
        &mut self,
        key: &str,
        info: &ModelInfo,
        body: &Value,
        batch: bool,
        cut: Option<u32>,
    ) -> Result<()> {
        let requests: Vec<&Value> = if batch {
            match content::field(body, "requests").and_then(Value::as_array) {
                Some(r) if !r.is_empty() => r.iter().collect(),
                _ => {
                    return self
                        .invalid_argument(
                            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
                        )
                        .await
                }
            }
        } else {
            vec![body]
        };
        let mut items = Vec::with_capacity(requests.len());
        let mut tokens = 0;
        for r in &requests {
            let Some(text) = content::embed_text(r) else {
                return self
                    .invalid_argument("* EmbedContentRequest.content: content is not specified\n")
                    .await;
            };
            let dim = match content::output_dimensionality(r) {
                None => DEFAULT_DIM,
                Some(d) if d >= 1 && d <= MAX_DIM as u64 => d as usize,
                Some(d) => {
                    let msg = format!("* EmbedContentRequest.output_dimensionality: {d} is out of range [1, {MAX_DIM}]\n");
                    return self.invalid_argument(&msg).await;
                }
            };
            tokens += content::text_tokens(&text);
            items.push((text, dim));
        }
        if !self.admit(key, info.id, Family::Embed, tokens).await? {
            return Ok(());
        }
        let mut embeddings: Vec<wire::Embedding> = items
            .iter()
            .map(|(t, d)| wire::Embedding {
                values: content::embedding(t, *d),
            })
            .collect();
        let out = if batch {
            wire::to_pretty_json(&wire::BatchEmbedResponse { embeddings })
        } else {
            let values = embeddings.pop().map(|e| e.values).unwrap_or_default();
            wire::to_pretty_json(&wire::EmbedResponse {
                embedding: wire::Embedding { values },
            })
        };
        self.send_json(200, out, cut).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn generate(
        &mut self,
        key: &str,
        info: &ModelInfo,
        body: &Value,
        stream: Option<StreamMode>,
        cut: Option<u32>,
        shape: (u32, Duration),
    ) -> Result<()> {
        if content::contents(body).is_empty() {
            return self
                .invalid_argument("* GenerateContentRequest.contents: contents is not specified\n")
                .await;
        }
        let prompt = content::count_request(body);
        if !self
            .admit(key, info.id, Family::Generate, prompt.total())
            .await?
        {
            return Ok(());
        }
        let calls = content::plan_function_calls(body);
        let answer = if !calls.is_empty() {
            Answer::Calls(calls)
        } else {
            let mut text = match &self.sh.cfg.reply_text {
                Some(t) => t.clone(),
                None => content::default_reply(body),
            };
            let finish = match content::max_output_tokens(body) {
                Some(max) if content::truncate_to_tokens(&mut text, max) => "MAX_TOKENS",
                _ => "STOP",
            };
            Answer::Text { text, finish }
        };
        let seed = self.sh.next_seed();
        let chunks = build_chunks(info, &prompt, &answer, seed, stream.map(|_| shape.0));
        match stream {
            None => {
                let body = chunks.first().map(wire::to_pretty_json).unwrap_or_default();
                self.send_json(200, body, cut).await
            }
            Some(mode) => self.stream(mode, &chunks, shape.1, cut).await,
        }
    }

    async fn stream(
        &mut self,
        mode: StreamMode,
        chunks: &[wire::GenerateResponse],
        interval: Duration,
        cut: Option<u32>,
    ) -> Result<()> {
        let content_type = match mode {
            StreamMode::Sse => "text/event-stream",
            StreamMode::Array => "application/json; charset=UTF-8",
        };
        let mut h = Self::header(200, content_type)?;
        h.insert_header("content-disposition", "attachment")?;
        h.insert_header("transfer-encoding", "chunked")?;
        if let Err(e) = self.s.write_response_header(Box::new(h), false).await {
            return Err(self.gone(e));
        }
        for (i, chunk) in chunks.iter().enumerate() {
            if cut.is_some_and(|n| i >= n as usize) {
                return Err(self.drop_conn("gemini-sim fault: cut mid-stream"));
            }
            if i > 0 && !interval.is_zero() && self.client_left_within(Some(interval)).await {
                self.sh.note_cancelled();
                return Err(self.drop_conn("gemini-sim: client left between events"));
            }
            let bytes = match mode {
                StreamMode::Sse => wire::sse_event(chunk),
                StreamMode::Array => {
                    let mut b = if i == 0 {
                        b"[".to_vec()
                    } else {
                        b",\r\n".to_vec()
                    };
                    b.extend_from_slice(&serde_json::to_vec_pretty(chunk).unwrap_or_default());
                    b
                }
            };
            if let Err(e) = self
                .s
                .write_response_body(Some(Bytes::from(bytes)), false)
                .await
            {
                return Err(self.gone(e));
            }
            self.sh.note_event();
        }
        if cut.is_some() {
            return Err(self.drop_conn("gemini-sim fault: cut before the end of the stream"));
        }
        let tail = match mode {
            StreamMode::Sse => None,
            StreamMode::Array => Some(Bytes::from_static(b"]")),
        };
        if let Err(e) = self.s.write_response_body(tail, true).await {
            return Err(self.gone(e));
        }
        Ok(())
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The answer as one full response (`events == None`) or as stream chunks.
fn build_chunks(
    info: &ModelInfo,
    prompt: &content::TokenCount,
    answer: &Answer,
    seed: u64,
    events: Option<u32>,
) -> Vec<wire::GenerateResponse> {
    let response_id = content::response_id(seed);
    let make = |parts: Vec<wire::Part>, finish: Option<&'static str>, candidates: u64| {
        wire::GenerateResponse {
            candidates: vec![wire::Candidate {
                content: wire::Content {
                    parts,
                    role: "model",
                },
                finish_reason: finish,
                index: 0,
            }],
            usage_metadata: wire::Usage {
                prompt_token_count: prompt.total(),
                candidates_token_count: candidates,
                total_token_count: prompt.total() + candidates,
                prompt_tokens_details: prompt.details(),
            },
            model_version: info.id.to_owned(),
            response_id: response_id.clone(),
        }
    };
    match answer {
        Answer::Text { text, finish } => {
            let n = events.unwrap_or(1).max(1);
            let pieces = content::split_text(text, n);
            let last = pieces.len().saturating_sub(1);
            let mut so_far = String::new();
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, piece)| {
                    so_far.push_str(&piece);
                    let fin = (i == last).then_some(*finish);
                    make(
                        vec![wire::Part::Text { text: piece }],
                        fin,
                        content::text_tokens(&so_far),
                    )
                })
                .collect()
        }
        Answer::Calls(calls) => {
            // Gemini 3: each call has an id; only the first part carries the thought signature.
            let gemini3 = info.is_gemini3();
            let parts: Vec<wire::Part> = calls
                .iter()
                .enumerate()
                .map(|(i, call)| wire::Part::Call {
                    function_call: wire::FunctionCall {
                        name: call.name.clone(),
                        args: call.args.clone(),
                        id: gemini3.then(|| content::call_id(seed.wrapping_add(i as u64))),
                    },
                    thought_signature: (gemini3 && i == 0)
                        .then(|| content::thought_signature(seed)),
                })
                .collect();
            let tokens = calls
                .iter()
                .map(|c| content::text_tokens(&format!("{}{}", c.name, c.args)).max(1))
                .sum::<u64>();
            if events.unwrap_or(1) <= 1 {
                vec![make(parts, Some("STOP"), tokens)]
            } else {
                // streamed: one call per event, then an empty text part with the finish reason
                let mut out: Vec<wire::GenerateResponse> = parts
                    .into_iter()
                    .map(|p| make(vec![p], None, tokens))
                    .collect();
                out.push(make(
                    vec![wire::Part::Text {
                        text: String::new(),
                    }],
                    Some("STOP"),
                    tokens,
                ));
                out
            }
        }
    }
}

/// The `/_sim/*` control API.
async fn control(ex: &mut Exchange<'_>, req: &Req) -> Result<()> {
    let json = |v: &Value| wire::to_pretty_json(v);
    let route = req.path.trim_end_matches('/');
    match (req.method.as_str(), route) {
        ("POST", "/_sim/faults") => {
            let parsed: std::result::Result<Value, _> = serde_json::from_slice(&req.body);
            let rules: std::result::Result<Vec<crate::FaultRule>, String> = match parsed {
                Ok(Value::Array(a)) => a
                    .into_iter()
                    .map(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
                    .collect(),
                Ok(v) => serde_json::from_value(v)
                    .map(|r| vec![r])
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match rules {
                Ok(rules) => {
                    let n = rules.len();
                    for r in rules {
                        ex.sh.add_fault(r);
                    }
                    let body = serde_json::json!({"added": n, "active": ex.sh.faults().len()});
                    ex.send(200, "application/json", json(&body)).await
                }
                Err(e) => {
                    ex.send_error(400, &format!("Invalid fault rule: {e}"), vec![])
                        .await
                }
            }
        }
        ("DELETE", "/_sim/faults") => {
            let n = ex.sh.clear_faults();
            ex.send(
                200,
                "application/json",
                json(&serde_json::json!({"cleared": n})),
            )
            .await
        }
        ("GET", "/_sim/faults") => {
            ex.send(
                200,
                "application/json",
                wire::to_pretty_json(&ex.sh.faults()),
            )
            .await
        }
        ("GET", "/_sim/requests") => {
            ex.send(
                200,
                "application/json",
                wire::to_pretty_json(&ex.sh.requests()),
            )
            .await
        }
        ("GET", "/_sim/stats") => {
            ex.send(
                200,
                "application/json",
                wire::to_pretty_json(&ex.sh.stats()),
            )
            .await
        }
        ("POST", "/_sim/reset") => {
            ex.sh.reset();
            ex.send(
                200,
                "application/json",
                json(&serde_json::json!({"reset": true})),
            )
            .await
        }
        _ => {
            ex.send_error(
                404,
                &format!("No control endpoint {} {}", req.method, req.path),
                vec![],
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
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
