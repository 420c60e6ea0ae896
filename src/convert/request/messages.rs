//! OpenAI `messages` → Gemini `systemInstruction` parts and `contents`: roles mapped, consecutive
//! same-role turns merged, tool calls and their results paired by id, Gemini 3 signatures kept.

use super::super::gemini_request::{push_turn, Args, Call, Content, FnResponse, Part, ToolResult};
use super::super::thinking::sign_model_turns;
use super::super::ConvertError;
use super::fields::{present, string, value};
use super::parts::{content_parts, Allow};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// One message as written.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct RawMessage<'a> {
    role: Option<&'a RawValue>,
    content: Option<&'a RawValue>,
    refusal: Option<&'a RawValue>,
    tool_calls: Option<&'a RawValue>,
    tool_call_id: Option<&'a RawValue>,
    name: Option<&'a RawValue>,
    function_call: Option<&'a RawValue>,
}

/// System parts and `contents`; `gemini3` adds the placeholder signature Gemini 3 requires on
/// function calls it did not sign.
pub(super) fn messages<'a>(
    raw: Option<&'a RawValue>,
    gemini3: bool,
) -> Result<(Vec<Part<'a>>, Vec<Content<'a>>), ConvertError> {
    let Some(raw) = present(raw) else {
        return Err(ConvertError::invalid("messages", "`messages` is required."));
    };
    let msgs: Vec<&'a RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
        ConvertError::invalid("messages", "`messages` must be an array of messages.")
    })?;
    if msgs.is_empty() {
        return Err(ConvertError::invalid(
            "messages",
            "`messages` is empty: send at least one message, e.g. [{\"role\":\"user\",\"content\":\"Hello\"}].",
        ));
    }

    let mut system = Vec::new();
    let mut turns: Vec<Content<'a>> = Vec::with_capacity(msgs.len());
    // tool_call id → function name, from earlier assistant messages.
    let mut call_names: HashMap<Cow<'a, str>, Cow<'a, str>> = HashMap::new();

    for (i, m) in msgs.into_iter().enumerate() {
        let path = || format!("messages[{i}]");
        let msg: RawMessage<'a> = (m.get().starts_with('{'))
            .then(|| serde_json::from_str(m.get()).ok())
            .flatten()
            .ok_or_else(|| ConvertError::invalid(path(), "each message must be an object"))?;
        let role = present(msg.role).and_then(string).ok_or_else(|| {
            ConvertError::invalid(format!("{}.role", path()), "each message needs a `role`")
        })?;
        match &*role {
            "system" | "developer" => {
                content_parts(msg.content, None, &path, Allow::Text, &mut system)?;
            }
            "user" => {
                let mut parts = Vec::new();
                content_parts(msg.content, None, &path, Allow::User, &mut parts)?;
                push_turn(&mut turns, "user", parts);
            }
            "assistant" => {
                let mut parts = Vec::new();
                content_parts(
                    msg.content,
                    msg.refusal,
                    &path,
                    Allow::Assistant,
                    &mut parts,
                )?;
                tool_call_parts(&msg, &path, &mut call_names, &mut parts)?;
                push_turn(&mut turns, "model", parts);
            }
            "tool" => {
                let id = present(msg.tool_call_id)
                    .and_then(string)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        ConvertError::invalid(
                            format!("{}.tool_call_id", path()),
                            "tool messages need the `tool_call_id` of the call they answer",
                        )
                    })?;
                let Some(name) = call_names.get(&id).cloned() else {
                    return Err(ConvertError::invalid(
                        format!("{}.tool_call_id", path()),
                        format!(
                            "tool_call_id {id:?} does not match any tool_calls[].id of an earlier assistant message"
                        ),
                    ));
                };
                let text = tool_text(msg.content, &path)?;
                let id = upstream_call_id(&id).is_some().then_some(id);
                push_turn(&mut turns, "user", tool_result(id, name, text));
            }
            "function" => {
                let name = present(msg.name)
                    .and_then(string)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        ConvertError::invalid(
                            format!("{}.name", path()),
                            "function messages need the `name` of the function",
                        )
                    })?;
                let text = tool_text(msg.content, &path)?;
                push_turn(&mut turns, "user", tool_result(None, name, text));
            }
            other => {
                return Err(ConvertError::invalid(
                    format!("{}.role", path()),
                    format!(
                    "unknown role {other:?}; expected system, developer, user, assistant or tool"
                ),
                ))
            }
        }
    }

    if turns.is_empty() {
        return Err(ConvertError::invalid(
            "messages",
            "`messages` has no user, assistant or tool message with content; Gemini needs at least one.",
        ));
    }
    if gemini3 {
        sign_model_turns(&mut turns);
    }
    Ok((system, turns))
}

/// A tool's result as the `functionResponse` part of a user turn.
fn tool_result<'a>(id: Option<Cow<'a, str>>, name: Cow<'a, str>, text: String) -> Vec<Part<'a>> {
    vec![Part::Response {
        function_response: FnResponse {
            id,
            name,
            response: ToolResult::from_text(text),
        },
    }]
}

/// The id to send upstream for a client tool-call id. Ids shaped like `call_` + 24 alphanumerics are
/// this gateway's own (for Gemini answers that had no id) or OpenAI's; Gemini never issued them, so
/// they are left out and Gemini matches calls and responses by order and name, as it does for 2.x
/// models. Any other id (Gemini 3's own, e.g. `3ae8iwca`) is echoed.
pub(super) fn upstream_call_id(id: &str) -> Option<&str> {
    (!super::super::minted_id(id, "call_") && !id.is_empty()).then_some(id)
}

/// A tool message's content as one string (text parts concatenated).
fn tool_text(
    content: Option<&RawValue>,
    path: &dyn Fn() -> String,
) -> Result<String, ConvertError> {
    let mut parts = Vec::new();
    content_parts(content, None, path, Allow::Text, &mut parts)?;
    Ok(parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(&**text),
            _ => None,
        })
        .collect())
}

/// An assistant message's `tool_calls` (and legacy `function_call`) → `functionCall` parts,
/// recording each id's function name for the tool messages that follow.
fn tool_call_parts<'a>(
    msg: &RawMessage<'a>,
    path: &dyn Fn() -> String,
    names: &mut HashMap<Cow<'a, str>, Cow<'a, str>>,
    out: &mut Vec<Part<'a>>,
) -> Result<(), ConvertError> {
    if let Some(tc) = present(msg.tool_calls) {
        let Value::Array(calls) = value(tc) else {
            return Err(ConvertError::invalid(
                format!("{}.tool_calls", path()),
                "`tool_calls` must be an array",
            ));
        };
        for (j, tc) in calls.into_iter().enumerate() {
            let tpath = || format!("{}.tool_calls[{j}]", path());
            let Value::Object(tc) = tc else {
                return Err(ConvertError::invalid(
                    tpath(),
                    "each tool call must be an object",
                ));
            };
            if let Some(t) = tc.get("type").and_then(Value::as_str) {
                if t != "function" {
                    return Err(ConvertError::invalid(
                        format!("{}.type", tpath()),
                        format!("tool call type {t:?} is not supported; only \"function\""),
                    ));
                }
            }
            let Some(Value::Object(f)) = tc.get("function") else {
                return Err(ConvertError::invalid(
                    format!("{}.function", tpath()),
                    "tool calls need a `function` object",
                ));
            };
            let fpath = || format!("{}.function", tpath());
            let (name, args) = function_name_args(f, &fpath)?;
            let id = tc.get("id").and_then(Value::as_str).unwrap_or("");
            let signature = signature_of(&tc).map(|s| Cow::Owned(s.to_string()));
            if !id.is_empty() {
                names.insert(Cow::Owned(id.to_string()), Cow::Owned(name.clone()));
            }
            out.push(Part::Call {
                function_call: Call {
                    id: upstream_call_id(id).map(|i| Cow::Owned(i.to_string())),
                    name: Cow::Owned(name),
                    args,
                },
                thought_signature: signature,
            });
        }
    }
    if let Some(fc) = present(msg.function_call) {
        let Value::Object(f) = value(fc) else {
            return Err(ConvertError::invalid(
                format!("{}.function_call", path()),
                "`function_call` must be an object",
            ));
        };
        let fpath = || format!("{}.function_call", path());
        let (name, args) = function_name_args(&f, &fpath)?;
        out.push(Part::Call {
            function_call: Call {
                id: None,
                name: Cow::Owned(name),
                args,
            },
            thought_signature: None,
        });
    }
    Ok(())
}

/// `tool_calls[].extra_content.google.thought_signature` (camelCase tolerated).
fn signature_of(tc: &serde_json::Map<String, Value>) -> Option<&str> {
    let g = tc.get("extra_content")?.get("google")?;
    g.get("thought_signature")
        .or_else(|| g.get("thoughtSignature"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `{name, arguments}`: arguments is a JSON string of an object (or, leniently, an object;
/// empty means `{}`).
fn function_name_args(
    f: &serde_json::Map<String, Value>,
    path: &dyn Fn() -> String,
) -> Result<(String, Args), ConvertError> {
    let name = match f.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => {
            return Err(ConvertError::invalid(
                format!("{}.name", path()),
                "function calls need a `name`",
            ))
        }
    };
    let apath = || format!("{}.arguments", path());
    let args = match f.get("arguments").filter(|v| !v.is_null()) {
        None => Args::Empty,
        Some(Value::String(s)) if s.trim().is_empty() => Args::Empty,
        Some(Value::String(s)) => match serde_json::from_str::<Box<RawValue>>(s) {
            Ok(r) if r.get().starts_with('{') => Args::Raw(r),
            Ok(_) => {
                return Err(ConvertError::invalid(
                    apath(),
                    "`arguments` must encode a JSON object",
                ))
            }
            Err(e) => {
                return Err(ConvertError::invalid(
                    apath(),
                    format!("`arguments` is not valid JSON: {e}"),
                ))
            }
        },
        Some(v @ Value::Object(_)) => Args::Value(v.clone()),
        Some(_) => {
            return Err(ConvertError::invalid(
                apath(),
                "`arguments` must be a JSON string",
            ))
        }
    };
    Ok((name, args))
}
