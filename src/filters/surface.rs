//! Surface stage: routes the Gemini-native API (`/v2`, `/v1beta`), reads and checks the body (size cap, JSON).

use crate::error::{GatewayError, Surface};
use crate::pipeline::ctx::{Framing, ReqCtx, UpstreamRequest};
use crate::pipeline::{Filter, Flow};
use crate::state::AppState;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::Method;
use pingora::proxy::Session;
use std::sync::Arc;

/// Gemini methods the gateway serves on `models/{model}:{method}`.
const POST_METHODS: &[&str] = &[
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "embedContent",
    "batchEmbedContents",
];

/// A parsed Gemini-native route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeRoute {
    ListModels,
    GetModel { model: String },
    Call { model: String, method: &'static str },
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

/// Check a model id: letters, digits, `.`, `-`, `_`; at most 128 characters.
pub fn valid_model_id(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 128
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && m.as_bytes()[0].is_ascii_alphanumeric()
}

/// Parse the part of the path after `/v2/` or `/v1beta/`.
pub fn parse_native(rest: &str, method: &Method) -> Result<NativeRoute, GatewayError> {
    let rest = rest.trim_end_matches('/');
    if rest == "models" {
        return if method == Method::GET {
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
            if !valid_model_id(spec) {
                return Err(
                    GatewayError::bad_request(format!("Invalid model name {spec:?}."))
                        .with_param("model"),
                );
            }
            if method != Method::GET {
                return Err(GatewayError::method_not_allowed(
                    "models/{model} supports GET only.",
                ));
            }
            Ok(NativeRoute::GetModel {
                model: spec.to_string(),
            })
        }
        Some((model, m)) => {
            if !valid_model_id(model) {
                return Err(
                    GatewayError::bad_request(format!("Invalid model name {model:?}."))
                        .with_param("model"),
                );
            }
            let Some(m) = POST_METHODS.iter().find(|x| **x == m) else {
                return Err(GatewayError::not_found(format!(
                    "Unknown method {m:?} on models/{model}."
                )));
            };
            if method != Method::POST {
                return Err(GatewayError::method_not_allowed(format!(
                    "{m} requires POST."
                )));
            }
            Ok(NativeRoute::Call {
                model: model.to_string(),
                method: m,
            })
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
            method: "streamGenerateContent",
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
        let (resource, body, model) = match &route {
            NativeRoute::ListModels => ("models".to_string(), None, None),
            NativeRoute::GetModel { model } => {
                (format!("models/{model}"), None, Some(model.clone()))
            }
            NativeRoute::Call { model, method } => {
                check_content_type(session)?;
                let body = read_body(session, self.max_body).await?;
                ctx.est_tokens = crate::upstream::estimate::validate_and_estimate(&body)
                    .map_err(GatewayError::bad_request)?;
                ctx.counts_quota = *method != "countTokens";
                (
                    format!("models/{model}:{method}"),
                    Some(body),
                    Some(model.clone()),
                )
            }
        };
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

    #[test]
    fn routes() {
        assert_eq!(
            parse_native("models", &Method::GET).unwrap(),
            NativeRoute::ListModels
        );
        assert_eq!(
            parse_native("models/", &Method::GET).unwrap(),
            NativeRoute::ListModels
        );
        assert_eq!(
            parse_native("models/gemini-2.5-flash", &Method::GET).unwrap(),
            NativeRoute::GetModel {
                model: "gemini-2.5-flash".into()
            }
        );
        assert_eq!(
            parse_native(
                "models/gemini-2.5-flash:streamGenerateContent",
                &Method::POST
            )
            .unwrap(),
            NativeRoute::Call {
                model: "gemini-2.5-flash".into(),
                method: "streamGenerateContent"
            }
        );
    }

    #[test]
    fn bad_routes() {
        assert_eq!(
            parse_native("models/x:deleteEverything", &Method::POST)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            parse_native("models/x:generateContent", &Method::GET)
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            parse_native("models", &Method::POST).unwrap_err().status,
            405
        );
        assert_eq!(
            parse_native("models/../../admin:generateContent", &Method::POST)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_native("models/a%2Fb", &Method::GET)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_native("tunedModels/x", &Method::GET)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(parse_native("", &Method::GET).unwrap_err().status, 404);
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
            model: "m".into(),
            method: "streamGenerateContent",
        };
        assert_eq!(
            forward_query(&s, Some("alt=sse&key=k")).unwrap(),
            (Some("alt=sse".into()), Framing::Sse)
        );
        assert_eq!(forward_query(&s, None).unwrap(), (None, Framing::JsonArray));
        let g = NativeRoute::Call {
            model: "m".into(),
            method: "generateContent",
        };
        assert_eq!(
            forward_query(&g, Some("key=k")).unwrap(),
            (None, Framing::Json)
        );
    }
}
