//! The simulated model's function calling: whether it calls a declared function (named in the
//! prompt, plausibly asked for, or forced by mode `ANY`) and with which arguments.

use crate::content::{field, last_turn_has_function_response, last_user_plain_text, str_field};
use serde_json::{Map, Value};

/// A function call the simulated model decides to make.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlannedCall {
    pub name: String,
    pub args: Value,
}

/// Decide whether to answer with function calls, and which.
///
/// Rules: the request must declare `tools[].functionDeclarations`; `toolConfig.functionCallingConfig.mode`
/// `NONE` never calls; `allowedFunctionNames` limits the choice; a last turn carrying
/// `functionResponse` parts is answered with text. When the last user text names several callable
/// functions, the model calls them all at once (parallel calls, as Gemini 3 makes them). Otherwise it
/// calls the one function named there, or — when that text contains "weather" — the first function
/// whose name contains "weather" (else the first one); with mode `ANY` it always calls (the first
/// allowed function if nothing else matched).
pub(crate) fn plan_function_calls(req: &Value) -> Vec<PlannedCall> {
    let mut decls: Vec<&Value> = Vec::new();
    if let Some(tools) = field(req, "tools").and_then(Value::as_array) {
        for t in tools {
            if let Some(ds) = field(t, "functionDeclarations").and_then(Value::as_array) {
                decls.extend(ds.iter());
            }
        }
    }
    let fcc = field(req, "toolConfig").and_then(|tc| field(tc, "functionCallingConfig"));
    let mode = fcc
        .and_then(|c| str_field(c, "mode"))
        .unwrap_or("AUTO")
        .to_ascii_uppercase();
    if let Some(allowed) = fcc
        .and_then(|c| field(c, "allowedFunctionNames"))
        .and_then(Value::as_array)
    {
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        if !names.is_empty() {
            decls.retain(|d| str_field(d, "name").is_some_and(|n| names.contains(&n)));
        }
    }
    if decls.is_empty() || mode == "NONE" || last_turn_has_function_response(req) {
        return Vec::new();
    }
    let text = last_user_plain_text(req);
    let lower = text.to_lowercase();
    let name_of = |d: &Value| str_field(d, "name").unwrap_or("").to_owned();
    let plan = |d: &Value| PlannedCall {
        name: name_of(d),
        args: make_args(d, &text),
    };
    let named: Vec<&Value> = decls
        .iter()
        .copied()
        .filter(|d| {
            let n = name_of(d).to_lowercase();
            !n.is_empty() && lower.contains(&n)
        })
        .collect();
    let chosen = if let Some(d) = named.first() {
        if named.len() > 1 {
            return named.into_iter().map(plan).collect();
        }
        *d
    } else if lower.contains("weather") {
        decls
            .iter()
            .find(|d| name_of(d).to_lowercase().contains("weather"))
            .copied()
            .unwrap_or(decls[0])
    } else if let Some(d) = decls.iter().find(|d| plausible(d, &lower)) {
        d
    } else if mode == "ANY" {
        decls[0]
    } else {
        return Vec::new();
    };
    vec![plan(chosen)]
}

/// Words of a function name that say what it does (`get_current_time` → `time`; `searchDocs` →
/// `search`, `docs`), without the generic verbs and fillers every tool name has.
fn name_words(name: &str) -> Vec<String> {
    const GENERIC: &[&str] = &[
        "get", "set", "fetch", "list", "the", "current", "run", "call", "tool", "func", "function",
        "do", "make", "create", "query", "lookup", "find", "info", "data", "api", "for", "and",
    ];
    let mut words = Vec::new();
    let mut w = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let split = !c.is_alphanumeric() || (c.is_uppercase() && prev_lower);
        if split && !w.is_empty() {
            words.push(std::mem::take(&mut w));
        }
        if c.is_alphanumeric() {
            w.extend(c.to_lowercase());
        }
        prev_lower = c.is_lowercase();
    }
    if !w.is_empty() {
        words.push(w);
    }
    words.retain(|w| w.len() >= 3 && !GENERIC.contains(&w.as_str()));
    words
}

/// Whether the prompt plausibly asks for this function (AUTO mode): a word of its name appears
/// in the prompt as a word or the start of one (`time` in "What time is it", `file` in "files").
fn plausible(decl: &Value, lower_prompt: &str) -> bool {
    let name = str_field(decl, "name").unwrap_or("");
    let prompt_words: Vec<&str> = lower_prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    name_words(name)
        .iter()
        .any(|n| prompt_words.iter().any(|p| p.starts_with(n.as_str())))
}

/// Place named after " in " in the prompt ("weather in Paris?" -> "Paris").
fn place_in(text: &str) -> Option<String> {
    let idx = text.rfind(" in ")?;
    let rest = &text[idx + 4..];
    let place: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '\'')
        .collect();
    let place = place.trim();
    (!place.is_empty()).then(|| place.to_owned())
}

fn schema_type(schema: &Value) -> String {
    match field(schema, "type") {
        Some(Value::String(s)) => s.to_lowercase(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|s| !s.eq_ignore_ascii_case("null"))
            .unwrap_or("string")
            .to_lowercase(),
        _ => "string".to_owned(),
    }
}

/// Arguments filling the declaration's required properties (all of them if none is required).
fn make_args(decl: &Value, text: &str) -> Value {
    let schema = field(decl, "parametersJsonSchema").or_else(|| field(decl, "parameters"));
    let Some(props) = schema
        .and_then(|s| field(s, "properties"))
        .and_then(Value::as_object)
    else {
        return Value::Object(Map::new());
    };
    let required: Vec<&str> = schema
        .and_then(|s| field(s, "required"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let keys: Vec<&str> = if required.is_empty() {
        props.keys().map(String::as_str).collect()
    } else {
        required
    };
    let mut args = Map::new();
    for k in keys {
        let prop = props.get(k).cloned().unwrap_or(Value::Null);
        let v = if let Some(first) = field(&prop, "enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            first.clone()
        } else {
            match schema_type(&prop).as_str() {
                "integer" | "number" => Value::from(1),
                "boolean" => Value::Bool(true),
                "array" => Value::Array(Vec::new()),
                "object" => Value::Object(Map::new()),
                _ => Value::String(place_in(text).unwrap_or_else(|| "Paris".to_owned())),
            }
        };
        args.insert(k.to_owned(), v);
    }
    Value::Object(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::default_reply;
    use serde_json::json;

    fn plan_function_call(req: &Value) -> Option<PlannedCall> {
        let mut calls = plan_function_calls(req);
        assert!(calls.len() <= 1, "{calls:?}");
        calls.pop()
    }

    #[test]
    fn function_call_trigger() {
        let tools = json!([{"functionDeclarations": [
            {"name": "sum", "parametersJsonSchema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}},
            {"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "unit": {"type": "STRING", "enum": ["C", "F"]}}, "required": ["city", "unit"]}}
        ]}]);
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "What's the weather in Paris?"}]}], "tools": tools});
        let c = plan_function_call(&req).unwrap();
        assert_eq!(c.name, "get_weather");
        assert_eq!(c.args, json!({"city": "Paris", "unit": "C"}));

        let req = json!({"contents": [{"role": "user", "parts": [{"text": "please use sum"}]}], "tools": tools});
        assert_eq!(
            plan_function_call(&req).unwrap().args,
            json!({"a": 1, "b": 1})
        );

        let req =
            json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}], "tools": tools});
        assert!(plan_function_call(&req).is_none());
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}], "tools": tools,
                         "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_weather"]}}});
        assert_eq!(plan_function_call(&req).unwrap().name, "get_weather");
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "weather"}]}], "tools": tools,
                         "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}});
        assert!(plan_function_call(&req).is_none());

        let req = json!({"contents": [
            {"role": "user", "parts": [{"text": "What's the weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}]}
        ], "tools": tools});
        assert!(plan_function_call(&req).is_none());
        assert_eq!(
            default_reply(&req),
            "Echo: get_weather returned {\"temp\":20}"
        );
        // no tools: never
        let req = json!({"contents": [{"parts": [{"text": "weather in Rome"}]}]});
        assert!(plan_function_call(&req).is_none());
    }

    #[test]
    fn functions_named_together_are_called_in_parallel_within_the_allowed_ones() {
        let tools = json!([{"functionDeclarations": [
            {"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}},
            {"name": "get_time", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}
        ]}]);
        let text = json!([{"role": "user", "parts": [{"text": "call get_weather and get_time for Paris"}]}]);
        let req = json!({"contents": text, "tools": tools});
        let names: Vec<String> = plan_function_calls(&req)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["get_weather", "get_time"]);
        let req = json!({"contents": text, "tools": tools,
                         "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["get_time"]}}});
        let names: Vec<String> = plan_function_calls(&req)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            ["get_time"],
            "a function not allowed is never called"
        );
    }

    #[test]
    fn auto_mode_calls_a_function_the_prompt_plausibly_asks_for() {
        let decls = json!([{"functionDeclarations": [
            {"name": "get_current_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"name": "searchDocs"}
        ]}]);
        let ask = |text: &str| {
            plan_function_calls(
                &json!({"contents": [{"role": "user", "parts": [{"text": text}]}],
                                        "tools": decls}),
            )
        };
        assert_eq!(ask("What time is it in Tokyo?")[0].name, "get_current_time");
        assert_eq!(
            ask("What time is it in Tokyo?")[0].args,
            json!({"city": "Tokyo"})
        );
        assert_eq!(ask("Search the docs for pagination")[0].name, "searchDocs");
        assert!(ask("Tell me a joke").is_empty());
        assert_eq!(name_words("get_current_time"), ["time"]);
        assert_eq!(name_words("searchDocs"), ["search", "docs"]);
    }
}
