//! JSON answers for `responseMimeType: application/json`: a minimal instance of the request's
//! `responseJsonSchema` (or OpenAPI-style `responseSchema`), so structured-output clients parse
//! what they asked for.

use crate::content::{field, str_field};
use serde_json::{Map, Value};

/// The JSON text the simulated model answers with, when the request asks for JSON.
pub(crate) fn json_reply(req: &Value, echo: &str) -> Option<String> {
    let gc = field(req, "generationConfig")?;
    let mime = str_field(gc, "responseMimeType")?;
    if !mime.eq_ignore_ascii_case("application/json") {
        return None;
    }
    let schema = field(gc, "responseJsonSchema").or_else(|| field(gc, "responseSchema"));
    let v = match schema {
        Some(s) => instance(s, s, echo, 0),
        None => serde_json::json!({ "answer": echo }),
    };
    Some(v.to_string())
}

/// A small value the schema accepts: every property of an object (required or not), `minItems`
/// items of an array, the first `enum` / `const` value, the minimum of a number, and `echo` for
/// the first strings (bounded by `minLength`/`maxLength`). `$ref`s into `$defs` / `definitions`
/// are followed; `anyOf` / `oneOf` take their first branch that is not `null`.
fn instance(s: &Value, root: &Value, echo: &str, depth: usize) -> Value {
    if depth > 16 {
        return Value::Null;
    }
    if let Some(r) = str_field(s, "$ref") {
        let target = r
            .strip_prefix("#/")
            .map(|p| p.split('/').try_fold(root, |v, k| v.get(k)));
        return match target.flatten() {
            Some(t) => instance(t, root, echo, depth + 1),
            None => Value::Null,
        };
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(first) = field(s, "enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = field(s, k).and_then(Value::as_array) {
            let pick = branches
                .iter()
                .find(|b| str_field(b, "type").is_none_or(|t| !t.eq_ignore_ascii_case("null")))
                .or(branches.first());
            if let Some(b) = pick {
                return instance(b, root, echo, depth + 1);
            }
        }
    }
    let kind = match field(s, "type") {
        Some(Value::String(t)) => t.to_ascii_lowercase(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| !t.eq_ignore_ascii_case("null"))
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if field(s, "properties").is_some() => "object".into(),
        _ if field(s, "items").is_some() => "array".into(),
        _ => "string".into(),
    };
    let num = |k: &str| field(s, k).and_then(Value::as_f64);
    match kind.as_str() {
        "object" => {
            let mut m = Map::new();
            if let Some(props) = field(s, "properties").and_then(Value::as_object) {
                for (k, p) in props {
                    m.insert(k.clone(), instance(p, root, echo, depth + 1));
                }
            }
            Value::Object(m)
        }
        "array" => {
            let n = num("minItems").unwrap_or(1.0).max(0.0) as usize;
            let item =
                field(s, "items").map_or(Value::Null, |i| instance(i, root, echo, depth + 1));
            Value::Array(vec![item; n.min(8)])
        }
        "integer" => Value::from(num("minimum").map_or(1, |m| m.ceil() as i64)),
        "number" => Value::from(num("minimum").unwrap_or(1.0)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => {
            let min = num("minLength").unwrap_or(0.0) as usize;
            let max = num("maxLength").map_or(usize::MAX, |m| m as usize);
            let mut t: String = echo.chars().take(max).collect();
            while t.chars().count() < min {
                t.push('x');
            }
            Value::String(t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(gc: Value) -> Option<Value> {
        json_reply(&json!({"generationConfig": gc}), "hi")
            .map(|t| serde_json::from_str(&t).unwrap())
    }

    #[test]
    fn minimal_instances() {
        assert_eq!(reply(json!({})), None);
        assert_eq!(
            reply(json!({"responseMimeType": "application/json"})),
            Some(json!({"answer": "hi"}))
        );
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 18},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "kind": {"enum": ["cat", "dog"]},
                "owner": {"$ref": "#/$defs/Person"},
                "nick": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 1}]}
            },
            "$defs": {"Person": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}
        });
        assert_eq!(
            reply(json!({"responseMimeType": "application/json", "responseJsonSchema": schema})),
            Some(
                json!({"name": "hi", "age": 18, "tags": ["hi", "hi"], "kind": "cat",
                        "owner": {"ok": true}, "nick": "h"})
            )
        );
        // OpenAPI-style responseSchema with upper-case types
        assert_eq!(
            reply(json!({"responseMimeType": "application/json",
                         "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "NUMBER"}}}})),
            Some(json!({"n": 1.0}))
        );
    }
}
