//! OpenAI `chat/completions` request → Gemini `GenerateContentRequest` (see `docs/openai-mapping.md`).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::b64::{self, DataUriError};
use super::schema::sanitize;
use super::{model_param, random_id, ChatMeta, ChatPlan, ConvertError, ConvertOptions};

/// Google's documented placeholder signature for function calls that Gemini did not produce
/// (history injected or rewritten by the client), accepted by Gemini 3's validator.
pub(crate) const DUMMY_SIGNATURE: &str = "skip_thought_signature_validator";

/// Harm categories the Developer API accepts in `safetySettings`.
const HARM_CATEGORIES: [&str; 5] = [
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
];

/// `google` extras keys (camelCase) that belong inside `generationConfig`.
const GENERATION_KEYS: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "responseLogprobs",
    "logprobs",
    "speechConfig",
    "mediaResolution",
    "imageConfig",
    "enableEnhancedCivicAnswers",
    "audioTimestamp",
];

/// How a model family takes thinking controls.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    /// Gemini 3: `thinkingLevel`.
    Level,
    /// Gemini 2.5 and anything unknown: `thinkingBudget` (Gemini 3 also accepts it).
    Budget,
    /// Models without thinking (Gemini 1.x / 2.0, Gemma): `reasoning_effort` is ignored.
    None,
}

fn family(model: &str) -> Family {
    let m = model.to_ascii_lowercase();
    if m.starts_with("gemini-3") {
        Family::Level
    } else if m.starts_with("gemini-1")
        || m.starts_with("gemini-2.0")
        || m.starts_with("gemma")
        || m.starts_with("learnlm")
    {
        Family::None
    } else {
        Family::Budget
    }
}

/// Translate an OpenAI chat request.
pub fn chat_request(body: &[u8], opts: &ConvertOptions) -> Result<ChatPlan, ConvertError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| ConvertError::body(format!("Request body is not valid JSON: {e}.")))?;
    let Value::Object(req) = root else {
        return Err(ConvertError::body("Request body must be a JSON object."));
    };

    let model = model_param(get(&req, "model"))?;
    let stream = boolean(&req, "stream")?.unwrap_or(false);
    let include_usage = stream
        && get(&req, "stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true);

    refuse_unsupported(&req)?;

    let (system, contents) = messages(&req, &model)?;

    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }

    let (mut tools, tool_config) = tools(&req)?;
    if let Some(tc) = tool_config {
        out.insert("toolConfig".into(), tc);
    }

    let mut gen = generation_config(&req)?;

    // Thinking: reasoning_effort first, then the google extras' thinking_config on top.
    let fam = family(&model);
    let effort = reasoning_effort(&req)?;
    let mut thinking = Map::new();
    let mut include_thoughts = false;
    if let Some(e) = effort {
        if fam != Family::None {
            match fam {
                Family::Level => {
                    thinking.insert("thinkingLevel".into(), Value::from(level_for(e)));
                }
                _ => {
                    thinking.insert("thinkingBudget".into(), Value::from(budget_for(e)));
                }
            }
            include_thoughts = e != "none";
        }
    }

    // The configured safety settings are written straight into the body at the end (the same for
    // every request); `google.safetySettings` from the client replaces them.
    let mut safety: Option<Value> = None;

    for (path, google) in google_extras(&req)? {
        for (k, v) in google {
            if v.is_null() {
                continue;
            }
            let key = camel(k);
            match key.as_str() {
                "thinkingConfig" => {
                    let Value::Object(tc) = v else {
                        return Err(ConvertError::invalid(
                            format!("{path}.{k}"),
                            "must be an object",
                        ));
                    };
                    for (tk, tv) in tc {
                        let tk = camel(tk);
                        if effort.is_some() && (tk == "thinkingBudget" || tk == "thinkingLevel") {
                            return Err(ConvertError::invalid(
                                "reasoning_effort",
                                format!(
                                    "`reasoning_effort` and `{path}.{k}` budget/level cannot both be set; use one."
                                ),
                            ));
                        }
                        if tk == "includeThoughts" {
                            include_thoughts = tv.as_bool() == Some(true);
                        }
                        thinking.insert(tk, tv.clone());
                    }
                }
                "generationConfig" => {
                    let Value::Object(gc) = v else {
                        return Err(ConvertError::invalid(
                            format!("{path}.{k}"),
                            "must be an object",
                        ));
                    };
                    for (gk, gv) in gc {
                        let gk = camel(gk);
                        if gk == "thinkingConfig" {
                            if let Value::Object(tc) = gv {
                                for (tk, tv) in tc {
                                    let tk = camel(tk);
                                    if tk == "includeThoughts" {
                                        include_thoughts = tv.as_bool() == Some(true);
                                    }
                                    thinking.insert(tk, tv.clone());
                                }
                            }
                        } else {
                            gen.insert(gk, gv.clone());
                        }
                    }
                }
                "tools" => {
                    let Value::Array(t) = v else {
                        return Err(ConvertError::invalid(
                            format!("{path}.{k}"),
                            "must be an array of Gemini tools",
                        ));
                    };
                    tools.extend(t.iter().cloned());
                }
                "safetySettings" => safety = Some(v.clone()),
                k if GENERATION_KEYS.contains(&k) => {
                    gen.insert(key, v.clone());
                }
                _ => {
                    out.insert(key, v.clone());
                }
            }
        }
    }

    if include_thoughts {
        thinking.insert("includeThoughts".into(), Value::Bool(true));
    }
    if !thinking.is_empty() {
        gen.insert("thinkingConfig".into(), Value::Object(thinking));
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    if !gen.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gen));
    }
    let configured_safety = safety.is_none();
    if let Some(s) = safety {
        out.insert("safetySettings".into(), s);
    }

    let mut body = serde_json::to_vec(&Value::Object(out)).map_err(|e| ConvertError {
        kind: super::ConvertKind::Internal,
        param: None,
        message: format!("could not encode the Gemini request: {e}"),
    })?;
    if configured_safety && body.last() == Some(&b'}') {
        body.pop();
        body.extend_from_slice(b",\"safetySettings\":");
        push_safety_settings(&mut body, opts.safety_threshold);
        body.push(b'}');
    }
    Ok(ChatPlan {
        model: model.clone(),
        stream,
        body,
        meta: ChatMeta {
            id: random_id("chatcmpl-", 29),
            created: u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0),
            model: model.to_string(),
            include_thoughts,
            include_usage,
            roo_line_count: opts.roo_line_count,
        },
    })
}

/// `[{"category":…,"threshold":…},…]` for every harm category. Categories and thresholds are fixed
/// upper-case identifiers, so nothing needs escaping.
fn push_safety_settings(body: &mut Vec<u8>, threshold: &str) {
    body.push(b'[');
    for (i, c) in HARM_CATEGORIES.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{\"category\":\"");
        body.extend_from_slice(c.as_bytes());
        body.extend_from_slice(b"\",\"threshold\":\"");
        body.extend_from_slice(threshold.as_bytes());
        body.extend_from_slice(b"\"}");
    }
    body.push(b']');
}

// ---------------------------------------------------------------------------------------------
// Field helpers. JSON `null` counts as absent everywhere.

fn get<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    m.get(k).filter(|v| !v.is_null())
}

fn boolean(m: &Map<String, Value>, k: &str) -> Result<Option<bool>, ConvertError> {
    match get(m, k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ConvertError::invalid(
            k,
            format!("`{k}` must be a boolean."),
        )),
    }
}

fn number(m: &Map<String, Value>, k: &str) -> Result<Option<Value>, ConvertError> {
    match get(m, k) {
        None => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ConvertError::invalid(k, format!("`{k}` must be a number."))),
    }
}

fn integer(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, ConvertError> {
    match get(m, k) {
        None => Ok(None),
        Some(Value::Number(n)) => {
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
        Some(_) => Err(ConvertError::invalid(
            k,
            format!("`{k}` must be an integer."),
        )),
    }
}

fn positive(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, ConvertError> {
    match integer(m, k)? {
        Some(i) if i < 1 => Err(ConvertError::invalid(
            k,
            format!("`{k}` must be a positive integer."),
        )),
        other => Ok(other),
    }
}

/// `thinking_budget` → `thinkingBudget`; camelCase passes unchanged.
fn camel(k: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// Fields refused outright.

fn refuse_unsupported(req: &Map<String, Value>) -> Result<(), ConvertError> {
    if boolean(req, "logprobs")? == Some(true) {
        return Err(ConvertError::unsupported(
            "logprobs",
            "`logprobs` is not supported by this gateway's Gemini translation.",
        ));
    }
    if integer(req, "top_logprobs")?.is_some_and(|n| n > 0) {
        return Err(ConvertError::unsupported(
            "top_logprobs",
            "`top_logprobs` is not supported by this gateway's Gemini translation.",
        ));
    }
    if let Some(m) = get(req, "modalities") {
        let Value::Array(list) = m else {
            return Err(ConvertError::invalid(
                "modalities",
                "`modalities` must be an array.",
            ));
        };
        if list.iter().any(|x| x.as_str() != Some("text")) {
            return Err(ConvertError::unsupported(
                "modalities",
                "Only the \"text\" output modality is supported.",
            ));
        }
    }
    if get(req, "audio").is_some() {
        return Err(ConvertError::unsupported(
            "audio",
            "Audio output is not supported.",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Messages.

/// Which content part types a role may carry.
#[derive(Clone, Copy, PartialEq)]
enum Allow {
    /// `system`, `developer`, `tool`: text only.
    Text,
    /// `assistant`: text and refusal.
    Assistant,
    /// `user`: text, images, audio, files.
    User,
}

/// Contents under construction; consecutive same-role turns are merged.
struct Turns(Vec<(&'static str, Vec<Value>)>);

impl Turns {
    fn push(&mut self, role: &'static str, parts: Vec<Value>) {
        if parts.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some((r, p)) if *r == role => p.extend(parts),
            _ => self.0.push((role, parts)),
        }
    }
}

/// System parts and `contents`.
fn messages(
    req: &Map<String, Value>,
    model: &str,
) -> Result<(Vec<Value>, Vec<Value>), ConvertError> {
    let msgs = match get(req, "messages") {
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ConvertError::invalid(
                "messages",
                "`messages` must be an array of messages.",
            ))
        }
        None => return Err(ConvertError::invalid("messages", "`messages` is required.")),
    };
    if msgs.is_empty() {
        return Err(ConvertError::invalid(
            "messages",
            "`messages` is empty: send at least one message, e.g. [{\"role\":\"user\",\"content\":\"Hello\"}].",
        ));
    }

    let mut system = Vec::new();
    let mut turns = Turns(Vec::new());
    // tool_call id → function name, from earlier assistant messages.
    let mut call_names: HashMap<String, String> = HashMap::new();

    for (i, m) in msgs.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Value::Object(msg) = m else {
            return Err(ConvertError::invalid(
                path,
                "each message must be an object",
            ));
        };
        let role = match get(msg, "role") {
            Some(Value::String(r)) => r.as_str(),
            _ => {
                return Err(ConvertError::invalid(
                    format!("{path}.role"),
                    "each message needs a `role`",
                ))
            }
        };
        match role {
            "system" | "developer" => {
                system.extend(content_parts(msg, &path, Allow::Text)?);
            }
            "user" => {
                let parts = content_parts(msg, &path, Allow::User)?;
                turns.push("user", parts);
            }
            "assistant" => {
                let mut parts = content_parts(msg, &path, Allow::Assistant)?;
                parts.extend(tool_call_parts(msg, &path, &mut call_names)?);
                turns.push("model", parts);
            }
            "tool" => {
                let id = match get(msg, "tool_call_id") {
                    Some(Value::String(s)) if !s.is_empty() => s,
                    _ => {
                        return Err(ConvertError::invalid(
                            format!("{path}.tool_call_id"),
                            "tool messages need the `tool_call_id` of the call they answer",
                        ))
                    }
                };
                let Some(name) = call_names.get(id) else {
                    return Err(ConvertError::invalid(
                        format!("{path}.tool_call_id"),
                        format!(
                            "tool_call_id {id:?} does not match any tool_calls[].id of an earlier assistant message"
                        ),
                    ));
                };
                let text = tool_text(msg, &path)?;
                let mut fr = Map::new();
                if let Some(id) = upstream_call_id(id) {
                    fr.insert("id".into(), Value::from(id));
                }
                fr.insert("name".into(), Value::from(name.as_str()));
                fr.insert("response".into(), tool_response(text));
                turns.push("user", vec![json!({ "functionResponse": fr })]);
            }
            "function" => {
                let name = match get(msg, "name") {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => {
                        return Err(ConvertError::invalid(
                            format!("{path}.name"),
                            "function messages need the `name` of the function",
                        ))
                    }
                };
                let text = tool_text(msg, &path)?;
                turns.push(
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": tool_response(text)}})],
                );
            }
            other => {
                return Err(ConvertError::invalid(
                    format!("{path}.role"),
                    format!(
                    "unknown role {other:?}; expected system, developer, user, assistant or tool"
                ),
                ))
            }
        }
    }

    if turns.0.is_empty() {
        return Err(ConvertError::invalid(
            "messages",
            "`messages` has no user, assistant or tool message with content; Gemini needs at least one.",
        ));
    }

    let gemini3 = family(model) == Family::Level;
    let contents = turns
        .0
        .into_iter()
        .map(|(role, mut parts)| {
            if gemini3 && role == "model" {
                add_dummy_signature(&mut parts);
            }
            json!({"role": role, "parts": parts})
        })
        .collect();
    Ok((system, contents))
}

/// Gemini 3 rejects a model turn whose first `functionCall` part has no `thoughtSignature`;
/// for history it did not sign, Google documents a placeholder signature.
fn add_dummy_signature(parts: &mut [Value]) {
    if let Some(Value::Object(first)) = parts.iter_mut().find(|p| p.get("functionCall").is_some()) {
        first
            .entry("thoughtSignature")
            .or_insert_with(|| Value::from(DUMMY_SIGNATURE));
    }
}

/// The id to send upstream for a client tool-call id. Ids shaped like `call_` + 24
/// alphanumerics are this gateway's own (for Gemini answers that had no id) or OpenAI's; Gemini
/// never issued them, so they are left out and Gemini matches calls and responses by order and
/// name, as it does for 2.x models. Any other id (Gemini 3's own, e.g. `3ae8iwca`) is echoed.
fn upstream_call_id(id: &str) -> Option<&str> {
    let ours = id
        .strip_prefix("call_")
        .is_some_and(|r| r.len() == 24 && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    (!ours && !id.is_empty()).then_some(id)
}

/// Tool result `response`: the parsed JSON object if the content is one, else `{"output": content}`.
fn tool_response(text: String) -> Value {
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "output": text }),
    }
}

/// A tool message's content as one string (text parts concatenated).
fn tool_text(msg: &Map<String, Value>, path: &str) -> Result<String, ConvertError> {
    let parts = content_parts(msg, path, Allow::Text)?;
    Ok(parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect())
}

/// `content` (string, array of parts, or null) → Gemini parts. Empty text is skipped because
/// Gemini rejects empty text parts.
fn content_parts(
    msg: &Map<String, Value>,
    path: &str,
    allow: Allow,
) -> Result<Vec<Value>, ConvertError> {
    let mut out = Vec::new();
    match get(msg, "content") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => out.push(json!({ "text": s })),
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                let ppath = format!("{path}.content[{j}]");
                if let Some(p) = content_part(item, &ppath, allow)? {
                    out.push(p);
                }
            }
        }
        Some(_) => {
            return Err(ConvertError::invalid(
                format!("{path}.content"),
                "`content` must be a string or an array of content parts",
            ))
        }
    }
    // Assistant refusals are part of what the model said.
    if allow == Allow::Assistant {
        if let Some(Value::String(r)) = get(msg, "refusal") {
            if !r.is_empty() {
                out.push(json!({ "text": r }));
            }
        }
    }
    Ok(out)
}

fn content_part(item: &Value, path: &str, allow: Allow) -> Result<Option<Value>, ConvertError> {
    let Value::Object(part) = item else {
        // A bare string inside the array: treat it as text.
        if let Value::String(s) = item {
            return Ok((!s.is_empty()).then(|| json!({ "text": s })));
        }
        return Err(ConvertError::invalid(path, "content parts must be objects"));
    };
    let ty = match get(part, "type") {
        Some(Value::String(t)) => t.as_str(),
        None if part.contains_key("text") => "text",
        _ => {
            return Err(ConvertError::invalid(
                format!("{path}.type"),
                "content parts need a `type`",
            ))
        }
    };
    let not_here = || {
        ConvertError::invalid(
            format!("{path}.type"),
            format!("content part type {ty:?} is not allowed in this message's role"),
        )
    };
    match ty {
        "text" => match get(part, "text") {
            Some(Value::String(s)) => Ok((!s.is_empty()).then(|| json!({ "text": s }))),
            None => Ok(None),
            Some(_) => Err(ConvertError::invalid(
                format!("{path}.text"),
                "`text` must be a string",
            )),
        },
        "refusal" if allow == Allow::Assistant => match get(part, "refusal") {
            Some(Value::String(s)) => Ok((!s.is_empty()).then(|| json!({ "text": s }))),
            _ => Ok(None),
        },
        "image_url" if allow == Allow::User => {
            let (url, upath) = match get(part, "image_url") {
                Some(Value::String(s)) => (s.as_str(), format!("{path}.image_url")),
                Some(Value::Object(o)) => match get(o, "url") {
                    Some(Value::String(s)) => (s.as_str(), format!("{path}.image_url.url")),
                    _ => {
                        return Err(ConvertError::invalid(
                            format!("{path}.image_url.url"),
                            "`image_url.url` is required",
                        ))
                    }
                },
                _ => {
                    return Err(ConvertError::invalid(
                        format!("{path}.image_url"),
                        "`image_url` must be an object with a `url`",
                    ))
                }
            };
            inline_from_data_uri(url, &upath, None).map(Some)
        }
        "input_audio" if allow == Allow::User => {
            let Some(Value::Object(a)) = get(part, "input_audio") else {
                return Err(ConvertError::invalid(
                    format!("{path}.input_audio"),
                    "`input_audio` must be an object with `data` and `format`",
                ));
            };
            let Some(Value::String(data)) = get(a, "data") else {
                return Err(ConvertError::invalid(
                    format!("{path}.input_audio.data"),
                    "`input_audio.data` (base64) is required",
                ));
            };
            if data.len() >= 5
                && data
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
            {
                return inline_from_data_uri(data, &format!("{path}.input_audio.data"), None)
                    .map(Some);
            }
            let format = get(a, "format").and_then(Value::as_str).unwrap_or("");
            let Some(mime) = audio_format_mime(format) else {
                return Err(ConvertError::invalid(
                    format!("{path}.input_audio.format"),
                    format!("audio format {format:?} is not supported; use wav, mp3, aiff, aac, ogg or flac"),
                ));
            };
            inline(mime, data, &format!("{path}.input_audio.data")).map(Some)
        }
        "file" if allow == Allow::User => {
            let Some(Value::Object(f)) = get(part, "file") else {
                return Err(ConvertError::invalid(
                    format!("{path}.file"),
                    "`file` must be an object with `file_data`",
                ));
            };
            let filename = get(f, "filename").and_then(Value::as_str);
            match get(f, "file_data") {
                Some(Value::String(data)) => {
                    inline_from_data_uri(data, &format!("{path}.file.file_data"), filename)
                        .map(Some)
                }
                _ if get(f, "file_id").is_some() => Err(ConvertError::unsupported(
                    format!("{path}.file.file_id"),
                    "`file_id` is not supported; send the file inline as `file_data` (a data: URI)",
                )),
                _ => Err(ConvertError::invalid(
                    format!("{path}.file.file_data"),
                    "`file.file_data` is required",
                )),
            }
        }
        "refusal" | "image_url" | "input_audio" | "file" => Err(not_here()),
        other => Err(ConvertError::invalid(
            format!("{path}.type"),
            format!("unsupported content part type {other:?}"),
        )),
    }
}

/// A `data:` URI → `inlineData`. Remote URLs are refused: the gateway never fetches
/// user-supplied URLs. `filename` lets raw base64 `file_data` name its type by extension.
fn inline_from_data_uri(
    url: &str,
    path: &str,
    filename: Option<&str>,
) -> Result<Value, ConvertError> {
    match b64::parse_data_uri(url) {
        Ok(d) => {
            let Some(mime) = accepted_mime(&d.mime) else {
                return Err(ConvertError::invalid(
                    path,
                    format!(
                        "media type {:?} is not supported by Gemini; images must be PNG, JPEG, WEBP, HEIC or HEIF (audio: WAV, MP3, AIFF, AAC, OGG, FLAC; documents: PDF and text)",
                        d.mime
                    ),
                ));
            };
            inline(mime, d.data, path)
        }
        Err(DataUriError::NotBase64) => Err(ConvertError::invalid(
            path,
            "data: URIs must be base64-encoded (data:<type>;base64,<data>)",
        )),
        Err(DataUriError::NotDataUri) => {
            let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                return Err(ConvertError::invalid(
                    path,
                    "remote URLs are not supported: the gateway does not fetch URLs; send the content inline as a data: URI (data:image/png;base64,...)",
                ));
            }
            // Raw base64 with the type named by the file name's extension.
            if let Some(mime) = filename.and_then(mime_from_filename) {
                return inline(mime, url, path);
            }
            Err(ConvertError::invalid(
                path,
                "expected a data: URI (data:<type>;base64,<data>)",
            ))
        }
    }
}

fn inline(mime: &str, data: &str, path: &str) -> Result<Value, ConvertError> {
    let data = b64::strip_ws(data);
    if !b64::plausible(&data) {
        return Err(ConvertError::invalid(path, "the data is not valid base64"));
    }
    Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
}

/// The canonical Gemini MIME type for an inline payload, or `None` if Gemini does not take it.
fn accepted_mime(mime: &str) -> Option<&'static str> {
    Some(match mime {
        // Images.
        "image/png" => "image/png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        "image/heic" => "image/heic",
        "image/heif" => "image/heif",
        // Audio.
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav",
        "audio/mp3" | "audio/mpeg" | "audio/mpeg3" | "audio/x-mp3" => "audio/mp3",
        "audio/aiff" | "audio/x-aiff" => "audio/aiff",
        "audio/aac" => "audio/aac",
        "audio/ogg" => "audio/ogg",
        "audio/flac" | "audio/x-flac" => "audio/flac",
        // Video.
        "video/mp4" => "video/mp4",
        "video/mpeg" => "video/mpeg",
        "video/mov" | "video/quicktime" => "video/mov",
        "video/avi" | "video/x-msvideo" => "video/avi",
        "video/x-flv" => "video/x-flv",
        "video/mpg" => "video/mpg",
        "video/webm" => "video/webm",
        "video/wmv" | "video/x-ms-wmv" => "video/wmv",
        "video/3gpp" => "video/3gpp",
        // Documents.
        "application/pdf" => "application/pdf",
        "text/plain" => "text/plain",
        "text/html" => "text/html",
        "text/css" => "text/css",
        "text/csv" => "text/csv",
        "text/xml" | "application/xml" => "text/xml",
        "text/markdown" => "text/markdown",
        "text/rtf" | "application/rtf" => "text/rtf",
        "text/javascript" | "application/javascript" => "text/javascript",
        "application/x-javascript" => "application/x-javascript",
        "text/x-python" => "text/x-python",
        "application/x-python" => "application/x-python",
        "application/json" => "application/json",
        _ => return None,
    })
}

fn audio_format_mime(format: &str) -> Option<&'static str> {
    Some(match format.to_ascii_lowercase().as_str() {
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "aiff" => "audio/aiff",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        _ => return None,
    })
}

fn mime_from_filename(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "xml" => "text/xml",
        "json" => "application/json",
        "js" => "text/javascript",
        "py" => "text/x-python",
        "rtf" => "text/rtf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "aiff" => "audio/aiff",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/mov",
        _ => return None,
    })
}

/// An assistant message's `tool_calls` (and legacy `function_call`) → `functionCall` parts,
/// recording each id's function name for the tool messages that follow.
fn tool_call_parts(
    msg: &Map<String, Value>,
    path: &str,
    names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, ConvertError> {
    let mut out = Vec::new();
    match get(msg, "tool_calls") {
        None => {}
        Some(Value::Array(calls)) => {
            for (j, tc) in calls.iter().enumerate() {
                let tpath = format!("{path}.tool_calls[{j}]");
                let Value::Object(tc) = tc else {
                    return Err(ConvertError::invalid(
                        tpath,
                        "each tool call must be an object",
                    ));
                };
                if let Some(t) = get(tc, "type").and_then(Value::as_str) {
                    if t != "function" {
                        return Err(ConvertError::invalid(
                            format!("{tpath}.type"),
                            format!("tool call type {t:?} is not supported; only \"function\""),
                        ));
                    }
                }
                let Some(Value::Object(f)) = get(tc, "function") else {
                    return Err(ConvertError::invalid(
                        format!("{tpath}.function"),
                        "tool calls need a `function` object",
                    ));
                };
                let (name, args) = function_name_args(f, &format!("{tpath}.function"))?;
                let id = get(tc, "id").and_then(Value::as_str).unwrap_or("");
                let mut fc = Map::new();
                if let Some(up) = upstream_call_id(id) {
                    fc.insert("id".into(), Value::from(up));
                }
                fc.insert("name".into(), Value::from(name.clone()));
                fc.insert("args".into(), args);
                let mut part = Map::new();
                part.insert("functionCall".into(), Value::Object(fc));
                if let Some(sig) = signature_of(tc) {
                    part.insert("thoughtSignature".into(), Value::from(sig));
                }
                out.push(Value::Object(part));
                if !id.is_empty() {
                    names.insert(id.to_string(), name);
                }
            }
        }
        Some(_) => {
            return Err(ConvertError::invalid(
                format!("{path}.tool_calls"),
                "`tool_calls` must be an array",
            ))
        }
    }
    if let Some(fc) = get(msg, "function_call") {
        let Value::Object(f) = fc else {
            return Err(ConvertError::invalid(
                format!("{path}.function_call"),
                "`function_call` must be an object",
            ));
        };
        let (name, args) = function_name_args(f, &format!("{path}.function_call"))?;
        out.push(json!({"functionCall": {"name": name, "args": args}}));
    }
    Ok(out)
}

/// `tool_calls[].extra_content.google.thought_signature` (camelCase tolerated).
fn signature_of(tc: &Map<String, Value>) -> Option<&str> {
    let g = tc.get("extra_content")?.get("google")?;
    g.get("thought_signature")
        .or_else(|| g.get("thoughtSignature"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `{name, arguments}`: arguments is a JSON string of an object (or, leniently, an object;
/// empty means `{}`).
fn function_name_args(f: &Map<String, Value>, path: &str) -> Result<(String, Value), ConvertError> {
    let name = match get(f, "name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => {
            return Err(ConvertError::invalid(
                format!("{path}.name"),
                "function calls need a `name`",
            ))
        }
    };
    let apath = format!("{path}.arguments");
    let args = match get(f, "arguments") {
        None => Value::Object(Map::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Map::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return Err(ConvertError::invalid(
                    apath,
                    "`arguments` must encode a JSON object",
                ))
            }
            Err(e) => {
                return Err(ConvertError::invalid(
                    apath,
                    format!("`arguments` is not valid JSON: {e}"),
                ))
            }
        },
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(ConvertError::invalid(
                apath,
                "`arguments` must be a JSON string",
            ))
        }
    };
    Ok((name, args))
}

// ---------------------------------------------------------------------------------------------
// Tools.

/// `tools` / `functions` / `web_search_options` → Gemini `tools`, and `tool_choice` /
/// `function_call` → `toolConfig`.
fn tools(req: &Map<String, Value>) -> Result<(Vec<Value>, Option<Value>), ConvertError> {
    let mut decls = Vec::new();
    if let Some(t) = get(req, "tools") {
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
    if let Some(t) = get(req, "functions") {
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

    let choice = match get(req, "tool_choice") {
        Some(c) => Some(tool_choice(c, "tool_choice", &names)?),
        None => match get(req, "function_call") {
            Some(c) => Some(tool_choice(c, "function_call", &names)?),
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
    if let Some(w) = get(req, "web_search_options") {
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
        let s = sanitize(p);
        // A schema with no properties declares a function without parameters.
        let has_props = s
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        if has_props || s.get("anyOf").is_some() {
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

// ---------------------------------------------------------------------------------------------
// generationConfig.

fn generation_config(req: &Map<String, Value>) -> Result<Map<String, Value>, ConvertError> {
    let mut g = Map::new();
    if let Some(t) = number(req, "temperature")? {
        g.insert("temperature".into(), t);
    }
    if let Some(t) = number(req, "top_p")? {
        g.insert("topP".into(), t);
    }
    if let Some(k) = positive(req, "top_k")? {
        g.insert("topK".into(), Value::from(k));
    }
    if let Some(n) = positive(req, "n")? {
        g.insert("candidateCount".into(), Value::from(n));
    }
    let max = match positive(req, "max_completion_tokens")? {
        Some(m) => Some(m),
        None => positive(req, "max_tokens")?,
    };
    if let Some(m) = max {
        g.insert("maxOutputTokens".into(), Value::from(m));
    }
    if let Some(p) = number(req, "presence_penalty")? {
        g.insert("presencePenalty".into(), p);
    }
    if let Some(p) = number(req, "frequency_penalty")? {
        g.insert("frequencyPenalty".into(), p);
    }
    if let Some(s) = integer(req, "seed")? {
        g.insert("seed".into(), Value::from(s));
    }
    if let Some(stop) = get(req, "stop") {
        let list: Vec<String> = match stop {
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
    if let Some(rf) = get(req, "response_format") {
        let Value::Object(rf) = rf else {
            return Err(ConvertError::invalid(
                "response_format",
                "`response_format` must be an object",
            ));
        };
        match get(rf, "type").and_then(Value::as_str) {
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

// ---------------------------------------------------------------------------------------------
// Thinking and Google extras.

fn reasoning_effort(req: &Map<String, Value>) -> Result<Option<&'static str>, ConvertError> {
    match get(req, "reasoning_effort") {
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

/// Gemini 2.5 `thinkingBudget` for an effort, as Google's compatibility layer does.
fn budget_for(effort: &str) -> i64 {
    match effort {
        "none" => 0,
        "minimal" | "low" => 1024,
        "medium" => 8192,
        _ => 24576,
    }
}

/// Gemini 3 `thinkingLevel` for an effort (Gemini 3 cannot turn thinking off: none → MINIMAL).
fn level_for(effort: &str) -> &'static str {
    match effort {
        "none" | "minimal" => "MINIMAL",
        "low" => "LOW",
        "medium" => "MEDIUM",
        _ => "HIGH",
    }
}

/// The `google` objects to apply, in order: top-level `google`, then `extra_body.google`.
/// A `google` extras object and the parameter path it came from.
type Extras<'a> = (&'static str, &'a Map<String, Value>);

fn google_extras(req: &Map<String, Value>) -> Result<Vec<Extras<'_>>, ConvertError> {
    let mut out = Vec::new();
    if let Some(g) = get(req, "google") {
        let Value::Object(g) = g else {
            return Err(ConvertError::invalid(
                "google",
                "`google` must be an object",
            ));
        };
        out.push(("google", g));
    }
    if let Some(eb) = get(req, "extra_body") {
        if let Some(g) = eb.get("google").filter(|g| !g.is_null()) {
            let Value::Object(g) = g else {
                return Err(ConvertError::invalid(
                    "extra_body.google",
                    "`extra_body.google` must be an object",
                ));
            };
            out.push(("extra_body.google", g));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(v: Value) -> ChatPlan {
        chat_request(v.to_string().as_bytes(), &ConvertOptions::default()).unwrap()
    }

    fn body(v: Value) -> Value {
        serde_json::from_slice(&plan(v).body).unwrap()
    }

    fn err(v: Value) -> ConvertError {
        chat_request(v.to_string().as_bytes(), &ConvertOptions::default()).unwrap_err()
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": text})
    }

    #[test]
    fn minimal_request() {
        let p = plan(json!({"model": "gemini-2.5-flash", "messages": [user("Hi")]}));
        assert_eq!(p.model, "gemini-2.5-flash");
        assert!(!p.stream);
        assert!(p.meta.id.starts_with("chatcmpl-"));
        assert_eq!(p.meta.model, "gemini-2.5-flash");
        assert!(p.meta.created > 1_600_000_000);
        assert!(!p.meta.include_thoughts && !p.meta.include_usage);
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            b["contents"],
            json!([{"role": "user", "parts": [{"text": "Hi"}]}])
        );
        assert!(b.get("systemInstruction").is_none());
        assert!(b.get("generationConfig").is_none());
    }

    #[test]
    fn models_prefix_is_stripped() {
        let p = plan(json!({"model": "models/gemini-2.5-pro", "messages": [user("x")]}));
        assert_eq!(p.model, "gemini-2.5-pro");
        assert_eq!(p.meta.model, "gemini-2.5-pro");
    }

    #[test]
    fn missing_model_is_400() {
        let e = err(json!({"messages": [user("x")]}));
        assert_eq!((e.status(), e.param.as_deref()), (400, Some("model")));
        let e = err(json!({"model": "", "messages": [user("x")]}));
        assert_eq!(e.param.as_deref(), Some("model"));
    }

    #[test]
    fn empty_messages_is_friendly_400() {
        let e = err(json!({"model": "m", "messages": []}));
        assert_eq!((e.status(), e.param.as_deref()), (400, Some("messages")));
        assert!(e.message.contains("empty"), "{}", e.message);
        let e = err(json!({"model": "m"}));
        assert_eq!(e.param.as_deref(), Some("messages"));
    }

    #[test]
    fn only_system_messages_is_400() {
        let e = err(json!({"model": "m", "messages": [{"role": "system", "content": "s"}]}));
        assert_eq!(e.param.as_deref(), Some("messages"));
    }

    #[test]
    fn invalid_json_and_non_object_are_400() {
        let e = chat_request(b"{nope", &ConvertOptions::default()).unwrap_err();
        assert_eq!(e.status(), 400);
        let e = chat_request(b"[1]", &ConvertOptions::default()).unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn system_and_developer_become_system_instruction() {
        let b = body(json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            user("Hi"),
            {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]}]}));
        assert_eq!(
            b["systemInstruction"],
            json!({"parts": [{"text": "Be brief."}, {"text": "No emoji."}]})
        );
        assert_eq!(b["contents"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn system_image_is_refused() {
        let e = err(
            json!({"model": "m", "messages": [{"role": "system", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]}, user("x")]}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
    }

    #[test]
    fn assistant_becomes_model_and_same_roles_merge() {
        let b = body(json!({"model": "m", "messages": [
            user("a"), user("b"),
            {"role": "assistant", "content": "c"}, {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
            user("e")]}));
        assert_eq!(
            b["contents"],
            json!([
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
                {"role": "user", "parts": [{"text": "e"}]}])
        );
    }

    #[test]
    fn empty_text_is_skipped() {
        let b = body(
            json!({"model": "m", "messages": [user("a"), {"role": "assistant", "content": ""}, user("b")]}),
        );
        assert_eq!(
            b["contents"],
            json!([{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}])
        );
    }

    #[test]
    fn unknown_role_is_400() {
        let e = err(json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}));
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
    }

    #[test]
    fn image_data_uri_becomes_inline_data() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ", "detail": "high"}}]}]}),
        );
        assert_eq!(
            b["contents"][0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}})
        );
    }

    #[test]
    fn image_url_as_bare_string_and_http_scheme_case() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": "data:image/webp;base64,UklGRg=="}]}]}),
        );
        assert_eq!(
            b["contents"][0]["parts"][0]["inlineData"]["mimeType"],
            "image/webp"
        );
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": "HTTP://example.com/a.png"}]}]}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0].image_url"));
        assert!(e.message.contains("remote URLs"));
    }

    #[test]
    fn remote_image_url_is_400_with_path() {
        let e = err(
            json!({"model": "m", "messages": [user("x"), {"role": "assistant", "content": "y"},
            {"role": "user", "content": [{"type": "text", "text": "t"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
        );
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.param.as_deref(),
            Some("messages[2].content[1].image_url.url")
        );
        assert!(e.message.contains("remote URLs"), "{}", e.message);
    }

    #[test]
    fn unsupported_image_mime_is_400() {
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGOD=="}}]}]}),
        );
        assert_eq!(
            e.param.as_deref(),
            Some("messages[0].content[0].image_url.url")
        );
        assert!(e.message.contains("image/gif"));
    }

    #[test]
    fn bad_base64_is_400() {
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,not base64!"}}]}]}),
        );
        assert!(e.message.contains("base64"));
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}]}]}),
        );
        assert!(e.message.contains("base64"));
    }

    #[test]
    fn wrapped_base64_is_unwrapped() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO\nRw0K"}}]}]}),
        );
        assert_eq!(
            b["contents"][0]["parts"][0]["inlineData"]["data"],
            "iVBORw0K"
        );
    }

    #[test]
    fn input_audio_becomes_inline_data() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}}]}]}),
        );
        assert_eq!(
            b["contents"][0]["parts"],
            json!([{"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                   {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}}])
        );
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "pcm16"}}]}]}),
        );
        assert_eq!(
            e.param.as_deref(),
            Some("messages[0].content[0].input_audio.format")
        );
    }

    #[test]
    fn file_data_becomes_inline_data() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "file", "file": {"file_data": "aGVsbG8=", "filename": "notes.txt"}}]}]}),
        );
        assert_eq!(
            b["contents"][0]["parts"],
            json!([{"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                   {"inlineData": {"mimeType": "text/plain", "data": "aGVsbG8="}}])
        );
    }

    #[test]
    fn file_id_is_400() {
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": "file-abc"}}]}]}),
        );
        assert_eq!(
            e.param.as_deref(),
            Some("messages[0].content[0].file.file_id")
        );
        assert_eq!(e.code(), Some("unsupported_parameter"));
    }

    #[test]
    fn unknown_part_type_is_400() {
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {}}]}]}),
        );
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
    }

    #[test]
    fn tools_become_function_declarations() {
        let b = body(json!({"model": "m", "messages": [user("x")], "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "strict": true,
             "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}},
            {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]}));
        assert_eq!(
            b["tools"],
            json!([{"functionDeclarations": [
                {"name": "get_weather", "description": "Weather", "parametersJsonSchema": {"type": "object",
                    "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}},
                {"name": "now"}]}])
        );
        assert!(b.get("toolConfig").is_none());
    }

    #[test]
    fn legacy_functions_become_declarations() {
        let b = body(json!({"model": "m", "messages": [user("x")],
            "functions": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}],
            "function_call": {"name": "f"}}));
        assert_eq!(b["tools"][0]["functionDeclarations"][0]["name"], "f");
        assert_eq!(
            b["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
    }

    #[test]
    fn non_function_tool_is_400() {
        let e = err(
            json!({"model": "m", "messages": [user("x")], "tools": [{"type": "custom", "custom": {"name": "x"}}]}),
        );
        assert_eq!(e.param.as_deref(), Some("tools[0].type"));
    }

    fn with_choice(choice: Value) -> Value {
        body(
            json!({"model": "m", "messages": [user("x")], "tool_choice": choice, "tools": [
            {"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]}),
        )
    }

    #[test]
    fn tool_choice_modes() {
        assert_eq!(
            with_choice(json!("auto"))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "AUTO"})
        );
        assert_eq!(
            with_choice(json!("none"))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "NONE"})
        );
        assert_eq!(
            with_choice(json!("required"))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY"})
        );
        assert_eq!(
            with_choice(json!({"type": "function", "function": {"name": "b"}}))["toolConfig"]
                ["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["b"]})
        );
    }

    #[test]
    fn tool_choice_allowed_tools() {
        let b = with_choice(
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto",
            "tools": [{"type": "function", "function": {"name": "b"}}]}}),
        );
        assert_eq!(
            b["toolConfig"]["functionCallingConfig"],
            json!({"mode": "AUTO"})
        );
        assert_eq!(
            b["tools"][0]["functionDeclarations"],
            json!([{"name": "b"}])
        );
        let b = with_choice(
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "required",
            "tools": [{"type": "function", "function": {"name": "a"}}]}}),
        );
        assert_eq!(
            b["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["a"]})
        );
    }

    #[test]
    fn tool_choice_unknown_function_is_400() {
        let e = err(
            json!({"model": "m", "messages": [user("x")], "tools": [{"type": "function", "function": {"name": "a"}}],
            "tool_choice": {"type": "function", "function": {"name": "zzz"}}}),
        );
        assert_eq!(e.param.as_deref(), Some("tool_choice.function.name"));
        let e = err(
            json!({"model": "m", "messages": [user("x")], "tools": [{"type": "function", "function": {"name": "a"}}],
            "tool_choice": "sometimes"}),
        );
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
    }

    #[test]
    fn tool_choice_without_tools_is_dropped() {
        let b = body(json!({"model": "m", "messages": [user("x")], "tool_choice": "none"}));
        assert!(b.get("toolConfig").is_none() && b.get("tools").is_none());
    }

    #[test]
    fn parallel_tool_calls_is_ignored() {
        let b = body(
            json!({"model": "m", "messages": [user("x")], "parallel_tool_calls": false,
            "tools": [{"type": "function", "function": {"name": "a"}}]}),
        );
        assert!(b.get("toolConfig").is_none());
    }

    #[test]
    fn tool_round_trip_matches_ids_and_names() {
        let b = body(json!({"model": "gemini-2.5-flash", "messages": [
            user("weather?"),
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "abc123", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_AAAAAAAAAAAAAAAAAAAAAAAA", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "abc123", "content": "{\"temp\":20}"},
            {"role": "tool", "tool_call_id": "call_AAAAAAAAAAAAAAAAAAAAAAAA", "content": "noon"},
            user("thanks")]}));
        assert_eq!(
            b["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"id": "abc123", "name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}}]})
        );
        assert_eq!(
            b["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"id": "abc123", "name": "get_weather", "response": {"temp": 20}}},
                {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
                {"text": "thanks"}]})
        );
    }

    #[test]
    fn tool_result_that_is_not_an_object_is_wrapped() {
        let b = body(json!({"model": "m", "messages": [user("x"),
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "[1,"}, {"type": "text", "text": "2]"}]}]}));
        assert_eq!(
            b["contents"][2]["parts"][0]["functionResponse"]["response"],
            json!({"output": "[1,2]"})
        );
    }

    #[test]
    fn tool_message_with_unknown_id_is_400() {
        let e = err(json!({"model": "m", "messages": [user("x"),
            {"role": "tool", "tool_call_id": "nope", "content": "r"}]}));
        assert_eq!(e.param.as_deref(), Some("messages[1].tool_call_id"));
        let e =
            err(json!({"model": "m", "messages": [user("x"), {"role": "tool", "content": "r"}]}));
        assert_eq!(e.param.as_deref(), Some("messages[1].tool_call_id"));
    }

    #[test]
    fn invalid_tool_call_arguments_is_400_with_path() {
        let e = err(json!({"model": "m", "messages": [user("x"),
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{bad"}}]}]}));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[1].tool_calls[0].function.arguments")
        );
        let e = err(json!({"model": "m", "messages": [user("x"),
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}));
        assert_eq!(
            e.param.as_deref(),
            Some("messages[1].tool_calls[0].function.arguments")
        );
    }

    #[test]
    fn legacy_function_role_becomes_function_response() {
        let b = body(json!({"model": "m", "messages": [user("x"),
            {"role": "assistant", "function_call": {"name": "f", "arguments": "{\"a\":1}"}},
            {"role": "function", "name": "f", "content": "done"}]}));
        assert_eq!(
            b["contents"][1]["parts"][0],
            json!({"functionCall": {"name": "f", "args": {"a": 1}}})
        );
        assert_eq!(
            b["contents"][2]["parts"][0],
            json!({"functionResponse": {"name": "f", "response": {"output": "done"}}})
        );
    }

    #[test]
    fn thought_signature_is_echoed_on_the_same_part() {
        let b = body(
            json!({"model": "gemini-3-flash-preview", "messages": [user("x"),
            {"role": "assistant", "tool_calls": [
                {"id": "g1", "type": "function", "function": {"name": "f", "arguments": "{}"},
                 "extra_content": {"google": {"thought_signature": "SIG1"}}},
                {"id": "g2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}),
        );
        let parts = &b["contents"][1]["parts"];
        assert_eq!(parts[0]["thoughtSignature"], "SIG1");
        assert!(parts[1].get("thoughtSignature").is_none());
    }

    #[test]
    fn gemini3_gets_dummy_signature_when_missing() {
        let msgs = json!([user("x"),
            {"role": "assistant", "tool_calls": [
                {"id": "g1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "g2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "g1", "content": "1"},
            {"role": "tool", "tool_call_id": "g2", "content": "2"}]);
        let b = body(json!({"model": "gemini-3-pro-preview", "messages": msgs}));
        let parts = &b["contents"][1]["parts"];
        assert_eq!(parts[0]["thoughtSignature"], DUMMY_SIGNATURE);
        assert!(parts[1].get("thoughtSignature").is_none());
        // Not for Gemini 2.5.
        let b = body(json!({"model": "gemini-2.5-flash", "messages": msgs}));
        assert!(b["contents"][1]["parts"][0]
            .get("thoughtSignature")
            .is_none());
    }

    #[test]
    fn generation_config_fields() {
        let b = body(
            json!({"model": "m", "messages": [user("x")], "temperature": 0.5, "top_p": 0.9,
            "n": 2, "stop": ["END", "", "STOP"], "max_tokens": 100, "max_completion_tokens": 200,
            "presence_penalty": 0.1, "frequency_penalty": 0.2, "seed": 7, "top_k": 40}),
        );
        assert_eq!(
            b["generationConfig"],
            json!({"temperature": 0.5, "topP": 0.9, "topK": 40, "candidateCount": 2,
                   "stopSequences": ["END", "STOP"], "maxOutputTokens": 200,
                   "presencePenalty": 0.1, "frequencyPenalty": 0.2, "seed": 7})
        );
    }

    #[test]
    fn max_tokens_alone_and_stop_string() {
        let b = body(
            json!({"model": "m", "messages": [user("x")], "max_tokens": 50.0, "stop": "\n\n"}),
        );
        assert_eq!(b["generationConfig"]["maxOutputTokens"], 50);
        assert_eq!(b["generationConfig"]["stopSequences"], json!(["\n\n"]));
    }

    #[test]
    fn too_many_stops_is_400() {
        let e = err(
            json!({"model": "m", "messages": [user("x")], "stop": ["a", "b", "c", "d", "e", "f"]}),
        );
        assert_eq!(e.param.as_deref(), Some("stop"));
    }

    #[test]
    fn wrong_types_are_400_naming_field() {
        let e = err(json!({"model": "m", "messages": [user("x")], "temperature": "hot"}));
        assert_eq!(e.param.as_deref(), Some("temperature"));
        let e = err(json!({"model": "m", "messages": [user("x")], "n": 0}));
        assert_eq!(e.param.as_deref(), Some("n"));
        let e = err(json!({"model": "m", "messages": [user("x")], "stream": "yes"}));
        assert_eq!(e.param.as_deref(), Some("stream"));
    }

    #[test]
    fn nulls_are_absent() {
        let b = body(
            json!({"model": "m", "messages": [user("x")], "temperature": null, "stop": null,
            "tools": null, "response_format": null, "reasoning_effort": null}),
        );
        assert!(b.get("generationConfig").is_none());
    }

    #[test]
    fn logprobs_are_refused() {
        let e = err(json!({"model": "m", "messages": [user("x")], "logprobs": true}));
        assert_eq!(
            (e.param.as_deref(), e.code()),
            (Some("logprobs"), Some("unsupported_parameter"))
        );
        let e = err(json!({"model": "m", "messages": [user("x")], "top_logprobs": 3}));
        assert_eq!(e.param.as_deref(), Some("top_logprobs"));
        body(json!({"model": "m", "messages": [user("x")], "logprobs": false}));
    }

    #[test]
    fn audio_output_is_refused() {
        let e =
            err(json!({"model": "m", "messages": [user("x")], "modalities": ["text", "audio"]}));
        assert_eq!(e.param.as_deref(), Some("modalities"));
        body(json!({"model": "m", "messages": [user("x")], "modalities": ["text"]}));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let b = body(
            json!({"model": "m", "messages": [user("x")], "user": "u1", "metadata": {"a": "b"},
            "store": true, "logit_bias": {"1": 2}, "service_tier": "auto", "whatever": [1]}),
        );
        assert!(b.get("whatever").is_none());
    }

    #[test]
    fn response_format_json_object() {
        let b = body(
            json!({"model": "m", "messages": [user("x")], "response_format": {"type": "json_object"}}),
        );
        assert_eq!(
            b["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert!(b["generationConfig"].get("responseJsonSchema").is_none());
    }

    #[test]
    fn response_format_json_schema_is_sanitised() {
        let b = body(
            json!({"model": "m", "messages": [user("x")], "response_format": {"type": "json_schema",
            "json_schema": {"name": "r", "strict": true, "schema": {"type": "object",
                "properties": {"k": {"const": "v"}}, "required": ["k"], "additionalProperties": false}}}}),
        );
        assert_eq!(
            b["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            b["generationConfig"]["responseJsonSchema"],
            json!({"type": "object", "properties": {"k": {"type": "string", "enum": ["v"]}},
                   "required": ["k"], "additionalProperties": false})
        );
        let e =
            err(json!({"model": "m", "messages": [user("x")], "response_format": {"type": "xml"}}));
        assert_eq!(e.param.as_deref(), Some("response_format.type"));
    }

    #[test]
    fn reasoning_effort_budgets_for_2_5() {
        for (effort, budget) in [
            ("low", 1024),
            ("medium", 8192),
            ("high", 24576),
            ("none", 0),
        ] {
            let p = plan(
                json!({"model": "gemini-2.5-flash", "messages": [user("x")], "reasoning_effort": effort}),
            );
            let b: Value = serde_json::from_slice(&p.body).unwrap();
            assert_eq!(
                b["generationConfig"]["thinkingConfig"]["thinkingBudget"], budget,
                "{effort}"
            );
            assert_eq!(p.meta.include_thoughts, effort != "none");
            assert_eq!(
                b["generationConfig"]["thinkingConfig"]
                    .get("includeThoughts")
                    .is_some(),
                effort != "none"
            );
        }
    }

    #[test]
    fn reasoning_effort_levels_for_gemini_3() {
        for (effort, level) in [
            ("minimal", "MINIMAL"),
            ("low", "LOW"),
            ("medium", "MEDIUM"),
            ("high", "HIGH"),
        ] {
            let b = body(
                json!({"model": "gemini-3-flash-preview", "messages": [user("x")], "reasoning_effort": effort}),
            );
            assert_eq!(
                b["generationConfig"]["thinkingConfig"],
                json!({"thinkingLevel": level, "includeThoughts": true})
            );
        }
    }

    #[test]
    fn reasoning_effort_ignored_for_non_thinking_models() {
        let p = plan(
            json!({"model": "gemini-2.0-flash", "messages": [user("x")], "reasoning_effort": "high"}),
        );
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(b.get("generationConfig").is_none());
        assert!(!p.meta.include_thoughts);
    }

    #[test]
    fn invalid_reasoning_effort_is_400() {
        let e = err(json!({"model": "m", "messages": [user("x")], "reasoning_effort": "extreme"}));
        assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
    }

    #[test]
    fn extra_body_google_thinking_config() {
        let p = plan(json!({"model": "gemini-2.5-flash", "messages": [user("x")],
            "extra_body": {"google": {"thinking_config": {"thinking_budget": 800, "include_thoughts": true},
                                      "cached_content": "cachedContents/abc"}}}));
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            b["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 800, "includeThoughts": true})
        );
        assert_eq!(b["cachedContent"], "cachedContents/abc");
        assert!(p.meta.include_thoughts);
    }

    #[test]
    fn top_level_google_passes_through() {
        let p = plan(json!({"model": "gemini-2.5-flash", "messages": [user("x")],
            "google": {"thinking_config": {"include_thoughts": true}, "response_modalities": ["TEXT", "IMAGE"],
                       "tools": [{"googleSearch": {}}], "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]}}));
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(p.meta.include_thoughts);
        assert_eq!(
            b["generationConfig"]["responseModalities"],
            json!(["TEXT", "IMAGE"])
        );
        assert_eq!(b["tools"], json!([{"googleSearch": {}}]));
        assert_eq!(b["safetySettings"][0]["threshold"], "BLOCK_ONLY_HIGH");
    }

    #[test]
    fn include_thoughts_false_overrides_effort() {
        let p = plan(
            json!({"model": "gemini-2.5-flash", "messages": [user("x")], "reasoning_effort": "low",
            "extra_body": {"google": {"thinking_config": {"include_thoughts": false}}}}),
        );
        assert!(!p.meta.include_thoughts);
    }

    #[test]
    fn effort_and_explicit_budget_conflict() {
        let e = err(
            json!({"model": "gemini-2.5-flash", "messages": [user("x")], "reasoning_effort": "low",
            "extra_body": {"google": {"thinking_config": {"thinking_budget": 100}}}}),
        );
        assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
    }

    #[test]
    fn safety_settings_from_options() {
        let b = body(json!({"model": "m", "messages": [user("x")]}));
        let s = b["safetySettings"].as_array().unwrap();
        assert_eq!(s.len(), 5);
        assert!(s.iter().all(|c| c["threshold"] == "BLOCK_NONE"));
        let cats: Vec<&str> = s.iter().filter_map(|c| c["category"].as_str()).collect();
        assert_eq!(cats, HARM_CATEGORIES);
        let opts = ConvertOptions {
            safety_threshold: "OFF",
            roo_line_count: false,
        };
        let p = chat_request(
            json!({"model": "m", "messages": [user("x")]})
                .to_string()
                .as_bytes(),
            &opts,
        )
        .unwrap();
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(b["safetySettings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["threshold"] == "OFF"));
        assert!(!p.meta.roo_line_count);
    }

    #[test]
    fn stream_and_include_usage() {
        let p = plan(
            json!({"model": "m", "messages": [user("x")], "stream": true,
            "stream_options": {"include_usage": true}}),
        );
        assert!(p.stream && p.meta.include_usage);
        let p = plan(
            json!({"model": "m", "messages": [user("x")], "stream_options": {"include_usage": true}}),
        );
        assert!(!p.meta.include_usage);
    }

    #[test]
    fn web_search_options_adds_google_search() {
        let b = body(json!({"model": "m", "messages": [user("x")], "web_search_options": {}}));
        assert_eq!(b["tools"], json!([{"googleSearch": {}}]));
    }

    #[test]
    fn camel_case_conversion() {
        assert_eq!(camel("thinking_budget"), "thinkingBudget");
        assert_eq!(camel("thinkingBudget"), "thinkingBudget");
        assert_eq!(camel("cached_content"), "cachedContent");
    }

    #[test]
    fn upstream_ids() {
        assert_eq!(upstream_call_id("3ae8iwca"), Some("3ae8iwca"));
        assert_eq!(upstream_call_id("call_abcdefghijklmnopqrstuvwx"), None);
        assert_eq!(upstream_call_id("call_1"), Some("call_1"));
        assert_eq!(upstream_call_id(""), None);
    }
}
