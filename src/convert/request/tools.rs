//! Tools: OpenAI `tools` / `functions` / `web_search_options` → Gemini `tools`, and `tool_choice`
//! / `function_call` → `toolConfig` (function declarations with sanitised JSON Schemas).

use super::super::schema::parameters;
use super::super::ConvertError;
use super::fields::{present, value, Fields};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// A present, non-null field of an object.
fn get<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    m.get(k).filter(|v| !v.is_null())
}

/// `tools` / `functions` / `web_search_options` → Gemini `tools`, and `tool_choice` /
/// `function_call` → `toolConfig`.
pub(super) fn tools(f: &Fields<'_>) -> Result<(Vec<Value>, Option<Value>), ConvertError> {
    let field = |v: Option<&RawValue>| present(v).map(value);
    let mut decls = Vec::new();
    if let Some(t) = field(f.tools) {
        let Value::Array(list) = t else {
            return Err(ConvertError::invalid("tools", "`tools` must be an array"));
        };
        for (i, tool) in list.iter().enumerate() {
            let path = format!("tools[{i}]");
            let Value::Object(tool) = tool else {
                return Err(ConvertError::invalid(path, "each tool must be an object"));
            };
            let ty = get(tool, "type")
                .and_then(Value::as_str)
                .unwrap_or("function");
            if ty != "function" {
                return Err(ConvertError::invalid(
                    format!("{path}.type"),
                    format!("tool type {ty:?} is not supported; only \"function\""),
                ));
            }
            let Some(Value::Object(f)) = get(tool, "function") else {
                return Err(ConvertError::invalid(
                    format!("{path}.function"),
                    "function tools need a `function` object",
                ));
            };
            decls.push(declaration(f, &format!("{path}.function"))?);
        }
    }
    if let Some(t) = field(f.functions) {
        let Value::Array(list) = t else {
            return Err(ConvertError::invalid(
                "functions",
                "`functions` must be an array",
            ));
        };
        for (i, f) in list.iter().enumerate() {
            let path = format!("functions[{i}]");
            let Value::Object(f) = f else {
                return Err(ConvertError::invalid(
                    path,
                    "each function must be an object",
                ));
            };
            decls.push(declaration(f, &path)?);
        }
    }
    let names: Vec<String> = decls
        .iter()
        .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();

    let choice = match field(f.tool_choice) {
        Some(c) => Some(tool_choice(&c, "tool_choice", &names)?),
        None => match field(f.function_call) {
            Some(c) => Some(tool_choice(&c, "function_call", &names)?),
            None => None,
        },
    };

    let mut tools = Vec::new();
    let mut config = None;
    if let Some((mode, allowed, keep_only)) = choice {
        if let Some(keep) = keep_only {
            decls.retain(|d| {
                d.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| keep.iter().any(|k| k == n))
            });
        }
        if !decls.is_empty() {
            let mut fcc = Map::new();
            fcc.insert("mode".into(), Value::from(mode));
            if let Some(a) = allowed {
                fcc.insert("allowedFunctionNames".into(), Value::from(a));
            }
            config = Some(json!({ "functionCallingConfig": fcc }));
        }
    }
    if !decls.is_empty() {
        tools.push(json!({ "functionDeclarations": decls }));
    }
    if let Some(w) = field(f.web_search_options) {
        if !w.is_object() {
            return Err(ConvertError::invalid(
                "web_search_options",
                "`web_search_options` must be an object",
            ));
        }
        tools.push(json!({ "googleSearch": {} }));
    }
    Ok((tools, config))
}

/// One OpenAI function definition → a Gemini `FunctionDeclaration` with `parametersJsonSchema`.
fn declaration(f: &Map<String, Value>, path: &str) -> Result<Value, ConvertError> {
    let name = match get(f, "name") {
        Some(Value::String(n)) if !n.is_empty() => n,
        _ => {
            return Err(ConvertError::invalid(
                format!("{path}.name"),
                "functions need a `name`",
            ))
        }
    };
    let mut d = Map::new();
    d.insert("name".into(), Value::from(name.as_str()));
    if let Some(Value::String(desc)) = get(f, "description") {
        if !desc.is_empty() {
            d.insert("description".into(), Value::from(desc.as_str()));
        }
    }
    if let Some(p) = get(f, "parameters") {
        if !p.is_object() {
            return Err(ConvertError::invalid(
                format!("{path}.parameters"),
                "`parameters` must be a JSON Schema object",
            ));
        }
        if let Some(s) = parameters(p) {
            d.insert("parametersJsonSchema".into(), s);
        }
    }
    Ok(Value::Object(d))
}

type Choice = (&'static str, Option<Vec<String>>, Option<Vec<String>>);

/// `tool_choice` → (mode, allowedFunctionNames, declarations to keep).
fn tool_choice(c: &Value, param: &str, names: &[String]) -> Result<Choice, ConvertError> {
    let named = |n: &str, p: String| -> Result<String, ConvertError> {
        if names.iter().any(|x| x == n) {
            Ok(n.to_string())
        } else {
            Err(ConvertError::invalid(
                p,
                format!("{n:?} is not one of the declared functions"),
            ))
        }
    };
    match c {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(("AUTO", None, None)),
            "none" => Ok(("NONE", None, None)),
            "required" => Ok(("ANY", None, None)),
            other => Err(ConvertError::invalid(
                param,
                format!("{other:?} is not a valid choice; use \"auto\", \"none\", \"required\" or a function"),
            )),
        },
        Value::Object(o) => {
            // Legacy `function_call: {"name": ...}`.
            if let Some(Value::String(n)) = get(o, "name") {
                let n = named(n, format!("{param}.name"))?;
                return Ok(("ANY", Some(vec![n]), None));
            }
            match get(o, "type").and_then(Value::as_str) {
                Some("function") => {
                    let n = o
                        .get("function")
                        .and_then(|f| f.get("name"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            ConvertError::invalid(
                                format!("{param}.function.name"),
                                "a function tool_choice needs `function.name`",
                            )
                        })?;
                    let n = named(n, format!("{param}.function.name"))?;
                    Ok(("ANY", Some(vec![n]), None))
                }
                Some("allowed_tools") => {
                    let at = o.get("allowed_tools").and_then(Value::as_object).ok_or_else(|| {
                        ConvertError::invalid(
                            format!("{param}.allowed_tools"),
                            "`allowed_tools` must be an object",
                        )
                    })?;
                    let mut allowed = Vec::new();
                    if let Some(Value::Array(ts)) = get(at, "tools") {
                        for (i, t) in ts.iter().enumerate() {
                            let n = t
                                .get("function")
                                .and_then(|f| f.get("name"))
                                .and_then(Value::as_str)
                                .ok_or_else(|| {
                                    ConvertError::invalid(
                                        format!("{param}.allowed_tools.tools[{i}]"),
                                        "only function tools can be allowed",
                                    )
                                })?;
                            allowed.push(named(
                                n,
                                format!("{param}.allowed_tools.tools[{i}].function.name"),
                            )?);
                        }
                    }
                    match get(at, "mode").and_then(Value::as_str).unwrap_or("auto") {
                        "required" => Ok(("ANY", Some(allowed), None)),
                        "auto" => Ok(("AUTO", None, Some(allowed))),
                        other => Err(ConvertError::invalid(
                            format!("{param}.allowed_tools.mode"),
                            format!("{other:?} is not a valid mode; use \"auto\" or \"required\""),
                        )),
                    }
                }
                other => Err(ConvertError::invalid(
                    format!("{param}.type"),
                    format!("tool_choice type {:?} is not supported", other.unwrap_or("")),
                )),
            }
        }
        _ => Err(ConvertError::invalid(
            param,
            "must be a string or an object",
        )),
    }
}
