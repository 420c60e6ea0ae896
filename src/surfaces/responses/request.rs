//! OpenAI Responses request → Gemini `GenerateContentRequest`: `input` (a string or items:
//! messages with text, image and file parts, function calls and their outputs, reasoning items
//! carrying thought signatures), `instructions`, function tools through the shared schema
//! sanitiser, `tool_choice`, `text.format`, `reasoning`, sampling; what Gemini or this gateway
//! cannot honour is refused with a 400 naming the field.

use crate::convert::gemini_request::{
    push_turn, Args, Call, Content, FnResponse, GeminiRequest, Part, Parts, Safety, ToolResult,
};
use crate::convert::media::inline_from_data_uri;
use crate::convert::minted_id;
use crate::convert::thinking::{
    budget_for, can_disable, family, level_for, max_budget, sign_model_turns, Family,
};
use crate::error::GatewayError;
use crate::model::ModelId;
use crate::pipeline::body::TextOrList;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// A Responses request as the client wrote it (fields the translation does not use are ignored).
#[derive(Deserialize)]
pub(super) struct ResponsesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(default, borrow)]
    input: Option<Input<'a>>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub text: Option<Value>,
    #[serde(default)]
    reasoning: Option<Reasoning>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Whether to store the response (the API's default: yes).
    #[serde(default)]
    pub store: Option<bool>,
    /// `auto` fits a stored history into the model's window; `disabled` (the default) sends it
    /// whole.
    #[serde(default)]
    pub truncation: Option<String>,
    #[serde(default)]
    conversation: Option<Value>,
    #[serde(default)]
    background: Option<bool>,
    #[serde(default)]
    prompt: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub user: Option<String>,
}

type Input<'a> = TextOrList<'a, Item<'a>>;

/// One input item; which fields matter depends on `type` (a message when absent).
#[derive(Deserialize)]
struct Item<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default, borrow)]
    content: Option<MessageContent<'a>>,
    #[serde(default, borrow)]
    call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    output: Option<MessageContent<'a>>,
    #[serde(default, borrow)]
    encrypted_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Role {
    User,
    Assistant,
    System,
    Developer,
}

type MessageContent<'a> = TextOrList<'a, ContentPart<'a>>;

/// One content part (`input_text`, `input_image`, `input_file`, `output_text`, `refusal`).
#[derive(Deserialize)]
struct ContentPart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    image_url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    file_data: Option<Cow<'a, str>>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    file_id: Option<String>,
    #[serde(default)]
    file_url: Option<String>,
}

/// `reasoning`, as the client sent it and as the response echoes it.
#[derive(Deserialize, Debug, Clone, Default)]
pub(super) struct Reasoning {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
}

/// A translated request.
pub(super) struct ResponsesPlan {
    pub model: ModelId,
    pub stream: bool,
    /// Gemini `GenerateContentRequest` JSON.
    pub body: Vec<u8>,
    pub est_tokens: u64,
    /// Thought summaries go back as reasoning items' `summary`.
    pub summaries: bool,
    /// `reasoning` as the response echoes it.
    pub reasoning: Reasoning,
}

pub(super) fn invalid(param: impl Into<String>, message: impl std::fmt::Display) -> GatewayError {
    let param = param.into();
    GatewayError::bad_request(format!("{param}: {message}")).with_param(param)
}

/// Translate a Responses request (the model id already parsed; `calls`: the `call_id` → function
/// name of the calls in the stored responses it continues).
pub(super) fn translate(
    req: &mut ResponsesRequest<'_>,
    model: ModelId,
    safety_threshold: &'static str,
    calls: HashMap<String, String>,
) -> Result<ResponsesPlan, GatewayError> {
    refuse_unsupported(req)?;
    let fam = family(&model);
    let mut system: Vec<Part<'_>> = Vec::new();
    if let Some(i) = req.instructions.as_deref().filter(|i| !i.is_empty()) {
        system.push(Part::Text {
            text: Cow::Owned(i.to_string()),
        });
    }
    let mut contents: Vec<Content<'_>> = Vec::new();
    match req.input.take() {
        None => {
            return Err(invalid(
                "input",
                "required: a string or a list of input items.",
            ))
        }
        Some(TextOrList::Text(t)) => push_turn(&mut contents, "user", text_part(t)),
        Some(TextOrList::List(items)) => {
            items_to_contents(items, calls, &mut system, &mut contents)?
        }
    }
    if contents.is_empty() {
        return Err(invalid(
            "input",
            "no content to send: give at least one message with text, an image or a file.",
        ));
    }
    if fam == Family::Level {
        sign_model_turns(&mut contents);
    }

    let mut gen = Map::new();
    if let Some(m) = req.max_output_tokens {
        gen.insert("maxOutputTokens".into(), Value::from(m));
    }
    if let Some(t) = req.temperature {
        gen.insert("temperature".into(), Value::from(t));
    }
    if let Some(t) = req.top_p {
        gen.insert("topP".into(), Value::from(t));
    }
    super::tools::text_format(req.text.as_ref(), &mut gen)?;
    let (summaries, reasoning) = thinking(req.reasoning.as_ref(), &model, fam, &mut gen)?;
    let (tools, tool_config) = super::tools::tools(req.tools.as_deref(), req.tool_choice.as_ref())?;
    let out = GeminiRequest {
        contents: Some(contents),
        system_instruction: (!system.is_empty()).then_some(Parts { parts: system }),
        tool_config,
        tools,
        generation_config: gen,
        safety_settings: Some(Safety::Configured(safety_threshold)),
        extra: Map::new(),
    };
    let body = serde_json::to_vec(&out)
        .map_err(|e| GatewayError::internal(format!("could not encode the Gemini request: {e}")))?;
    Ok(ResponsesPlan {
        model,
        stream: req.stream.unwrap_or(false),
        body,
        est_tokens: out.estimated_tokens(),
        summaries,
        reasoning,
    })
}

/// What reads state this gateway does not keep (conversation objects, background runs, prompt
/// templates) is refused rather than ignored; so is a `truncation` it does not know.
fn refuse_unsupported(req: &ResponsesRequest<'_>) -> Result<(), GatewayError> {
    if req.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(invalid(
            "conversation",
            "conversation objects are not kept here; continue a stored response with `previous_response_id`, or send the whole conversation in `input`.",
        ));
    }
    if req.background == Some(true) {
        return Err(invalid(
            "background",
            "background responses are not supported: ask with `stream` to see the answer as it is written.",
        ));
    }
    if req.prompt.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(invalid(
            "prompt",
            "stored prompt templates live at OpenAI; send `instructions` and `input` instead.",
        ));
    }
    if let Some(t) = req.truncation.as_deref() {
        if t != "auto" && t != "disabled" {
            return Err(invalid(
                "truncation",
                format_args!("{t:?} is not a truncation (auto or disabled)."),
            ));
        }
    }
    Ok(())
}

fn text_part(t: Cow<'_, str>) -> Vec<Part<'_>> {
    if t.is_empty() {
        Vec::new()
    } else {
        vec![Part::Text { text: t }]
    }
}

/// Input items → system parts and turns. A reasoning item's `encrypted_content` is the thought
/// signature of the next part of the model turn (where Gemini had put it).
fn items_to_contents<'a>(
    items: Vec<Item<'a>>,
    calls: HashMap<String, String>,
    system: &mut Vec<Part<'a>>,
    contents: &mut Vec<Content<'a>>,
) -> Result<(), GatewayError> {
    // call_id → function name, for the outputs that answer the calls (stored ones first).
    let mut names = calls;
    let mut signature: Option<Cow<'a, str>> = None;
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        let kind = item.kind.as_deref().unwrap_or("message");
        match kind {
            "message" => {
                let Some(role) = item.role else {
                    return Err(invalid(
                        format!("{at}.role"),
                        "required: user, assistant, system or developer.",
                    ));
                };
                let parts = match item.content {
                    None => return Err(invalid(format!("{at}.content"), "required.")),
                    Some(TextOrList::Text(t)) => text_part(t),
                    Some(TextOrList::List(ps)) => content_parts(ps, &at, role)?,
                };
                match role {
                    Role::System | Role::Developer => system.extend(parts),
                    Role::User => {
                        signature = None;
                        push_turn(contents, "user", parts);
                    }
                    Role::Assistant => {
                        let mut parts = parts;
                        if let (Some(s), Some(first)) = (signature.take(), parts.first_mut()) {
                            sign(first, s);
                        }
                        push_turn(contents, "model", parts);
                    }
                }
            }
            "function_call" => {
                let (Some(call_id), Some(name)) = (item.call_id, item.name) else {
                    return Err(invalid(&at, "a function_call item needs call_id and name."));
                };
                let args = match item.arguments.as_deref().map(str::trim) {
                    None | Some("") => Args::Empty,
                    Some(a) => match serde_json::from_str::<Value>(a) {
                        Ok(v @ Value::Object(_)) => Args::Value(v),
                        _ => {
                            return Err(invalid(
                                format!("{at}.arguments"),
                                "must be a JSON object encoded as a string.",
                            ))
                        }
                    },
                };
                names.insert(call_id.to_string(), name.to_string());
                let mut part = Part::Call {
                    function_call: Call {
                        id: (!minted_id(&call_id, "call_")).then_some(call_id),
                        name,
                        args,
                    },
                    thought_signature: None,
                };
                if let Some(s) = signature.take() {
                    sign(&mut part, s);
                }
                push_turn(contents, "model", vec![part]);
            }
            "function_call_output" => {
                let Some(call_id) = item.call_id else {
                    return Err(invalid(format!("{at}.call_id"), "required."));
                };
                let Some(name) = names.get(&*call_id).cloned() else {
                    return Err(invalid(
                        format!("{at}.call_id"),
                        format_args!("{call_id:?} does not match a function_call item before it (or in the response it continues)."),
                    ));
                };
                let mut extra = Vec::new();
                let text = match item.output {
                    None => String::new(),
                    Some(TextOrList::Text(t)) => t.into_owned(),
                    Some(TextOrList::List(ps)) => {
                        let mut texts = Vec::new();
                        for p in content_parts(ps, &format!("{at}.output"), Role::User)? {
                            match p {
                                Part::Text { text } => texts.push(text.into_owned()),
                                other => extra.push(other),
                            }
                        }
                        texts.join("\n")
                    }
                };
                let mut parts = vec![Part::Response {
                    function_response: FnResponse {
                        id: (!minted_id(&call_id, "call_")).then_some(call_id),
                        name: Cow::Owned(name),
                        response: ToolResult::from_text(text),
                    },
                }];
                parts.append(&mut extra);
                signature = None;
                push_turn(contents, "user", parts);
            }
            "reasoning" => {
                signature = item.encrypted_content.filter(|s| !s.is_empty()).or(signature);
            }
            "item_reference" => {
                return Err(invalid(
                    &at,
                    "item references are not resolved here; send the item itself, or continue the response it belongs to with `previous_response_id`.",
                ))
            }
            other => {
                return Err(invalid(
                    format!("{at}.type"),
                    format_args!("{other:?} items are not supported (message, function_call, function_call_output and reasoning are)."),
                ))
            }
        }
    }
    Ok(())
}

/// Put a thought signature on a part that carries one (function calls and text).
fn sign<'a>(part: &mut Part<'a>, sig: Cow<'a, str>) {
    match part {
        Part::Call {
            thought_signature, ..
        } => *thought_signature = Some(sig),
        Part::Text { text } => {
            let text = std::mem::take(text);
            *part = Part::TextSigned {
                text,
                thought_signature: sig,
            };
        }
        _ => {}
    }
}

/// A message's content parts → Gemini parts.
fn content_parts<'a>(
    parts: Vec<ContentPart<'a>>,
    at: &str,
    role: Role,
) -> Result<Vec<Part<'a>>, GatewayError> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        let media_ok = role == Role::User;
        match &*p.kind {
            "input_text" | "output_text" | "text" => out.extend(text_part(p.text.unwrap_or_default())),
            "refusal" => out.extend(text_part(p.refusal.unwrap_or_default())),
            "input_image" if media_ok => {
                if p.file_id.is_some() {
                    return Err(invalid(
                        format!("{here}.file_id"),
                        "uploaded files are not proxied; send the image as a data: URI in image_url.",
                    ));
                }
                let Some(url) = p.image_url else {
                    return Err(invalid(format!("{here}.image_url"), "required (a data: URI)."));
                };
                let path = || format!("{here}.image_url");
                out.push(inline_from_data_uri(url, &path, None)?);
            }
            "input_file" if media_ok => {
                if p.file_id.is_some() || p.file_url.is_some() {
                    let f = if p.file_id.is_some() { "file_id" } else { "file_url" };
                    return Err(invalid(
                        format!("{here}.{f}"),
                        "files are not fetched or proxied; send the file's content in file_data.",
                    ));
                }
                let Some(data) = p.file_data else {
                    return Err(invalid(format!("{here}.file_data"), "required (a data: URI or base64)."));
                };
                let path = || format!("{here}.file_data");
                out.push(inline_from_data_uri(data, &path, p.filename.as_deref())?);
            }
            "input_image" | "input_file" => {
                return Err(invalid(
                    format!("{here}.type"),
                    "images and files belong in user messages.",
                ))
            }
            other => {
                return Err(invalid(
                    format!("{here}.type"),
                    format_args!("{other:?} is not a supported content type (input_text, input_image, input_file, output_text, refusal)."),
                ))
            }
        }
    }
    Ok(out)
}

/// `reasoning` → `thinkingConfig`; returns whether summaries were asked for and the echo.
fn thinking(
    r: Option<&Reasoning>,
    model: &str,
    fam: Family,
    gen: &mut Map<String, Value>,
) -> Result<(bool, Reasoning), GatewayError> {
    let Some(r) = r else {
        return Ok((false, Reasoning::default()));
    };
    const EFFORTS: [&str; 6] = ["none", "minimal", "low", "medium", "high", "xhigh"];
    if let Some(e) = r.effort.as_deref() {
        if !EFFORTS.contains(&e) {
            return Err(invalid(
                "reasoning.effort",
                format_args!("{e:?} is not an effort (none, minimal, low, medium, high, xhigh)."),
            ));
        }
    }
    let summaries = r.summary.is_some() && fam != Family::None;
    let mut config = Map::new();
    match (fam, r.effort.as_deref()) {
        (Family::None, _) | (_, None) => {}
        (Family::Level, Some(e)) => {
            config.insert("thinkingLevel".into(), Value::from(level_for(e)));
        }
        (Family::Budget, Some("none")) if !can_disable(model) => {}
        (Family::Budget, Some(e)) => {
            let b = budget_for(e).min(max_budget(model) as i64);
            config.insert("thinkingBudget".into(), Value::from(b));
        }
    }
    if summaries {
        config.insert("includeThoughts".into(), Value::Bool(true));
    }
    if !config.is_empty() {
        gen.insert("thinkingConfig".into(), Value::Object(config));
    }
    Ok((summaries, r.clone()))
}
