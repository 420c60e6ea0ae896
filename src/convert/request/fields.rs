//! The OpenAI request's top level as borrowed raw JSON, one slot per parameter the translation
//! reads, and typed readers that name the parameter in their errors. JSON `null` counts as absent.

use super::super::ConvertError;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value};
use std::borrow::Cow;

/// Every parameter the translation reads; anything else is ignored.
#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub(super) struct Fields<'a> {
    pub model: Option<&'a RawValue>,
    pub messages: Option<&'a RawValue>,
    pub stream: Option<&'a RawValue>,
    pub stream_options: Option<&'a RawValue>,
    pub logprobs: Option<&'a RawValue>,
    pub top_logprobs: Option<&'a RawValue>,
    pub modalities: Option<&'a RawValue>,
    pub audio: Option<&'a RawValue>,
    pub tools: Option<&'a RawValue>,
    pub functions: Option<&'a RawValue>,
    pub tool_choice: Option<&'a RawValue>,
    pub function_call: Option<&'a RawValue>,
    pub web_search_options: Option<&'a RawValue>,
    pub temperature: Option<&'a RawValue>,
    pub top_p: Option<&'a RawValue>,
    pub top_k: Option<&'a RawValue>,
    pub n: Option<&'a RawValue>,
    pub max_completion_tokens: Option<&'a RawValue>,
    pub max_tokens: Option<&'a RawValue>,
    pub presence_penalty: Option<&'a RawValue>,
    pub frequency_penalty: Option<&'a RawValue>,
    pub seed: Option<&'a RawValue>,
    pub stop: Option<&'a RawValue>,
    pub response_format: Option<&'a RawValue>,
    pub reasoning_effort: Option<&'a RawValue>,
    pub google: Option<&'a RawValue>,
    pub extra_body: Option<&'a RawValue>,
}

impl<'a> Fields<'a> {
    /// Parse the request body's top level.
    pub fn parse(body: &'a [u8]) -> Result<Fields<'a>, ConvertError> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            // Either not JSON at all, or JSON that is not an object.
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Err(e) => ConvertError::body(format!("Request body is not valid JSON: {e}.")),
                    Ok(_) => ConvertError::body("Request body must be a JSON object."),
                },
            );
        }
        serde_json::from_slice(body)
            .map_err(|e| ConvertError::body(format!("Request body is not valid JSON: {e}.")))
    }
}

/// A present, non-null value.
pub(super) fn present(v: Option<&RawValue>) -> Option<&RawValue> {
    v.filter(|r| r.get() != "null")
}

/// A JSON string, borrowed from the body when it has no escapes.
pub(super) fn string(v: &RawValue) -> Option<Cow<'_, str>> {
    let text = v.get();
    if !text.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(text) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

/// A value as a `serde_json::Value` (for the rarely used, freely shaped parameters).
pub(super) fn value(v: &RawValue) -> Value {
    serde_json::from_str(v.get()).unwrap_or(Value::Null)
}

pub(super) fn boolean(v: Option<&RawValue>, k: &str) -> Result<Option<bool>, ConvertError> {
    match present(v) {
        None => Ok(None),
        Some(r) => serde_json::from_str::<bool>(r.get())
            .map(Some)
            .map_err(|_| ConvertError::invalid(k, format!("`{k}` must be a boolean."))),
    }
}

pub(super) fn number(v: Option<&RawValue>, k: &str) -> Result<Option<Number>, ConvertError> {
    match present(v) {
        None => Ok(None),
        Some(r) => serde_json::from_str::<Number>(r.get())
            .map(Some)
            .map_err(|_| ConvertError::invalid(k, format!("`{k}` must be a number."))),
    }
}

pub(super) fn integer(v: Option<&RawValue>, k: &str) -> Result<Option<i64>, ConvertError> {
    let Some(n) = present(v)
        .map(|r| serde_json::from_str::<Number>(r.get()))
        .transpose()
        .map_err(|_| ConvertError::invalid(k, format!("`{k}` must be an integer.")))?
    else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(ConvertError::invalid(
            k,
            format!("`{k}` must be an integer."),
        )),
    }
}

pub(super) fn positive(v: Option<&RawValue>, k: &str) -> Result<Option<i64>, ConvertError> {
    match integer(v, k)? {
        Some(i) if i < 1 => Err(ConvertError::invalid(
            k,
            format!("`{k}` must be a positive integer."),
        )),
        other => Ok(other),
    }
}

/// `thinking_budget` → `thinkingBudget`; camelCase passes unchanged.
pub(super) fn camel(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut upper = false;
    for c in k.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
