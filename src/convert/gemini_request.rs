//! The Gemini `GenerateContentRequest` the surfaces' translations write, as typed structs serialised
//! once (text and media borrowed from the client's body where it had no escapes).

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Harm categories the Developer API accepts in `safetySettings`.
pub(crate) const HARM_CATEGORIES: [&str; 5] = [
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
];

/// The whole request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeminiRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<Vec<Content<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Parts<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub generation_config: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_settings: Option<Safety>,
    /// Further top-level fields from the client's `google` extras, passed as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"parts": [...]}`.
#[derive(Serialize)]
pub(crate) struct Parts<'a> {
    pub parts: Vec<Part<'a>>,
}

/// One turn.
#[derive(Serialize)]
pub(crate) struct Content<'a> {
    pub role: &'static str,
    pub parts: Vec<Part<'a>>,
}

/// Append a turn, merged into the previous one when it has the same role (Gemini wants roles
/// to alternate); a turn without parts is left out.
pub(crate) fn push_turn<'a>(
    turns: &mut Vec<Content<'a>>,
    role: &'static str,
    parts: Vec<Part<'a>>,
) {
    if parts.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(c) if c.role == role => c.parts.extend(parts),
        _ => turns.push(Content { role, parts }),
    }
}

/// One part of a turn.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Part<'a> {
    Text {
        text: Cow<'a, str>,
    },
    /// Text with the thought signature Gemini had put on it (sent back as it came).
    TextSigned {
        text: Cow<'a, str>,
        #[serde(rename = "thoughtSignature")]
        thought_signature: Cow<'a, str>,
    },
    Inline {
        #[serde(rename = "inlineData")]
        inline_data: Inline<'a>,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: Call<'a>,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<Cow<'a, str>>,
    },
    Response {
        #[serde(rename = "functionResponse")]
        function_response: FnResponse<'a>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Inline<'a> {
    pub mime_type: &'static str,
    pub data: Cow<'a, str>,
}

#[derive(Serialize)]
pub(crate) struct Call<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    pub args: Args,
}

/// A function call's arguments: a JSON object as the client wrote it, or `{}`.
pub(crate) enum Args {
    Empty,
    Raw(Box<RawValue>),
    Value(Value),
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Args::Empty => s.serialize_map(Some(0))?.end(),
            Args::Raw(r) => r.serialize(s),
            Args::Value(v) => v.serialize(s),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct FnResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    pub response: ToolResult,
}

/// A tool result: the JSON object the tool returned, or its text as `{"output": text}`.
pub(crate) enum ToolResult {
    Object(Box<RawValue>),
    Output(String),
}

impl ToolResult {
    pub fn from_text(text: String) -> ToolResult {
        if text.trim_start().starts_with('{') {
            if let Ok(r) = serde_json::from_str::<Box<RawValue>>(&text) {
                return ToolResult::Object(r);
            }
        }
        ToolResult::Output(text)
    }
}

impl Serialize for ToolResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolResult::Object(r) => r.serialize(s),
            ToolResult::Output(t) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("output", t)?;
                m.end()
            }
        }
    }
}

impl GeminiRequest<'_> {
    /// The input-token estimate of what is sent: text by length, media by type and size (the
    /// rules of [`crate::upstream::estimate`], without walking the JSON again).
    pub(crate) fn estimated_tokens(&self) -> u64 {
        let mut est = crate::upstream::estimate::Estimate::default();
        let system = self.system_instruction.iter().flat_map(|s| s.parts.iter());
        let turns = self.contents.iter().flatten().flat_map(|c| c.parts.iter());
        for part in system.chain(turns) {
            match part {
                Part::Text { text } | Part::TextSigned { text, .. } => est.text(text.len()),
                Part::Inline { inline_data } => {
                    est.media(inline_data.mime_type, inline_data.data.len() as u64)
                }
                Part::Call { .. } | Part::Response { .. } => {}
            }
        }
        est.total()
    }
}

/// Gemini `tools`: the function declarations (when there are any) and Google Search grounding.
pub(crate) fn gemini_tools(decls: Vec<Value>, search: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if !decls.is_empty() {
        out.push(serde_json::json!({ "functionDeclarations": decls }));
    }
    if search {
        out.push(serde_json::json!({ "googleSearch": {} }));
    }
    out
}

/// `safetySettings`: the configured threshold for every category, or the client's own list.
pub(crate) enum Safety {
    Configured(&'static str),
    Client(Value),
}

impl Serialize for Safety {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Safety::Client(v) => v.serialize(s),
            Safety::Configured(threshold) => match configured(threshold) {
                // The two thresholds the config allows are written as ready-made JSON.
                Some(raw) => raw.serialize(s),
                None => {
                    let mut seq = s.serialize_seq(Some(HARM_CATEGORIES.len()))?;
                    for category in HARM_CATEGORIES {
                        seq.serialize_element(&Setting {
                            category,
                            threshold,
                        })?;
                    }
                    seq.end()
                }
            },
        }
    }
}

#[derive(Serialize)]
struct Setting<'a> {
    category: &'static str,
    threshold: &'a str,
}

/// `safetySettings` for `BLOCK_NONE` and `OFF`, serialised once.
fn configured(threshold: &str) -> Option<&'static RawValue> {
    fn build(threshold: &str) -> Option<Box<RawValue>> {
        let all: Vec<Setting<'_>> = HARM_CATEGORIES
            .iter()
            .map(|category| Setting {
                category,
                threshold,
            })
            .collect();
        RawValue::from_string(serde_json::to_string(&all).ok()?).ok()
    }
    static BLOCK_NONE: LazyLock<Option<Box<RawValue>>> = LazyLock::new(|| build("BLOCK_NONE"));
    static OFF: LazyLock<Option<Box<RawValue>>> = LazyLock::new(|| build("OFF"));
    match threshold {
        "BLOCK_NONE" => BLOCK_NONE.as_deref(),
        "OFF" => OFF.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_safety_settings_are_the_same_ready_made_or_built() {
        let json = |t: &'static str| serde_json::to_value(Safety::Configured(t)).unwrap();
        for t in ["BLOCK_NONE", "OFF", "BLOCK_ONLY_HIGH"] {
            let expected: Vec<Value> = HARM_CATEGORIES
                .iter()
                .map(|c| serde_json::json!({"category": c, "threshold": t}))
                .collect();
            assert_eq!(json(t), Value::Array(expected), "{t}");
        }
        let body = serde_json::to_string(&Safety::Configured("OFF")).unwrap();
        assert!(body.starts_with(r#"[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"}"#));
    }
}
