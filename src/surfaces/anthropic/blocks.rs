//! Gemini parts → Anthropic content-block events (start, deltas, stop), in order: the one
//! translation of an answer's content, written out whole by `response.rs` and event by event by
//! `stream.rs`.
//!
//! * text → a `text` block (adjacent text parts share one);
//! * `thought: true` text → a `thinking` block, when the client asked for thinking;
//! * a `thoughtSignature` (Gemini puts it on the part after the thoughts, or on a function call)
//!   → the `signature` of the thinking block before that part — a thinking block with empty text
//!   if there is none — so that a client sending the content back returns it where it came from;
//!   without thinking asked for, signatures are dropped (the request side fills in Gemini 3's);
//! * `functionCall` → a `tool_use` block (Gemini's id, else `toolu_` + 24 alphanumerics), its
//!   `input` as one `input_json_delta`;
//! * inline images and code execution → text (Markdown), as on the OpenAI surface.

use crate::convert::gemini::Part;
use crate::convert::random_id;
use serde_json::Value;
use std::collections::HashSet;

/// A content block as it starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Start {
    Text,
    Thinking,
    ToolUse { id: String, name: String },
}

/// One step of the content.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ev<'a> {
    /// A block starts (its index is the count of blocks before it).
    Start(Start),
    Text(&'a str),
    Thinking(&'a str),
    Signature(&'a str),
    /// A tool's `input`, as JSON text.
    Json(String),
    /// The open block ends.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    Thinking,
}

/// The block translator of one answer.
#[derive(Debug)]
pub(super) struct Blocks {
    thinking: bool,
    open: Option<Open>,
    /// Blocks started so far.
    pub count: usize,
    /// Tool uses so far (the stop reason is `tool_use` when there are any).
    pub tool_uses: usize,
    ids: HashSet<String>,
}

impl Blocks {
    pub fn new(thinking: bool) -> Self {
        Blocks {
            thinking,
            open: None,
            count: 0,
            tool_uses: 0,
            ids: HashSet::new(),
        }
    }

    fn start(&mut self, s: Start, ev: &mut dyn FnMut(Ev<'_>)) {
        self.count += 1;
        self.open = match s {
            Start::Text => Some(Open::Text),
            Start::Thinking => Some(Open::Thinking),
            Start::ToolUse { .. } => None,
        };
        ev(Ev::Start(s));
    }

    /// End the open block, if any.
    pub fn close(&mut self, ev: &mut dyn FnMut(Ev<'_>)) {
        if self.open.take().is_some() {
            ev(Ev::Stop);
        }
    }

    /// A signature for the thinking block before the current part.
    fn sign(&mut self, sig: &str, ev: &mut dyn FnMut(Ev<'_>)) {
        if self.open != Some(Open::Thinking) {
            self.close(ev);
            self.start(Start::Thinking, ev);
        }
        ev(Ev::Signature(sig));
        self.close(ev);
    }

    fn text(&mut self, t: &str, ev: &mut dyn FnMut(Ev<'_>)) {
        if self.open != Some(Open::Text) {
            self.close(ev);
            self.start(Start::Text, ev);
        }
        ev(Ev::Text(t));
    }

    fn tool_id(&mut self, gemini: Option<&str>) -> String {
        if let Some(id) = gemini.filter(|s| !s.is_empty()) {
            if self.ids.insert(id.to_string()) {
                return id.to_string();
            }
        }
        loop {
            let id = random_id("toolu_", 24);
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// Translate one event's parts of the first candidate.
    pub fn parts(&mut self, parts: &[Part], ev: &mut dyn FnMut(Ev<'_>)) {
        for p in parts {
            let sig = p
                .thought_signature
                .as_deref()
                .filter(|s| self.thinking && !s.is_empty());
            let thought = p.thought == Some(true);
            if thought {
                if !self.thinking {
                    continue;
                }
                if let Some(t) = p.text.as_deref().filter(|t| !t.is_empty()) {
                    if self.open != Some(Open::Thinking) {
                        self.close(ev);
                        self.start(Start::Thinking, ev);
                    }
                    ev(Ev::Thinking(t));
                }
                if let Some(s) = sig {
                    self.sign(s, ev);
                }
                continue;
            }
            if let Some(s) = sig {
                self.sign(s, ev);
            }
            if let Some(fc) = &p.function_call {
                self.close(ev);
                let input = match &fc.args {
                    Some(v @ Value::Object(_)) => v.to_string(),
                    _ => "{}".to_string(),
                };
                let id = self.tool_id(fc.id.as_deref());
                self.start(
                    Start::ToolUse {
                        id,
                        name: fc.name.clone(),
                    },
                    ev,
                );
                ev(Ev::Json(input));
                ev(Ev::Stop);
                self.tool_uses += 1;
            } else if let Some(t) = p.text.as_deref() {
                if !t.is_empty() {
                    self.text(t, ev);
                }
            } else if let Some(d) = p.inline_data.as_ref().filter(|d| !d.data.is_empty()) {
                self.text(
                    &format!("![image](data:{};base64,{})", d.mime_type, d.data),
                    ev,
                );
            } else if let Some(c) = &p.executable_code {
                let lang = c.language.as_deref().unwrap_or("").to_ascii_lowercase();
                let lang = if lang == "language_unspecified" {
                    ""
                } else {
                    &lang
                };
                self.text(&format!("\n```{lang}\n{}\n```\n", c.code), ev);
            } else if let Some(o) = p
                .code_execution_result
                .as_ref()
                .and_then(|r| r.output.as_deref())
                .filter(|o| !o.is_empty())
            {
                self.text(&format!("\n```output\n{o}\n```\n"), ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(thinking: bool, parts: Value) -> Vec<String> {
        let parts: Vec<Part> = serde_json::from_value(parts).unwrap();
        let mut b = Blocks::new(thinking);
        let mut out = Vec::new();
        let mut ev = |e: Ev<'_>| out.push(format!("{e:?}"));
        b.parts(&parts, &mut ev);
        b.close(&mut ev);
        out
    }

    #[test]
    fn thoughts_then_signed_text() {
        let parts = serde_json::json!([
            {"text": "plan", "thought": true},
            {"text": "Hi", "thoughtSignature": "c2ln"},
            {"text": " there"}
        ]);
        assert_eq!(
            run(true, parts.clone()),
            [
                "Start(Thinking)",
                "Thinking(\"plan\")",
                "Signature(\"c2ln\")",
                "Stop",
                "Start(Text)",
                "Text(\"Hi\")",
                "Text(\" there\")",
                "Stop"
            ]
        );
        assert_eq!(
            run(false, parts),
            ["Start(Text)", "Text(\"Hi\")", "Text(\" there\")", "Stop"]
        );
    }

    #[test]
    fn signed_call_without_thought_text_gets_an_empty_thinking_block() {
        let parts = serde_json::json!([
            {"functionCall": {"name": "f", "args": {"a": 1}, "id": "g1"}, "thoughtSignature": "s"},
            {"functionCall": {"name": "f", "id": "g1"}}
        ]);
        let out = run(true, parts);
        assert_eq!(out[0..3], ["Start(Thinking)", "Signature(\"s\")", "Stop"]);
        assert_eq!(
            out[3],
            "Start(ToolUse { id: \"g1\", name: \"f\" })".to_string()
        );
        assert_eq!(out[4], "Json(\"{\\\"a\\\":1}\")");
        // a repeated Gemini id is replaced by one of ours
        assert!(out[6].starts_with("Start(ToolUse { id: \"toolu_"));
        assert_eq!(out[7], "Json(\"{}\")");
    }
}
