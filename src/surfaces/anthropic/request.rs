//! Anthropic Messages request → Gemini `GenerateContentRequest`: roles, content blocks (text,
//! base64 images and PDFs, tool use and results, thinking signatures), tools through the shared
//! schema sanitiser, tool choice, thinking, sampling and stop sequences.

use crate::config::AnthropicConfig;
use crate::convert::gemini_request::{
    gemini_tools, push_turn, Args, Call, Content, FnResponse, GeminiRequest, Part, Parts, Safety,
    ToolResult,
};
use crate::convert::media::{accepted_mime, inline};
use crate::convert::minted_id;
use crate::convert::schema::parameters;
use crate::convert::thinking::{can_disable, family, max_budget, sign_model_turns, Family};
use crate::error::{ErrorKind, GatewayError};
use crate::model::ModelId;
use crate::pipeline::body::TextOrList;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// A Messages request as the client wrote it (fields the translation does not use are ignored).
#[derive(Deserialize)]
pub(super) struct MessagesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    pub max_tokens: Option<u64>,
    #[serde(default, borrow)]
    system: Option<System<'a>>,
    #[serde(default, borrow)]
    messages: Vec<Message<'a>>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    tools: Option<Vec<Tool>>,
    #[serde(default)]
    tool_choice: Option<ToolChoice>,
    #[serde(default)]
    thinking: Option<Thinking>,
}

type System<'a> = TextOrList<'a, TextBlock<'a>>;

#[derive(Deserialize)]
struct TextBlock<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Role {
    User,
    Assistant,
}

#[derive(Deserialize)]
struct Message<'a> {
    role: Role,
    #[serde(borrow)]
    content: MessageContent<'a>,
}

type MessageContent<'a> = TextOrList<'a, Block<'a>>;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
    Image {
        #[serde(borrow)]
        source: Source<'a>,
    },
    Document {
        #[serde(borrow)]
        source: Source<'a>,
    },
    ToolUse {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        #[serde(borrow)]
        tool_use_id: Cow<'a, str>,
        #[serde(default, borrow)]
        content: Option<ToolResultContent<'a>>,
        #[serde(default)]
        is_error: Option<bool>,
    },
    Thinking {
        #[serde(default, borrow)]
        signature: Option<Cow<'a, str>>,
    },
    RedactedThinking {},
    /// Server-side tool blocks and anything newer: not sent upstream.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source<'a> {
    Base64 {
        #[serde(borrow)]
        media_type: Cow<'a, str>,
        #[serde(borrow)]
        data: Cow<'a, str>,
    },
    Text {
        #[serde(borrow)]
        data: Cow<'a, str>,
    },
    Url {},
    #[serde(other)]
    Other,
}

type ToolResultContent<'a> = TextOrList<'a, Block<'a>>;

#[derive(Deserialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToolChoice {
    Auto {},
    Any {},
    Tool { name: String },
    None {},
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Thinking {
    Enabled { budget_tokens: u64 },
    Disabled {},
    Adaptive {},
}

/// A translated request.
pub(super) struct MessagesPlan {
    pub model: ModelId,
    /// The model name the client asked for, echoed in answers.
    pub requested: String,
    pub stream: bool,
    /// Gemini `GenerateContentRequest` JSON.
    pub body: Vec<u8>,
    pub est_tokens: u64,
    /// Thought text and signatures go back as `thinking` blocks.
    pub thinking: bool,
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::bad_request(message)
}

/// The Gemini model a client's model name means; unknown `claude-*` names list the aliases.
pub(super) fn resolve_model(
    aliases: &AnthropicConfig,
    name: &str,
) -> Result<ModelId, GatewayError> {
    if let Some(m) = aliases.resolve(name) {
        return Ok(m);
    }
    if name.starts_with("claude") {
        let known: Vec<String> = aliases
            .model_aliases
            .iter()
            .map(|(a, m)| format!("{a}* → {m}"))
            .collect();
        return Err(GatewayError::new(
            ErrorKind::ModelNotFound,
            format!(
                "model: {name:?} has no Gemini model configured (anthropic.model_aliases: {}); or name a Gemini model.",
                known.join(", ")
            ),
        ));
    }
    ModelId::parse(name).map_err(|e| invalid(format!("model: {}", e.message())).with_param("model"))
}

/// Translate a Messages request (or a count_tokens one, which has no `max_tokens`).
pub(super) fn translate(
    req: MessagesRequest<'_>,
    aliases: &AnthropicConfig,
    safety_threshold: &'static str,
) -> Result<MessagesPlan, GatewayError> {
    let model = resolve_model(aliases, &req.model)?;
    let fam = family(&model);

    let system: Vec<Part<'_>> = match req.system {
        None => Vec::new(),
        Some(TextOrList::Text(t)) => text_parts(t),
        Some(TextOrList::List(b)) => b.into_iter().flat_map(|b| text_parts(b.text)).collect(),
    };
    let mut contents: Vec<Content<'_>> = Vec::with_capacity(req.messages.len());
    // tool_use id → function name, for the tool_result blocks that answer them.
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, m) in req.messages.into_iter().enumerate() {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        let parts = match m.content {
            TextOrList::Text(t) => text_parts(t),
            TextOrList::List(blocks) => blocks_to_parts(blocks, i, m.role, &mut names)?,
        };
        push_turn(&mut contents, role, parts);
    }
    if contents.is_empty() {
        return Err(invalid(
            "messages: at least one message with content is required.",
        ));
    }
    if fam == Family::Level {
        sign_model_turns(&mut contents);
    }

    let mut gen = Map::new();
    if let Some(m) = req.max_tokens {
        gen.insert("maxOutputTokens".into(), Value::from(m));
    }
    if let Some(t) = req.temperature {
        gen.insert("temperature".into(), Value::from(t));
    }
    if let Some(t) = req.top_p {
        gen.insert("topP".into(), Value::from(t));
    }
    if let Some(k) = req.top_k {
        gen.insert("topK".into(), Value::from(k));
    }
    if let Some(stop) = req.stop_sequences.filter(|s| !s.is_empty()) {
        if stop.len() > 5 {
            return Err(invalid(format!(
                "stop_sequences: Gemini accepts at most 5; got {}.",
                stop.len()
            ))
            .with_param("stop_sequences"));
        }
        gen.insert("stopSequences".into(), Value::from(stop));
    }
    let thinking = match req.thinking {
        Some(Thinking::Enabled { budget_tokens }) => {
            let config = match fam {
                Family::Level => {
                    json!({"thinkingLevel": if budget_tokens <= 4096 { "LOW" } else { "HIGH" }, "includeThoughts": true})
                }
                _ => {
                    json!({"thinkingBudget": budget_tokens.min(max_budget(&model)), "includeThoughts": true})
                }
            };
            if fam != Family::None {
                gen.insert("thinkingConfig".into(), config);
            }
            fam != Family::None
        }
        Some(Thinking::Adaptive {}) if fam != Family::None => {
            gen.insert("thinkingConfig".into(), json!({"includeThoughts": true}));
            true
        }
        Some(Thinking::Disabled {}) if can_disable(&model) => {
            gen.insert("thinkingConfig".into(), json!({"thinkingBudget": 0}));
            false
        }
        _ => false,
    };

    let (tools, tool_config) = tools(req.tools, req.tool_choice)?;
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
    Ok(MessagesPlan {
        requested: req.model.into_owned(),
        model,
        stream: req.stream.unwrap_or(false),
        body,
        est_tokens: out.estimated_tokens(),
        thinking,
    })
}

fn text_parts(t: Cow<'_, str>) -> Vec<Part<'_>> {
    if t.is_empty() {
        Vec::new()
    } else {
        vec![Part::Text { text: t }]
    }
}

/// A message's blocks → Gemini parts. A `thinking` block's signature goes on the next part (where
/// Gemini had put it); a last one without a next part, on the part before it.
fn blocks_to_parts<'a>(
    blocks: Vec<Block<'a>>,
    i: usize,
    role: Role,
    names: &mut HashMap<String, String>,
) -> Result<Vec<Part<'a>>, GatewayError> {
    let mut parts: Vec<Part<'a>> = Vec::with_capacity(blocks.len());
    let mut signature: Option<Cow<'a, str>> = None;
    let mut extra: Vec<Part<'a>> = Vec::new();
    for (j, b) in blocks.into_iter().enumerate() {
        let at = || format!("messages[{i}].content[{j}]");
        let assistant_only = |what: &str| {
            invalid(format!(
                "{}: a {what} block belongs in an assistant message.",
                at()
            ))
            .with_param(at())
        };
        let part = match b {
            Block::Text { text } if text.is_empty() => continue,
            Block::Text { text } => Part::Text { text },
            Block::Image { source } | Block::Document { source } => media(source, &at())?,
            Block::ToolUse { id, name, input } => {
                if role != Role::Assistant {
                    return Err(assistant_only("tool_use"));
                }
                names.insert(id.to_string(), name.to_string());
                let args = match input {
                    Value::Object(_) => Args::Value(input),
                    Value::Null => Args::Empty,
                    _ => {
                        return Err(invalid(format!("{}.input: must be an object.", at()))
                            .with_param(format!("{}.input", at())))
                    }
                };
                Part::Call {
                    function_call: Call {
                        id: gemini_call_id(&id).then_some(id),
                        name,
                        args,
                    },
                    thought_signature: None,
                }
            }
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let Some(name) = names.get(&*tool_use_id).cloned() else {
                    return Err(invalid(format!(
                        "{}.tool_use_id: {tool_use_id:?} does not match a tool_use block of an earlier assistant message.",
                        at()
                    ))
                    .with_param(format!("{}.tool_use_id", at())));
                };
                let text = match content {
                    None => String::new(),
                    Some(TextOrList::Text(t)) => t.into_owned(),
                    Some(TextOrList::List(bs)) => {
                        let mut texts = Vec::new();
                        for (k, b) in bs.into_iter().enumerate() {
                            match b {
                                Block::Text { text } => texts.push(text.into_owned()),
                                // Images a tool returned (Claude Code's Read of a picture)
                                // follow the function response as parts of the same turn.
                                Block::Image { source } | Block::Document { source } => {
                                    extra.push(media(source, &format!("{}.content[{k}]", at()))?)
                                }
                                _ => {}
                            }
                        }
                        texts.join("\n")
                    }
                };
                let response = if is_error == Some(true) {
                    ToolResult::Output(format!("Error: {text}"))
                } else {
                    ToolResult::from_text(text)
                };
                Part::Response {
                    function_response: FnResponse {
                        id: gemini_call_id(&tool_use_id).then_some(tool_use_id),
                        name: Cow::Owned(name),
                        response,
                    },
                }
            }
            Block::Thinking { signature: s } => {
                if role != Role::Assistant {
                    return Err(assistant_only("thinking"));
                }
                signature = s.filter(|s| !s.is_empty()).or(signature);
                continue;
            }
            Block::RedactedThinking {} | Block::Other => continue,
        };
        parts.push(with_signature(part, signature.take()));
        parts.append(&mut extra);
    }
    if let Some(s) = signature {
        if let Some(last) = parts.pop() {
            parts.push(with_signature(last, Some(s)));
        }
    }
    Ok(parts)
}

/// An `image` or `document` block's source → a Gemini part; `at` is the block's path.
fn media<'a>(source: Source<'a>, at: &str) -> Result<Part<'a>, GatewayError> {
    match source {
        Source::Base64 { media_type, data } => {
            let mime = accepted_mime(&media_type.to_ascii_lowercase()).ok_or_else(|| {
                invalid(format!(
                    "{at}.source.media_type: {media_type:?} is not a type Gemini takes (images: PNG, JPEG, WEBP, HEIC, HEIF; documents: PDF, plain text)."
                ))
                .with_param(format!("{at}.source.media_type"))
            })?;
            let path = || format!("{at}.source.data");
            Ok(inline(mime, data, &path)?)
        }
        Source::Text { data } => Ok(Part::Text { text: data }),
        Source::Url {} => Err(invalid(format!(
            "{at}.source: URL sources are not supported: the gateway does not fetch URLs; send the content as base64."
        ))
        .with_param(format!("{at}.source"))),
        Source::Other => Err(invalid(format!("{at}.source: unsupported source type."))
            .with_param(format!("{at}.source"))),
    }
}

/// Attach a thought signature to a part (text and function calls carry them).
fn with_signature<'a>(part: Part<'a>, sig: Option<Cow<'a, str>>) -> Part<'a> {
    let Some(sig) = sig else { return part };
    match part {
        Part::Call { function_call, .. } => Part::Call {
            function_call,
            thought_signature: Some(sig),
        },
        Part::Text { text } => Part::TextSigned {
            text,
            thought_signature: sig,
        },
        other => other,
    }
}

/// Whether a tool-use id is Gemini's own (sent back upstream) rather than one this gateway made
/// up (`toolu_` + 24 alphanumerics, for calls Gemini sent without an id).
fn gemini_call_id(id: &str) -> bool {
    !minted_id(id, "toolu_") && !id.is_empty()
}

/// `tools` and `tool_choice` → Gemini `tools` and `toolConfig`.
fn tools(
    tools: Option<Vec<Tool>>,
    choice: Option<ToolChoice>,
) -> Result<(Vec<Value>, Option<Value>), GatewayError> {
    let mut decls = Vec::new();
    let mut search = false;
    for (i, t) in tools.unwrap_or_default().into_iter().enumerate() {
        match t.kind.as_deref() {
            None | Some("custom") => {}
            Some(k) if k.starts_with("web_search") => {
                search = true;
                continue;
            }
            Some(k) => {
                return Err(invalid(format!(
                    "tools[{i}]: the server tool {k:?} cannot be run by Gemini through this gateway; declare it as a custom tool with an input_schema."
                ))
                .with_param(format!("tools[{i}].type")))
            }
        }
        let mut d = Map::new();
        d.insert("name".into(), Value::from(t.name));
        if let Some(desc) = t.description.filter(|d| !d.is_empty()) {
            d.insert("description".into(), Value::from(desc));
        }
        if let Some(s) = t.input_schema.as_ref().and_then(parameters) {
            d.insert("parametersJsonSchema".into(), s);
        }
        decls.push(Value::Object(d));
    }
    let names: Vec<&str> = decls
        .iter()
        .filter_map(|d| d.get("name").and_then(Value::as_str))
        .collect();
    let config = match choice {
        None | Some(ToolChoice::Auto {}) => None,
        Some(ToolChoice::Any {}) => Some(json!({"functionCallingConfig": {"mode": "ANY"}})),
        Some(ToolChoice::None {}) => Some(json!({"functionCallingConfig": {"mode": "NONE"}})),
        Some(ToolChoice::Tool { name }) => {
            if !names.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "tool_choice.name: {name:?} is not one of the declared tools."
                ))
                .with_param("tool_choice.name"));
            }
            Some(json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}))
        }
    }
    .filter(|_| !decls.is_empty());
    Ok((gemini_tools(decls, search), config))
}
