//! Reading a request body for a surface: the declared type and encoding, and the size cap.

use crate::error::GatewayError;
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

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

/// Parse a body, naming the path of what is wrong (`messages[1].content[0].source`). The path is
/// tracked only when a plain parse has failed: tracking costs about as much as the parse itself.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, GatewayError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(GatewayError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    // Checked to be UTF-8 once, as a whole: `serde_json` reading from a `str` does not check
    // every key and string again.
    if let Ok(Ok(v)) = std::str::from_utf8(body).map(serde_json::from_str::<T>) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let mut path = e.path().to_string();
        if path == "." {
            path.clear();
        }
        let inner = e.into_inner().to_string();
        // A missing field is named by the error, not the path: make it the path's last step.
        let inner = match inner
            .strip_prefix("missing field `")
            .and_then(|r| r.split_once('`'))
        {
            Some((field, _)) => {
                path = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                "required".to_string()
            }
            None => inner,
        };
        if path.is_empty() {
            GatewayError::bad_request(format!("Invalid request: {inner}."))
        } else {
            GatewayError::bad_request(format!("{path}: {inner}.")).with_param(path)
        }
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
            return Err(GatewayError::unsupported_media_type(format!(
                "Content-Type must be application/json (got {ct:?})."
            )));
        }
    }
    if let Some(ce) = h.get(http::header::CONTENT_ENCODING) {
        if !ce.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(GatewayError::unsupported_media_type(
                "Compressed request bodies are not supported.",
            ));
        }
    }
    Ok(())
}

/// Read a JSON body: the content type checked, the size capped.
pub async fn read_json(session: &mut Session, cap: usize) -> Result<Bytes, GatewayError> {
    check_content_type(session)?;
    read_body(session, cap).await
}

/// A field that is a string or a list (`content: "hi"` or `content: [{...}]`), read without
/// buffering so that an error inside the list keeps its path (`input[2].content[0].type`), which
/// `#[serde(untagged)]` loses.
#[derive(Debug)]
pub enum TextOrList<'a, T> {
    Text(std::borrow::Cow<'a, str>),
    List(Vec<T>),
}

impl<'de: 'a, 'a, T: serde::Deserialize<'de>> serde::Deserialize<'de> for TextOrList<'a, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use std::borrow::Cow;
        use std::marker::PhantomData;
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for V<'a, T> {
            type Value = TextOrList<'a, T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(TextOrList::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(TextOrList::Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(TextOrList::Text(Cow::Owned(s)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1024));
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(TextOrList::List(v))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
