//! Responses `tools`, `tool_choice` and `text.format` → Gemini `tools`, `toolConfig` and the
//! JSON-output settings: function tools through the shared schema sanitiser, `web_search*` as
//! Google Search grounding, other built-in tools refused with a 400 naming them.

use super::request::invalid;
use crate::convert::gemini_request::gemini_tools;
use crate::convert::schema::{parameters, sanitize};
use crate::error::GatewayError;
use serde_json::{json, Map, Value};

/// `text.format` → `responseMimeType` / `responseJsonSchema`.
pub(super) fn text_format(
    text: Option<&Value>,
    gen: &mut Map<String, Value>,
) -> Result<(), GatewayError> {
    let Some(format) = text.and_then(|t| t.get("format")).filter(|f| !f.is_null()) else {
        return Ok(());
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some("json_object") => {
            gen.insert("responseMimeType".into(), Value::from("application/json"));
        }
        Some("json_schema") => {
            gen.insert("responseMimeType".into(), Value::from("application/json"));
            match format.get("schema") {
                Some(s @ Value::Object(_)) => {
                    gen.insert("responseJsonSchema".into(), sanitize(s));
                }
                _ => {
                    return Err(invalid(
                        "text.format.schema",
                        "required for json_schema: a JSON Schema object.",
                    ))
                }
            }
        }
        other => {
            return Err(invalid(
                "text.format.type",
                format_args!(
                    "{:?} is not supported; use text, json_object or json_schema.",
                    other.unwrap_or("")
                ),
            ))
        }
    }
    Ok(())
}

/// `tools` and `tool_choice` → Gemini `tools` and `toolConfig`.
pub(super) fn tools(
    tools: Option<&[Value]>,
    choice: Option<&Value>,
) -> Result<(Vec<Value>, Option<Value>), GatewayError> {
    let mut decls = Vec::new();
    let mut search = false;
    for (i, t) in tools.unwrap_or_default().iter().enumerate() {
        match t.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(k) if k.starts_with("web_search") => {
                search = true;
                continue;
            }
            Some(k) => {
                return Err(invalid(
                    format!("tools[{i}].type"),
                    format_args!("the built-in tool {k:?} cannot be run by Gemini through this gateway; declare a function tool instead."),
                ))
            }
            None => return Err(invalid(format!("tools[{i}].type"), "required.")),
        }
        let Some(name) = t
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return Err(invalid(format!("tools[{i}].name"), "required."));
        };
        let mut d = Map::new();
        d.insert("name".into(), Value::from(name));
        if let Some(desc) = t
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            d.insert("description".into(), Value::from(desc));
        }
        match t.get("parameters") {
            None | Some(Value::Null) => {}
            Some(p @ Value::Object(_)) => {
                if let Some(s) = parameters(p) {
                    d.insert("parametersJsonSchema".into(), s);
                }
            }
            Some(_) => {
                return Err(invalid(
                    format!("tools[{i}].parameters"),
                    "must be a JSON Schema object.",
                ))
            }
        }
        decls.push(Value::Object(d));
    }
    let names: Vec<&str> = decls
        .iter()
        .filter_map(|d| d.get("name").and_then(Value::as_str))
        .collect();
    let known = |n: &str, at: &str| {
        if names.contains(&n) {
            Ok(())
        } else {
            Err(invalid(
                at,
                format_args!("{n:?} is not one of the declared function tools."),
            ))
        }
    };
    let config = match choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => None,
            "none" => Some(json!({"functionCallingConfig": {"mode": "NONE"}})),
            "required" => Some(json!({"functionCallingConfig": {"mode": "ANY"}})),
            other => {
                return Err(invalid(
                    "tool_choice",
                    format_args!("{other:?} is not a tool choice (auto, none, required, or an object)."),
                ))
            }
        },
        Some(c) => match c.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                known(name, "tool_choice.name")?;
                Some(json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}))
            }
            Some("allowed_tools") => {
                let mode = match c.get("mode").and_then(Value::as_str) {
                    Some("required") => "ANY",
                    _ => "AUTO",
                };
                let mut allowed = Vec::new();
                for (k, t) in c
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    if let Some(n) = t.get("name").and_then(Value::as_str) {
                        known(n, &format!("tool_choice.tools[{k}].name"))?;
                        allowed.push(n);
                    }
                }
                Some(json!({"functionCallingConfig": {"mode": mode, "allowedFunctionNames": allowed}}))
            }
            Some(k) if k.starts_with("web_search") => None,
            other => {
                return Err(invalid(
                    "tool_choice.type",
                    format_args!("{:?} is not supported (function, allowed_tools).", other.unwrap_or("")),
                ))
            }
        },
    }
    .filter(|_| !decls.is_empty());
    Ok((gemini_tools(decls, search), config))
}
