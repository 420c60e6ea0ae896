//! The Gemini-native surface (`/v2`, `/v1beta`): Gemini's own API, passed through byte for byte —
//! the route is the path's model and method, the body is only checked (JSON, size) and estimated.

use crate::credentials::Identity;
use crate::error::{Envelope, GatewayError};
use crate::model::{Method, ModelId, Resource};
use crate::pipeline::body::read_json;
use crate::pipeline::ctx::Client;
use crate::pipeline::route::{
    BufferedReply, Framing, QuotaUse, Reply, Route, Routed, UpstreamRequest,
};
use crate::pipeline::surface::{is_shared_model_lookup, Dialect, Surface};
use crate::state::AppState;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::sync::Arc;

/// The Gemini-native surface.
pub struct Native {
    max_body: usize,
}

impl Native {
    pub fn new(state: &Arc<AppState>) -> Self {
        Native {
            max_body: state.config.limits.max_body_bytes,
        }
    }
}

/// The part of the path after the API version, if the path is Gemini's: `/v2/…`, `/v1beta/…`
/// (except Google's OpenAI-compatible `/v1beta/openai/…`) and `/v1/…` (the SDKs' default API
/// version; `/v1` is shared with the OpenAI and Anthropic surfaces, see [`Native::serves`]).
fn native_rest(path: &str) -> Option<&str> {
    if path.starts_with("/v1beta/openai/") || path == "/v1beta/openai" {
        return None;
    }
    path.strip_prefix("/v2/")
        .or_else(|| path.strip_prefix("/v1beta/"))
        .or_else(|| path.strip_prefix("/v1/"))
        .or_else(|| (path == "/v2" || path == "/v1beta").then_some(""))
}

/// Whether a `/v1` path is Gemini's: a `models/{model}:{method}` call (OpenAI and Anthropic have
/// no colon-method paths), or a model lookup asked by a client that speaks Gemini.
fn native_under_v1(req: &RequestHeader) -> bool {
    let path = req.uri.path();
    match path.strip_prefix("/v1/models/") {
        Some(rest) if rest.contains(':') => true,
        _ => is_shared_model_lookup(path) && Dialect::of(req) == Dialect::Gemini,
    }
}

#[async_trait]
impl Surface for Native {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn envelope(&self) -> Envelope {
        Envelope::Gemini
    }

    fn serves(&self, req: &RequestHeader) -> bool {
        let path = req.uri.path();
        if path == "/v1" || path.starts_with("/v1/") {
            return native_under_v1(req);
        }
        native_rest(path).is_some()
    }

    async fn route(&self, session: &mut Session, client: &Client) -> Result<Routed, GatewayError> {
        let req = session.req_header();
        let method = req.method.clone();
        let rest = native_rest(req.uri.path()).unwrap_or("");
        let route = parse_native(rest, &method)?;
        let (query, framing) = forward_query(&route, req.uri.query())?;
        // A key restricted to some models sees only those in the listing.
        let reply = match (&route, client.identity()) {
            (NativeRoute::ListModels, Some(i)) if i.settings.models.is_some() => {
                Reply::Buffered(Box::new(AllowedModels(i.clone())))
            }
            _ => Reply::Passthrough,
        };
        let (resource, body, quota) = match route {
            NativeRoute::ListModels => (Resource::ListModels, None, QuotaUse::default()),
            NativeRoute::GetModel { model } => {
                (Resource::GetModel(model), None, QuotaUse::default())
            }
            NativeRoute::Call { model, method } => {
                let body = read_json(session, self.max_body).await?;
                let quota = QuotaUse {
                    est_tokens: crate::upstream::estimate::validate_and_estimate(&body)
                        .map_err(GatewayError::bad_request)?,
                    counts: method != Method::CountTokens,
                };
                (Resource::Call(model, method), Some(body), quota)
            }
        };
        Ok(Routed::Upstream(Route {
            label: resource.label(),
            thread: None,
            model: resource.model().cloned(),
            upstream: UpstreamRequest {
                method,
                resource,
                query,
                body,
                framing,
            },
            quota,
            reply,
        }))
    }
}

/// Google's model list page with only the models the credential may use.
struct AllowedModels(Arc<Identity>);

impl BufferedReply for AllowedModels {
    fn transform(&mut self, body: bytes::Bytes) -> Result<bytes::Bytes, GatewayError> {
        let mut page: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            GatewayError::new(
                crate::error::ErrorKind::BadGateway,
                format!("Google's model list is not JSON: {e}"),
            )
        })?;
        if let Some(models) = page.get_mut("models").and_then(|m| m.as_array_mut()) {
            models.retain(|m| {
                m.get("name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| self.0.allows(n))
            });
        }
        Ok(bytes::Bytes::from(page.to_string()))
    }
}

/// A parsed Gemini-native route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeRoute {
    ListModels,
    GetModel { model: ModelId },
    Call { model: ModelId, method: Method },
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
                .status(),
            404
        );
        assert_eq!(
            parse_native("models/x:generateContent", &M::GET)
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(parse_native("models", &M::POST).unwrap_err().status(), 405);
        assert_eq!(
            parse_native("models/../../admin:generateContent", &M::POST)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_native("models/a%2Fb", &M::GET).unwrap_err().status(),
            400
        );
        assert_eq!(
            parse_native("tunedModels/x", &M::GET).unwrap_err().status(),
            404
        );
        assert_eq!(parse_native("", &M::GET).unwrap_err().status(), 404);
    }

    #[test]
    fn query_forwarding_drops_key() {
        let r = NativeRoute::ListModels;
        let (q, _) = forward_query(&r, Some("key=secret&pageSize=2&pageToken=abc&x=1")).unwrap();
        assert_eq!(q.as_deref(), Some("pageSize=2&pageToken=abc"));
        assert_eq!(
            forward_query(&r, Some("pageSize=-1")).unwrap_err().status(),
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
