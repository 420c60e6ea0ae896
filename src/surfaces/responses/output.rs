//! Gemini parts → Responses output items (`message`, `reasoning`, `function_call`), in order, and
//! the stream events that build them: the one translation of an answer's content, collected whole
//! by `response.rs` and streamed by `stream.rs` (through a [`Sink`]).
//!
//! * text → a `message` item with one `output_text` part (adjacent text shares it);
//! * thought summaries (when `reasoning.summary` was asked) → a `reasoning` item's `summary`;
//! * a function call's `thoughtSignature` → the `encrypted_content` of a `reasoning` item just
//!   before the `function_call` item — the one holding the thoughts when there is one — so a client
//!   sending the output back as input returns the signature where Gemini put it; signatures of
//!   text are kept the same way only when summaries were asked for (a plain answer stays one
//!   message item);
//! * `functionCall` → a `function_call` item (`call_id` Gemini's id, else `call_` + 24
//!   alphanumerics; `id` `fc_…`).

use crate::convert::gemini::{pieces, CallIds, Part, Piece, ToolCall};
use crate::convert::json_text::{JsonText, JsonTextBuf};
use crate::convert::random_id;
use serde::Serialize;
use serde_json::{json, Value};

/// One output item, serialised as the Responses API spells it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Item {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: [OutputText; 1],
    },
    Reasoning {
        id: String,
        summary: Vec<SummaryText>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    FunctionCall {
        id: String,
        status: &'static str,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// A message's `output_text` part.
#[derive(Debug, Clone, Serialize)]
pub(super) struct OutputText {
    #[serde(rename = "type")]
    kind: &'static str,
    /// The answer's text as Gemini escaped it.
    text: JsonTextBuf,
    annotations: [(); 0],
    logprobs: [(); 0],
}

/// A reasoning item's `summary_text` part.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SummaryText {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
}

fn output_text(text: JsonTextBuf) -> OutputText {
    OutputText {
        kind: "output_text",
        text,
        annotations: [],
        logprobs: [],
    }
}

/// Where stream events go (nowhere for a whole answer).
pub(super) trait Sink {
    fn event(&mut self, kind: &'static str, data: Value);
    /// Whether events are wanted at all (they are not built otherwise).
    fn live(&self) -> bool {
        true
    }
}

/// Discards events: the whole answer only needs the items.
pub(super) struct NoEvents;

impl Sink for NoEvents {
    fn event(&mut self, _kind: &'static str, _data: Value) {}
    fn live(&self) -> bool {
        false
    }
}

/// Build and send an event only when the sink wants events.
fn emit(sink: &mut dyn Sink, kind: &'static str, data: impl FnOnce() -> Value) {
    if sink.live() {
        sink.event(kind, data());
    }
}

enum Open {
    Message { id: String, text: JsonTextBuf },
    Reasoning { id: String, text: String },
}

/// The output translator of one answer.
pub(super) struct Output {
    summaries: bool,
    ids: CallIds,
    open: Option<Open>,
    /// Finished items, in output order (an open item's index is `items.len()`).
    pub items: Vec<Item>,
    /// Function calls so far.
    pub calls: usize,
}

impl Output {
    pub fn new(summaries: bool) -> Self {
        Output {
            summaries,
            ids: CallIds::default(),
            open: None,
            items: Vec::new(),
            calls: 0,
        }
    }

    fn index(&self) -> usize {
        self.items.len()
    }

    /// Translate one event's parts of the first candidate.
    pub fn parts(&mut self, parts: &[Part], sink: &mut dyn Sink) {
        for piece in pieces(parts, self.summaries, false, &mut self.ids) {
            match piece {
                Piece::Reasoning(t) => self.summary(&t.plain(), sink),
                Piece::Signature(s) if self.summaries => self.sign(&s, sink),
                Piece::Signature(_) => {}
                Piece::Text(t) => self.text(t, sink),
                Piece::Call(tc) => self.call(tc, sink),
            }
        }
    }

    fn text(&mut self, t: JsonText, sink: &mut dyn Sink) {
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close(sink);
            let id = random_id("msg_", 48);
            let output_index = self.index();
            emit(sink, "response.output_item.added", || {
                json!({"output_index": output_index, "item": {"id": id, "type": "message",
                       "status": "in_progress", "role": "assistant", "content": []}})
            });
            emit(sink, "response.content_part.added", || {
                json!({"item_id": id, "output_index": output_index, "content_index": 0,
                       "part": output_text(JsonTextBuf::default())})
            });
            self.open = Some(Open::Message {
                id,
                text: JsonTextBuf::default(),
            });
        }
        let output_index = self.index();
        if let Some(Open::Message { id, text }) = &mut self.open {
            emit(sink, "response.output_text.delta", || {
                json!({"item_id": id, "output_index": output_index, "content_index": 0,
                       "delta": t.plain(), "logprobs": []})
            });
            text.push(t);
        }
    }

    fn open_reasoning(&mut self, sink: &mut dyn Sink) {
        if matches!(self.open, Some(Open::Reasoning { .. })) {
            return;
        }
        self.close(sink);
        let id = random_id("rs_", 48);
        emit(sink, "response.output_item.added", || {
            json!({"output_index": self.index(),
                   "item": {"id": id, "type": "reasoning", "summary": []}})
        });
        self.open = Some(Open::Reasoning {
            id,
            text: String::new(),
        });
    }

    fn summary(&mut self, t: &str, sink: &mut dyn Sink) {
        self.open_reasoning(sink);
        let output_index = self.index();
        if let Some(Open::Reasoning { id, text }) = &mut self.open {
            if text.is_empty() {
                emit(sink, "response.reasoning_summary_part.added", || {
                    json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                           "part": {"type": "summary_text", "text": ""}})
                });
            }
            emit(sink, "response.reasoning_summary_text.delta", || {
                json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                       "delta": t})
            });
            text.push_str(t);
        }
    }

    /// End the reasoning item before the current part with this signature.
    fn sign(&mut self, sig: &str, sink: &mut dyn Sink) {
        self.open_reasoning(sink);
        self.finish_open(Some(sig), sink);
    }

    fn call(&mut self, tc: ToolCall, sink: &mut dyn Sink) {
        if let Some(s) = tc.signature.as_deref() {
            self.sign(s, sink);
        }
        self.close(sink);
        let id = random_id("fc_", 48);
        let output_index = self.index();
        let added = Item::FunctionCall {
            id,
            status: "in_progress",
            call_id: tc.id,
            name: tc.name,
            arguments: String::new(),
        };
        emit(
            sink,
            "response.output_item.added",
            || json!({"output_index": output_index, "item": added}),
        );
        let Item::FunctionCall {
            id, call_id, name, ..
        } = added
        else {
            unreachable!()
        };
        emit(
            sink,
            "response.function_call_arguments.delta",
            || json!({"item_id": id, "output_index": output_index, "delta": tc.arguments}),
        );
        emit(sink, "response.function_call_arguments.done", || {
            json!({"item_id": id, "output_index": output_index, "name": name,
                   "arguments": tc.arguments})
        });
        let item = Item::FunctionCall {
            id,
            status: "completed",
            call_id,
            name,
            arguments: tc.arguments,
        };
        emit(
            sink,
            "response.output_item.done",
            || json!({"output_index": output_index, "item": item}),
        );
        self.items.push(item);
        self.calls += 1;
    }

    /// End the open item, if any.
    pub fn close(&mut self, sink: &mut dyn Sink) {
        self.finish_open(None, sink);
    }

    fn finish_open(&mut self, sig: Option<&str>, sink: &mut dyn Sink) {
        let output_index = self.index();
        let item = match self.open.take() {
            None => return,
            Some(Open::Message { id, text }) => {
                emit(sink, "response.output_text.done", || {
                    json!({"item_id": id, "output_index": output_index, "content_index": 0,
                           "text": text, "logprobs": []})
                });
                let part = output_text(text);
                emit(sink, "response.content_part.done", || {
                    json!({"item_id": id, "output_index": output_index, "content_index": 0,
                           "part": part})
                });
                Item::Message {
                    id,
                    status: "completed",
                    role: "assistant",
                    content: [part],
                }
            }
            Some(Open::Reasoning { id, text }) => {
                let mut summary = Vec::new();
                if !text.is_empty() {
                    emit(sink, "response.reasoning_summary_text.done", || {
                        json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                               "text": text})
                    });
                    let part = SummaryText {
                        kind: "summary_text",
                        text,
                    };
                    emit(sink, "response.reasoning_summary_part.done", || {
                        json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                               "part": part})
                    });
                    summary.push(part);
                }
                Item::Reasoning {
                    id,
                    summary,
                    encrypted_content: sig.map(str::to_string),
                }
            }
        };
        emit(
            sink,
            "response.output_item.done",
            || json!({"output_index": output_index, "item": item}),
        );
        self.items.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<String>);

    impl Sink for Names {
        fn event(&mut self, kind: &'static str, _data: Value) {
            self.0.push(kind.to_string());
        }
    }

    fn run(summaries: bool, parts: Value) -> (Vec<Value>, Vec<String>) {
        let parts: Vec<Part> = serde_json::from_value(parts).unwrap();
        let mut o = Output::new(summaries);
        let mut names = Names(Vec::new());
        o.parts(&parts, &mut names);
        o.close(&mut names);
        let items = o.items.iter().map(|i| serde_json::to_value(i).unwrap());
        (items.collect(), names.0)
    }

    #[test]
    fn a_signed_call_after_thoughts() {
        let (items, events) = run(
            true,
            json!([{"text": "plan", "thought": true},
                   {"functionCall": {"name": "f", "args": {"a": 1}, "id": "g1"}, "thoughtSignature": "c2ln"}]),
        );
        assert_eq!(items[0]["type"], "reasoning");
        assert_eq!(
            items[0]["summary"],
            json!([{"type": "summary_text", "text": "plan"}])
        );
        assert_eq!(items[0]["encrypted_content"], "c2ln");
        assert_eq!(items[1]["type"], "function_call");
        assert_eq!(items[1]["call_id"], "g1");
        assert_eq!(items[1]["arguments"], "{\"a\":1}");
        assert_eq!(
            events,
            [
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done"
            ]
        );
    }

    #[test]
    fn without_summaries_a_plain_answer_is_one_message() {
        let (items, _) = run(
            false,
            json!([{"text": "x", "thought": true}, {"text": "Hi", "thoughtSignature": "s"}, {"text": "!"}]),
        );
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["content"][0]["text"], "Hi!");
        // but a call's signature still gets its reasoning item
        let (items, _) = run(
            false,
            json!([{"functionCall": {"name": "f"}, "thoughtSignature": "s"}]),
        );
        assert_eq!(
            items[0],
            json!({"id": items[0]["id"], "type": "reasoning", "summary": [], "encrypted_content": "s"})
        );
        assert!(items[1]["call_id"].as_str().unwrap().starts_with("call_"));
    }
}
