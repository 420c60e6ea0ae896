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

use crate::convert::gemini::{pieces, CallIds, Part, Piece};
use crate::convert::json_text::JsonText;

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
    /// Text as Gemini escaped it (written out unchanged).
    Text(JsonText),
    Thinking(JsonText),
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
    ids: CallIds,
}

impl Blocks {
    pub fn new(thinking: bool) -> Self {
        Blocks {
            thinking,
            open: None,
            count: 0,
            tool_uses: 0,
            ids: CallIds::with_prefix("toolu_"),
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

    fn text(&mut self, t: JsonText, ev: &mut dyn FnMut(Ev<'_>)) {
        if self.open != Some(Open::Text) {
            self.close(ev);
            self.start(Start::Text, ev);
        }
        ev(Ev::Text(t));
    }

    /// Translate one event's parts of the first candidate.
    pub fn parts(&mut self, parts: &mut [Part], ev: &mut dyn FnMut(Ev<'_>)) {
        // The ids are lent to the pieces while the blocks are built.
        let mut ids = std::mem::take(&mut self.ids);
        for piece in pieces(parts, self.thinking, false, &mut ids) {
            match piece {
                Piece::Reasoning(t) => {
                    if self.open != Some(Open::Thinking) {
                        self.close(ev);
                        self.start(Start::Thinking, ev);
                    }
                    ev(Ev::Thinking(t));
                }
                Piece::Signature(s) if self.thinking => self.sign(&s, ev),
                Piece::Signature(_) => {}
                Piece::Text(t) => self.text(t, ev),
                Piece::Call(tc) => {
                    if let Some(s) = tc.signature.as_deref().filter(|_| self.thinking) {
                        self.sign(s, ev);
                    }
                    self.close(ev);
                    self.start(
                        Start::ToolUse {
                            id: tc.id,
                            name: tc.name,
                        },
                        ev,
                    );
                    ev(Ev::Json(tc.arguments));
                    ev(Ev::Stop);
                    self.tool_uses += 1;
                }
            }
        }
        self.ids = ids;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn run(thinking: bool, parts: Value) -> Vec<String> {
        let mut parts: Vec<Part> = serde_json::from_value(parts).unwrap();
        let mut b = Blocks::new(thinking);
        let mut out = Vec::new();
        let mut ev = |e: Ev<'_>| out.push(format!("{e:?}"));
        b.parts(&mut parts, &mut ev);
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
