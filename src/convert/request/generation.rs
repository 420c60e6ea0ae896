//! `generationConfig` from OpenAI's sampling, length, stop and `response_format` parameters, and
//! the thinking controls `reasoning_effort` maps to.

use super::super::schema::sanitize;
use super::super::ConvertError;
use super::fields::{integer, number, positive, present, value, Fields};
use serde_json::{Map, Value};

/// The sampling, length, stop and response-format parameters → `generationConfig` entries.
pub(super) fn generation_config(f: &Fields<'_>) -> Result<Map<String, Value>, ConvertError> {
    let mut g = Map::new();
    if let Some(t) = number(f.temperature, "temperature")? {
        g.insert("temperature".into(), Value::Number(t));
    }
    if let Some(t) = number(f.top_p, "top_p")? {
        g.insert("topP".into(), Value::Number(t));
    }
    if let Some(k) = positive(f.top_k, "top_k")? {
        g.insert("topK".into(), Value::from(k));
    }
    if let Some(n) = positive(f.n, "n")? {
        g.insert("candidateCount".into(), Value::from(n));
    }
    let max = match positive(f.max_completion_tokens, "max_completion_tokens")? {
        Some(m) => Some(m),
        None => positive(f.max_tokens, "max_tokens")?,
    };
    if let Some(m) = max {
        g.insert("maxOutputTokens".into(), Value::from(m));
    }
    if let Some(p) = number(f.presence_penalty, "presence_penalty")? {
        g.insert("presencePenalty".into(), Value::Number(p));
    }
    if let Some(p) = number(f.frequency_penalty, "frequency_penalty")? {
        g.insert("frequencyPenalty".into(), Value::Number(p));
    }
    if let Some(s) = integer(f.seed, "seed")? {
        g.insert("seed".into(), Value::from(s));
    }
    if let Some(stop) = present(f.stop).map(value) {
        let list: Vec<String> = match &stop {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => {
                let mut v = Vec::new();
                for (i, s) in a.iter().enumerate() {
                    match s {
                        Value::String(s) => v.push(s.clone()),
                        _ => {
                            return Err(ConvertError::invalid(
                                format!("stop[{i}]"),
                                "stop sequences must be strings",
                            ))
                        }
                    }
                }
                v
            }
            _ => {
                return Err(ConvertError::invalid(
                    "stop",
                    "`stop` must be a string or an array of strings",
                ))
            }
        };
        let list: Vec<String> = list.into_iter().filter(|s| !s.is_empty()).collect();
        if list.len() > 5 {
            return Err(ConvertError::invalid(
                "stop",
                format!(
                    "Gemini accepts at most 5 stop sequences; got {}",
                    list.len()
                ),
            ));
        }
        if !list.is_empty() {
            g.insert("stopSequences".into(), Value::from(list));
        }
    }
    if let Some(rf) = present(f.response_format).map(value) {
        let Value::Object(rf) = rf else {
            return Err(ConvertError::invalid(
                "response_format",
                "`response_format` must be an object",
            ));
        };
        match rf.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                g.insert("responseMimeType".into(), Value::from("application/json"));
            }
            Some("json_schema") => {
                g.insert("responseMimeType".into(), Value::from("application/json"));
                let schema = rf.get("json_schema").and_then(|j| j.get("schema"));
                match schema {
                    Some(s @ Value::Object(_)) => {
                        g.insert("responseJsonSchema".into(), sanitize(s));
                    }
                    None | Some(Value::Null) => {}
                    Some(_) => {
                        return Err(ConvertError::invalid(
                            "response_format.json_schema.schema",
                            "`schema` must be a JSON Schema object",
                        ))
                    }
                }
            }
            other => {
                return Err(ConvertError::invalid(
                    "response_format.type",
                    format!(
                        "response_format type {:?} is not supported; use text, json_object or json_schema",
                        other.unwrap_or("")
                    ),
                ))
            }
        }
    }
    Ok(g)
}

/// `reasoning_effort`, if given.
pub(super) fn reasoning_effort(f: &Fields<'_>) -> Result<Option<&'static str>, ConvertError> {
    match present(f.reasoning_effort).map(value) {
        None => Ok(None),
        Some(Value::String(s)) => {
            const EFFORTS: [&str; 7] = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];
            EFFORTS
                .iter()
                .find(|e| **e == s.as_str())
                .map(|e| Some(*e))
                .ok_or_else(|| {
                    ConvertError::invalid(
                        "reasoning_effort",
                        format!("{s:?} is not a valid reasoning_effort; use none, minimal, low, medium or high"),
                    )
                })
        }
        Some(_) => Err(ConvertError::invalid(
            "reasoning_effort",
            "`reasoning_effort` must be a string",
        )),
    }
}
