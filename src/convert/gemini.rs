//! Gemini response wire types and the translation pieces shared by the stream and non-stream paths.
//!
//! The wire types are lenient: camelCase or snake_case names, unknown fields ignored, integers
//! given as numbers, floats or strings.

use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::json_text::JsonText;
use super::random_id;

/// Read a Gemini answer. The bytes are checked to be UTF-8 once, as a whole: `serde_json` reading
/// from a `str` does not check every key and string again. (Stream events:
/// [`super::stream_event::read_event`].)
fn read_response(bytes: &[u8]) -> Result<GenerateResponse, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(s) => serde_json::from_str(s),
        Err(e) => Err(serde::de::Error::custom(e)),
    }
}

/// Read a whole `generateContent` answer: one that cannot be read, or Gemini's error object in it,
/// is the error.
pub(crate) fn read_answer(bytes: &[u8]) -> Result<GenerateResponse, super::ConvertError> {
    let resp = read_response(bytes).map_err(|e| {
        super::ConvertError::upstream(format!(
            "Gemini sent a response that could not be read: {e}"
        ))
    })?;
    match &resp.error {
        Some(err) => Err(upstream_error(err)),
        None => Ok(resp),
    }
}

/// `GenerateContentResponse`, one whole answer or (as [`StreamEvent`]) one SSE event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "U: Deserialize<'de>"))]
pub(crate) struct GenerateResponse<U = UsageMetadata> {
    #[serde(default)]
    pub candidates: Option<Vec<Candidate>>,
    #[serde(default, alias = "prompt_feedback")]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default, alias = "usage_metadata")]
    pub usage_metadata: Option<U>,
    /// A `google.rpc.Status` error (mid-stream errors arrive as `data: {"error": {...}}`).
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, alias = "finish_reason")]
    pub finish_reason: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub index: Option<u64>,
}

impl Candidate {
    /// The candidate's parts, for [`pieces`] to take the text out of.
    pub fn parts_mut(&mut self) -> &mut [Part] {
        match self.content.as_mut().and_then(|c| c.parts.as_deref_mut()) {
            Some(p) => p,
            None => &mut [],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Content {
    #[serde(default)]
    pub parts: Option<Vec<Part>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part {
    /// Kept escaped as Gemini sent it (see [`JsonText`]).
    #[serde(default)]
    pub text: Option<JsonText>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default, alias = "thought_signature")]
    pub thought_signature: Option<String>,
    // The rarer kinds are boxed: a `Part` stays small, and so does the `Vec` of them every event
    // allocates.
    #[serde(default, alias = "function_call")]
    pub function_call: Option<Box<FunctionCall>>,
    #[serde(default, alias = "inline_data")]
    pub inline_data: Option<Box<InlineData>>,
    #[serde(default, alias = "executable_code")]
    pub executable_code: Option<Box<ExecutableCode>>,
    #[serde(default, alias = "code_execution_result")]
    pub code_execution_result: Option<Box<CodeExecutionResult>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FunctionCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InlineData {
    #[serde(default, alias = "mime_type")]
    pub mime_type: String,
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExecutableCode {
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub code: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CodeExecutionResult {
    #[serde(default)]
    pub output: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    #[serde(default, alias = "block_reason")]
    pub block_reason: Option<String>,
}

/// `usageMetadata`; cumulative on every stream event.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    #[serde(
        default,
        alias = "prompt_token_count",
        deserialize_with = "lenient_u64"
    )]
    pub prompt_token_count: Option<u64>,
    #[serde(
        default,
        alias = "candidates_token_count",
        deserialize_with = "lenient_u64"
    )]
    pub candidates_token_count: Option<u64>,
    #[serde(default, alias = "total_token_count", deserialize_with = "lenient_u64")]
    pub total_token_count: Option<u64>,
    #[serde(
        default,
        alias = "thoughts_token_count",
        deserialize_with = "lenient_u64"
    )]
    pub thoughts_token_count: Option<u64>,
    #[serde(
        default,
        alias = "cached_content_token_count",
        deserialize_with = "lenient_u64"
    )]
    pub cached_content_token_count: Option<u64>,
    #[serde(
        default,
        alias = "tool_use_prompt_token_count",
        deserialize_with = "lenient_u64"
    )]
    pub tool_use_prompt_token_count: Option<u64>,
}

/// Integers that may arrive as `12`, `12.0` or `"12"` (proto3 JSON int64 is a string); anything
/// else reads as absent. Read without building a `Value`.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Lenient;
    impl<'de> serde::de::Visitor<'de> for Lenient {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a non-negative integer")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Option<u64>, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_f64<E>(self, v: f64) -> Result<Option<u64>, E> {
            Ok((v >= 0.0).then_some(v as u64))
        }
        fn visit_str<E>(self, v: &str) -> Result<Option<u64>, E> {
            Ok(v.trim().parse().ok())
        }
        fn visit_bool<E>(self, _: bool) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Option<u64>, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Option<u64>, A::Error> {
            while a
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(None)
        }
    }
    d.deserialize_option(Lenient)
}

/// OpenAI `usage`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct OpenAiUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct PromptDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct CompletionDetails {
    pub reasoning_tokens: u64,
}

impl UsageMetadata {
    /// Prompt tokens as OpenAI counts them: the prompt plus tool-use prompt tokens.
    pub fn prompt(&self) -> u64 {
        self.prompt_token_count.unwrap_or(0) + self.tool_use_prompt_token_count.unwrap_or(0)
    }

    /// Completion tokens as OpenAI counts them: candidates plus thoughts, so that
    /// `prompt + completion = total`.
    pub fn completion(&self) -> u64 {
        self.candidates_token_count.unwrap_or(0) + self.thoughts_token_count.unwrap_or(0)
    }

    pub fn to_openai(self) -> OpenAiUsage {
        let prompt = self.prompt();
        let completion = self.completion();
        OpenAiUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self.total_token_count.unwrap_or(prompt + completion),
            prompt_tokens_details: PromptDetails {
                cached_tokens: self.cached_content_token_count.unwrap_or(0),
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: self.thoughts_token_count.unwrap_or(0),
            },
        }
    }
}

/// Why Gemini stopped, as every surface needs it: the surfaces name these their own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// A natural end (or a stop sequence: Gemini does not tell them apart).
    Stop,
    /// The output token limit.
    Length,
    /// A safety, recitation or policy block.
    Filtered,
    /// The answer ends with function calls.
    ToolCalls,
}

/// Gemini's `finishReason` (and whether the answer made function calls) as a [`Finish`].
pub(crate) fn finish(gemini: &str, had_tool_calls: bool) -> Finish {
    let base = match gemini {
        "MAX_TOKENS" => Finish::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "LANGUAGE"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => Finish::Filtered,
        _ => Finish::Stop,
    };
    if base == Finish::Stop && had_tool_calls {
        Finish::ToolCalls
    } else {
        base
    }
}

/// OpenAI's `finish_reason`.
pub(crate) fn finish_reason(gemini: &str, had_tool_calls: bool) -> &'static str {
    match finish(gemini, had_tool_calls) {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::Filtered => "content_filter",
        Finish::ToolCalls => "tool_calls",
    }
}

/// One translated piece of a candidate's content, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// Answer text (also inline images as Markdown and code-execution blocks).
    Text(JsonText),
    /// A thought summary (only produced when the client asked for thoughts).
    Reasoning(JsonText),
    /// A function call (its own signature travels with it); boxed, as it is rare and large.
    Call(Box<ToolCall>),
    /// The thought signature of a text or thought part: after that part's `Reasoning`, before its
    /// `Text`. Surfaces without a place for it ignore it.
    Signature(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// `args` serialised as a JSON string.
    pub arguments: String,
    /// The part's `thoughtSignature`, round-tripped via `extra_content.google.thought_signature`.
    pub signature: Option<String>,
}

impl ToolCall {
    /// `{"google": {"thought_signature": "..."}}` when there is a signature.
    pub fn extra_content(&self) -> Option<Value> {
        self.signature
            .as_ref()
            .map(|s| serde_json::json!({"google": {"thought_signature": s}}))
    }
}

/// Hands out tool-call ids, unique within one response: Gemini's own `functionCall.id` when it
/// sent one, else the prefix (`call_`, or the surface's own) + 24 alphanumerics — random, or, for
/// a response that is stored, derived from its id and the call's place ([`derived_call_id`]), so
/// the ids can be known again from the stored turn.
#[derive(Debug)]
pub(crate) struct CallIds {
    prefix: &'static str,
    used: HashSet<String>,
    seed: Option<Box<str>>,
    /// Calls so far.
    calls: usize,
}

impl Default for CallIds {
    fn default() -> Self {
        CallIds::with_prefix("call_")
    }
}

impl CallIds {
    pub fn with_prefix(prefix: &'static str) -> Self {
        CallIds {
            prefix,
            used: HashSet::new(),
            seed: None,
            calls: 0,
        }
    }

    /// Ids derived from `seed` (a stored response's id) where Gemini gave none.
    pub fn derived(prefix: &'static str, seed: &str) -> Self {
        CallIds {
            seed: Some(seed.into()),
            ..CallIds::with_prefix(prefix)
        }
    }

    pub fn next(&mut self, gemini_id: Option<&str>) -> String {
        let k = self.calls;
        self.calls += 1;
        if let Some(id) = gemini_id.filter(|s| !s.is_empty()) {
            if self.used.insert(id.to_string()) {
                return id.to_string();
            }
        }
        if let Some(seed) = &self.seed {
            let id = derived_call_id(self.prefix, seed, k);
            self.used.insert(id.clone());
            return id;
        }
        loop {
            let id = random_id(self.prefix, 24);
            if self.used.insert(id.clone()) {
                return id;
            }
        }
    }
}

/// The id of the `k`-th function call (counting from 0) of the response `seed`: the prefix and 24
/// alphanumerics of SHA-256(seed, k).
pub(crate) fn derived_call_id(prefix: &str, seed: &str, k: usize) -> String {
    let d = crate::secret::digest(format!("{seed}\u{0}{k}").as_bytes());
    let mut id = String::with_capacity(prefix.len() + 24);
    id.push_str(prefix);
    id.extend(d[..24].iter().map(|&b| char::from(super::alnum(b))));
    id
}

/// Translate one candidate's parts, in order (an iterator: nothing is collected).
///
/// * text → `Text` (empty text, e.g. Gemini 3's signature-only closing part, is skipped);
/// * `thought: true` text → `Reasoning` when `include_thoughts`, else dropped;
/// * a text or thought part's `thoughtSignature` → `Signature` (after the thought, before the text);
/// * `functionCall` → `Call` (with the Roo Code `line_count` fix when `roo`);
/// * `inlineData` (image output) → Markdown image with a `data:` URI;
/// * `executableCode` / `codeExecutionResult` → fenced code blocks.
pub(crate) fn pieces<'p>(
    parts: &'p mut [Part],
    include_thoughts: bool,
    roo: bool,
    ids: &'p mut CallIds,
) -> impl Iterator<Item = Piece> + 'p {
    parts.iter_mut().flat_map(move |p| {
        let [a, b] = part_pieces(p, include_thoughts, roo, ids);
        a.into_iter().chain(b)
    })
}

/// The (at most two) pieces of one part.
fn part_pieces(
    p: &mut Part,
    include_thoughts: bool,
    roo: bool,
    ids: &mut CallIds,
) -> [Option<Piece>; 2] {
    if let Some(fc) = &p.function_call {
        let mut args = match &fc.args {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            Some(Value::Null) | None => Value::Object(Default::default()),
            Some(other) => other.clone(),
        };
        if roo {
            roo_line_count(&fc.name, &mut args);
        }
        let call = Piece::Call(Box::new(ToolCall {
            id: ids.next(fc.id.as_deref()),
            name: fc.name.clone(),
            arguments: args.to_string(),
            signature: p.thought_signature.clone().filter(|s| !s.is_empty()),
        }));
        return [Some(call), None];
    }
    let sig = p
        .thought_signature
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| Piece::Signature(s.clone()));
    // Text is taken, not copied: the caller is done with the parts.
    if p.thought == Some(true) {
        let thought = p.text.take().filter(|t| !t.is_empty() && include_thoughts);
        return [thought.map(Piece::Reasoning), sig];
    }
    if let Some(text) = p.text.take() {
        return [sig, Some(text).filter(|t| !t.is_empty()).map(Piece::Text)];
    }
    let text = if let Some(d) = &p.inline_data {
        (!d.data.is_empty()).then(|| format!("![image](data:{};base64,{})", d.mime_type, d.data))
    } else if let Some(c) = &p.executable_code {
        let lang = c.language.as_deref().unwrap_or("").to_ascii_lowercase();
        let lang = if lang == "language_unspecified" {
            ""
        } else {
            lang.as_str()
        };
        Some(format!("\n```{lang}\n{}\n```\n", c.code))
    } else if let Some(r) = &p.code_execution_result {
        let output = r.output.as_deref().filter(|o| !o.is_empty());
        output.map(|o| format!("\n```output\n{o}\n```\n"))
    } else {
        None
    };
    [sig, text.map(|t| Piece::Text(JsonText::from(t)))]
}

/// Roo Code compatibility: `write_to_file` without `line_count` gets one computed from
/// `content`, counted as JavaScript's `content.split("\n").length` (what Roo compares against).
pub(crate) fn roo_line_count(name: &str, args: &mut Value) {
    if name != "write_to_file" {
        return;
    }
    let Value::Object(m) = args else { return };
    if m.contains_key("line_count") {
        return;
    }
    let Some(content) = m.get("content").and_then(Value::as_str) else {
        return;
    };
    let n = content.matches('\n').count() + 1;
    m.insert("line_count".into(), Value::from(n));
}

/// OpenAI error `type` for a Gemini / HTTP status code.
pub(crate) fn openai_error_type(code: u64) -> &'static str {
    match code {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        c if c >= 500 => "server_error",
        _ => "invalid_request_error",
    }
}

/// The error for a prompt Gemini blocked (no candidates, `promptFeedback.blockReason`).
pub(crate) fn blocked_error(feedback: Option<&PromptFeedback>) -> Option<super::ConvertError> {
    let reason = feedback?.block_reason.as_deref()?;
    Some(super::ConvertError {
        kind: super::ConvertKind::ContentFilter,
        param: Some("messages".into()),
        message: format!(
            "The prompt was blocked by Gemini's safety filters (blockReason: {reason})."
        ),
    })
}

/// Pieces of an upstream `google.rpc.Status` error: (HTTP code, status name, message).
/// An upstream `{"error": …}` as a `ConvertError` keeping Gemini's status (502 if it has none usable).
pub(crate) fn upstream_error(err: &Value) -> super::ConvertError {
    let (code, _, message) = error_parts(err);
    super::ConvertError {
        kind: super::ConvertKind::UpstreamStatus(
            u16::try_from(code)
                .ok()
                .filter(|c| (400..600).contains(c))
                .unwrap_or(502),
        ),
        param: None,
        message,
    }
}

pub(crate) fn error_parts(err: &Value) -> (u64, Option<String>, String) {
    let code = err.get("code").and_then(Value::as_u64).unwrap_or(500);
    let status = err
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or("Gemini reported an error.")
        .to_string();
    (code, status, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> GenerateResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn accepts_snake_case_and_unknown_fields() {
        let r = parse(
            json!({"candidates": [{"content": {"parts": [{"text": "a", "thought_signature": "s"},
                {"function_call": {"name": "f", "args": {}}}]}, "finish_reason": "STOP", "index": 0, "weird": 1}],
            "usage_metadata": {"prompt_token_count": 3, "candidates_token_count": 2.0, "total_token_count": "5"},
            "somethingNew": true}),
        );
        let c = &r.candidates.unwrap()[0];
        assert_eq!(c.finish_reason.as_deref(), Some("STOP"));
        let parts = c.content.as_ref().unwrap().parts.as_ref().unwrap();
        assert_eq!(parts[0].thought_signature.as_deref(), Some("s"));
        assert_eq!(parts[1].function_call.as_ref().unwrap().name, "f");
        let u = r.usage_metadata.unwrap();
        assert_eq!(
            (u.prompt(), u.completion(), u.total_token_count),
            (3, 2, Some(5))
        );
    }

    #[test]
    fn finish_reason_table() {
        assert_eq!(finish_reason("STOP", false), "stop");
        assert_eq!(finish_reason("STOP", true), "tool_calls");
        assert_eq!(finish_reason("FINISH_REASON_UNSPECIFIED", false), "stop");
        assert_eq!(finish_reason("MAX_TOKENS", true), "length");
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "LANGUAGE",
            "IMAGE_SAFETY",
        ] {
            assert_eq!(finish_reason(r, false), "content_filter", "{r}");
        }
        for r in [
            "MALFORMED_FUNCTION_CALL",
            "OTHER",
            "UNEXPECTED_TOOL_CALL",
            "TOO_MANY_TOOL_CALLS",
            "MISSING_THOUGHT_SIGNATURE",
            "SOMETHING_NEW",
        ] {
            assert_eq!(finish_reason(r, false), "stop", "{r}");
        }
    }

    #[test]
    fn usage_adds_thoughts_to_completion() {
        let u = UsageMetadata {
            prompt_token_count: Some(11),
            candidates_token_count: Some(1),
            total_token_count: Some(46),
            thoughts_token_count: Some(34),
            cached_content_token_count: Some(4),
            tool_use_prompt_token_count: None,
        };
        let o = u.to_openai();
        assert_eq!(o.prompt_tokens, 11);
        assert_eq!(o.completion_tokens, 35);
        assert_eq!(o.total_tokens, 46);
        assert_eq!(o.completion_tokens_details.reasoning_tokens, 34);
        assert_eq!(o.prompt_tokens_details.cached_tokens, 4);
    }

    #[test]
    fn call_ids_prefer_gemini_and_stay_unique() {
        let mut ids = CallIds::default();
        assert_eq!(ids.next(Some("abc")), "abc");
        let dup = ids.next(Some("abc"));
        assert_ne!(dup, "abc");
        assert!(dup.starts_with("call_") && dup.len() == 29);
        let a = ids.next(None);
        let b = ids.next(Some(""));
        assert_ne!(a, b);
        assert!(a.starts_with("call_") && a.len() == 29);
    }

    #[test]
    fn pieces_translate_each_part_kind() {
        let given = json!([
        {"text": "thinking...", "thought": true},
        {"text": "Hello"},
        {"text": ""},
        {"functionCall": {"id": "g1", "name": "f", "args": {"a": 1}}, "thoughtSignature": "SIG"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}}
            ]);
        let mut parts: Vec<Part> = serde_json::from_value(given.clone()).unwrap();
        let mut ids = CallIds::default();
        let p: Vec<Piece> = pieces(&mut parts, false, false, &mut ids).collect();
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], Piece::Text("Hello".into()));
        assert_eq!(
            p[1],
            Piece::Call(Box::new(ToolCall {
                id: "g1".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into(),
                signature: Some("SIG".into())
            }))
        );
        assert_eq!(
            p[2],
            Piece::Text("![image](data:image/png;base64,iVBO)".into())
        );
        assert_eq!(p[3], Piece::Text("\n```python\nprint(1)\n```\n".into()));
        assert_eq!(p[4], Piece::Text("\n```output\n1\n\n```\n".into()));
        // The text was taken out of the parts; the thoughts of fresh ones, when asked for:
        let mut parts: Vec<Part> = serde_json::from_value(given).unwrap();
        let p: Vec<Piece> = pieces(&mut parts, true, false, &mut CallIds::default()).collect();
        assert_eq!(p[0], Piece::Reasoning("thinking...".into()));
    }

    #[test]
    fn function_call_without_args_gets_empty_object() {
        let mut parts: Vec<Part> =
            serde_json::from_value(json!([{"functionCall": {"name": "now"}}])).unwrap();
        let p: Vec<Piece> = pieces(&mut parts, false, false, &mut CallIds::default()).collect();
        let Piece::Call(c) = &p[0] else { panic!() };
        assert_eq!(c.arguments, "{}");
        assert!(c.id.starts_with("call_"));
        assert_eq!(c.extra_content(), None);
    }

    #[test]
    fn roo_line_count_added_only_when_missing() {
        let mut a = json!({"path": "a.txt", "content": "one\ntwo\nthree"});
        roo_line_count("write_to_file", &mut a);
        assert_eq!(a["line_count"], 3);
        let mut a = json!({"content": "x\n", "line_count": 9});
        roo_line_count("write_to_file", &mut a);
        assert_eq!(a["line_count"], 9);
        let mut a = json!({"content": "x"});
        roo_line_count("read_file", &mut a);
        assert!(a.get("line_count").is_none());
    }

    #[test]
    fn roo_fix_applies_through_pieces() {
        let mut parts: Vec<Part> = serde_json::from_value(
            json!([{"functionCall": {"name": "write_to_file", "args": {"path": "p", "content": "a\nb"}}}]),
        )
        .unwrap();
        let p: Vec<Piece> = pieces(&mut parts, false, true, &mut CallIds::default()).collect();
        let Piece::Call(c) = &p[0] else { panic!() };
        let args: Value = serde_json::from_str(&c.arguments).unwrap();
        assert_eq!(args["line_count"], 2);
        let p: Vec<Piece> = pieces(&mut parts, false, false, &mut CallIds::default()).collect();
        let Piece::Call(c) = &p[0] else { panic!() };
        assert!(!c.arguments.contains("line_count"));
    }

    #[test]
    fn error_parts_read_status() {
        let (c, s, m) = error_parts(
            &json!({"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}),
        );
        assert_eq!(
            (c, s.as_deref(), m.as_str()),
            (503, Some("UNAVAILABLE"), "The model is overloaded.")
        );
        assert_eq!(openai_error_type(503), "server_error");
        assert_eq!(openai_error_type(429), "rate_limit_error");
        assert_eq!(openai_error_type(400), "invalid_request_error");
    }
}
