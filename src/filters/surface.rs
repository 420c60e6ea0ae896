//! Surface stage: routes the Gemini-native API (`/v2`, `/v1beta`), reads and checks the body (size cap, JSON).

use crate::error::{GatewayError, Surface};
use crate::model::{Method, ModelId, Resource};
use crate::pipeline::ctx::{Framing, ReqCtx, UpstreamRequest};
use crate::pipeline::{Filter, Flow};
use crate::state::AppState;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use std::sync::Arc;

/// A parsed Gemini-native route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeRoute {
    ListModels,
    GetModel { model: ModelId },
    Call { model: ModelId, method: Method },
}

/// The surface stage.
pub struct SurfaceStage {
    max_body: usize,
}

impl SurfaceStage {
    pub fn new(state: &Arc<AppState>) -> Self {
        SurfaceStage {
            max_body: state.config.limits.max_body_bytes,
        }
    }
}

/// A model id from the path, or a 400 naming `model`.
fn path_model(raw: &str) -> Result<ModelId, GatewayError> {
    ModelId::parse(raw)
        .map_err(|e| GatewayError::bad_request(e.message().to_string()).with_param("model"))
}

/// Parse the part of the path after `/v2/` or `/v1beta/`.
pub fn parse_native(rest: &str, method: &http::Method) -> Result<NativeRoute, GatewayError> {
    let rest = rest.trim_end_matches('/');
    if rest == "models" {
        return if method == http::Method::GET {
            Ok(NativeRoute::ListModels)
        } else {
            Err(GatewayError::method_not_allowed(
                "models supports GET only.",
            ))
        };
    }
    let Some(spec) = rest.strip_prefix("models/") else {
        return Err(GatewayError::not_found(format!(
            "Unknown Gemini API route {rest:?}."
        )));
    };
    match spec.split_once(':') {
        None => {
            let model = path_model(spec)?;
            if method != http::Method::GET {
                return Err(GatewayError::method_not_allowed(
                    "models/{model} supports GET only.",
                ));
            }
            Ok(NativeRoute::GetModel { model })
        }
        Some((model, m)) => {
            let model = path_model(model)?;
            let Some(m) = Method::from_path(m) else {
                return Err(GatewayError::not_found(format!(
                    "Unknown method {m:?} on models/{model}."
                )));
            };
            if method != http::Method::POST {
                return Err(GatewayError::method_not_allowed(format!(
                    "{} requires POST.",
                    m.as_str()
                )));
            }
            Ok(NativeRoute::Call { model, method: m })
        }
    }
}

/// Build the query forwarded upstream: only parameters Gemini defines for the route, never `key`.
fn forward_query(
    route: &NativeRoute,
    query: Option<&str>,
) -> Result<(Option<String>, Framing), GatewayError> {
    let pairs: Vec<(String, String)> = query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut framing = Framing::Json;
    match route {
        NativeRoute::ListModels => {
            for (k, v) in &pairs {
                match k.as_str() {
                    "pageSize" => {
                        let n: u32 = v.parse().map_err(|_| {
                            GatewayError::bad_request(format!(
                                "pageSize must be a positive integer (got {v:?})."
                            ))
                            .with_param("pageSize")
                        })?;
                        out.append_pair("pageSize", &n.to_string());
                    }
                    "pageToken" => {
                        out.append_pair("pageToken", v);
                    }
                    _ => {}
                }
            }
        }
        NativeRoute::Call {
            method: Method::StreamGenerateContent,
            ..
        } => {
            framing = Framing::JsonArray;
            if let Some((_, v)) = pairs.iter().find(|(k, _)| k == "alt") {
                if v == "sse" {
                    framing = Framing::Sse;
                    out.append_pair("alt", "sse");
                } else if v != "json" {
                    return Err(GatewayError::bad_request(format!(
                        "alt must be sse or json (got {v:?})."
                    ))
                    .with_param("alt"));
                }
            }
        }
        _ => {}
    }
    let q = out.finish();
    Ok(((!q.is_empty()).then_some(q), framing))
}

/// Read the request body with a size cap; 413 as soon as it is exceeded.
pub async fn read_body(session: &mut Session, cap: usize) -> Result<Bytes, GatewayError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(GatewayError::payload_too_large(cap));
    }
    let mut first: Option<Bytes> = None;
    let mut buf: Option<BytesMut> = None;
    let mut len = 0usize;
    loop {
        let chunk = session.read_request_body().await.map_err(|e| {
            GatewayError::bad_request(format!(
                "Could not read the request body: {}.",
                e.etype().as_str()
            ))
        })?;
        let Some(chunk) = chunk else { break };
        len += chunk.len();
        if len > cap {
            return Err(GatewayError::payload_too_large(cap));
        }
        match (&mut first, &mut buf) {
            (None, None) => first = Some(chunk),
            (Some(f), None) => {
                let mut b = BytesMut::with_capacity(declared.map_or(len * 2, |d| d as usize));
                b.extend_from_slice(f);
                b.extend_from_slice(&chunk);
                first = None;
                buf = Some(b);
            }
            (_, Some(b)) => b.extend_from_slice(&chunk),
        }
    }
    Ok(match (first, buf) {
        (_, Some(b)) => b.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}

/// Reject bodies that are not JSON by their declared type or encoding.
pub fn check_content_type(session: &Session) -> Result<(), GatewayError> {
    let h = &session.req_header().headers;
    if let Some(ct) = h.get(http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim().as_bytes();
        let json_suffix = mime.len() >= 5 && mime[mime.len() - 5..].eq_ignore_ascii_case(b"+json");
        if !(mime.is_empty() || mime.eq_ignore_ascii_case(b"application/json") || json_suffix) {
            return Err(GatewayError::unsupported_media_type(ct));
        }
    }
    if let Some(ce) = h.get(http::header::CONTENT_ENCODING) {
        if !ce.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(GatewayError::new(
                415,
                "unsupported_media_type",
                "Compressed request bodies are not supported.",
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl Filter for SurfaceStage {
    fn name(&self) -> &'static str {
        "surface"
    }

    async fn on_request(
        &self,
        session: &mut Session,
        ctx: &mut ReqCtx,
    ) -> Result<Flow, GatewayError> {
        if ctx.upstream.is_some() {
            return Ok(Flow::Continue); // an earlier stage (e.g. OpenAI translation) already routed it
        }
        let req = session.req_header();
        let path = req.uri.path().to_string();
        let method = req.method.clone();
        let query = req.uri.query().map(str::to_string);
        let rest = match ctx.surface {
            Surface::Gemini => path
                .strip_prefix("/v2/")
                .or_else(|| path.strip_prefix("/v1beta/"))
                .unwrap_or(""),
            _ => return Err(GatewayError::not_found(format!("Unknown route {path:?}."))),
        };
        let route = parse_native(rest, &method)?;
        let (query, framing) = forward_query(&route, query.as_deref())?;
        let (resource, body) = match route {
            NativeRoute::ListModels => (Resource::ListModels, None),
            NativeRoute::GetModel { model } => (Resource::GetModel(model), None),
            NativeRoute::Call { model, method } => {
                check_content_type(session)?;
                let body = read_body(session, self.max_body).await?;
                ctx.est_tokens = crate::upstream::estimate::validate_and_estimate(&body)
                    .map_err(GatewayError::bad_request)?;
                ctx.counts_quota = method != Method::CountTokens;
                (Resource::Call(model, method), Some(body))
            }
        };
        let model = resource.model().cloned();
        ctx.model = model;
        ctx.upstream = Some(UpstreamRequest {
            method,
            resource,
            query,
            body,
            framing,
        });
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method as M;

    fn id(s: &str) -> ModelId {
        ModelId::parse(s).unwrap()
    }

    #[test]
    fn routes() {
        assert_eq!(
            parse_native("models", &M::GET).unwrap(),
            NativeRoute::ListModels
        );
        assert_eq!(
            parse_native("models/", &M::GET).unwrap(),
            NativeRoute::ListModels
        );
        assert_eq!(
            parse_native("models/gemini-2.5-flash", &M::GET).unwrap(),
            NativeRoute::GetModel {
                model: id("gemini-2.5-flash")
            }
        );
        assert_eq!(
            parse_native("models/gemini-2.5-flash:streamGenerateContent", &M::POST).unwrap(),
            NativeRoute::Call {
                model: id("gemini-2.5-flash"),
                method: Method::StreamGenerateContent
            }
        );
    }

    #[test]
    fn bad_routes() {
        assert_eq!(
            parse_native("models/x:deleteEverything", &M::POST)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            parse_native("models/x:generateContent", &M::GET)
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(parse_native("models", &M::POST).unwrap_err().status, 405);
        assert_eq!(
            parse_native("models/../../admin:generateContent", &M::POST)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_native("models/a%2Fb", &M::GET).unwrap_err().status,
            400
        );
        assert_eq!(
            parse_native("tunedModels/x", &M::GET).unwrap_err().status,
            404
        );
        assert_eq!(parse_native("", &M::GET).unwrap_err().status, 404);
    }

    #[test]
    fn query_forwarding_drops_key() {
        let r = NativeRoute::ListModels;
        let (q, _) = forward_query(&r, Some("key=secret&pageSize=2&pageToken=abc&x=1")).unwrap();
        assert_eq!(q.as_deref(), Some("pageSize=2&pageToken=abc"));
        assert_eq!(
            forward_query(&r, Some("pageSize=-1")).unwrap_err().status,
            400
        );
        let s = NativeRoute::Call {
            model: id("m"),
            method: Method::StreamGenerateContent,
        };
        assert_eq!(
            forward_query(&s, Some("alt=sse&key=k")).unwrap(),
            (Some("alt=sse".into()), Framing::Sse)
        );
        assert_eq!(forward_query(&s, None).unwrap(), (None, Framing::JsonArray));
        let g = NativeRoute::Call {
            model: id("m"),
            method: Method::GenerateContent,
        };
        assert_eq!(
            forward_query(&g, Some("key=k")).unwrap(),
            (None, Framing::Json)
        );
    }
}
