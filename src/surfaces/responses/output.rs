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
//!   alphanumerics derived from the response's id and the call's place, so a stored response's
//!   calls can be named again; `id` `fc_…`).

use crate::convert::gemini::{pieces, CallIds, Part, Piece, ToolCall};
use crate::convert::json_out::{array, fields_of, Obj};
use crate::convert::json_text::{JsonText, JsonTextBuf};
use crate::convert::random_id;

/// One output item.
#[derive(Debug, Clone)]
pub(super) enum Item {
    Message {
        id: String,
        status: &'static str,
        /// The answer's text as Gemini escaped it.
        text: JsonTextBuf,
    },
    Reasoning {
        id: String,
        /// The thought summary (no `summary_text` part when empty).
        summary: String,
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

impl Item {
    /// The item as the Responses API spells it.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        match self {
            Item::Message { id, status, text } => {
                o.raw("type", "\"message\"")
                    .str("id", id)
                    .str("status", status)
                    .raw("role", "\"assistant\"")
                    .with("content", |b| {
                        b.push(b'[');
                        output_text(b, text);
                        b.push(b']');
                    });
            }
            Item::Reasoning {
                id,
                summary,
                encrypted_content,
            } => {
                o.raw("type", "\"reasoning\"").str("id", id);
                o.with("summary", |b| {
                    b.push(b'[');
                    if !summary.is_empty() {
                        summary_text(b, summary);
                    }
                    b.push(b']');
                });
                if let Some(e) = encrypted_content {
                    o.str("encrypted_content", e);
                }
            }
            Item::FunctionCall {
                id,
                status,
                call_id,
                name,
                arguments,
            } => {
                o.raw("type", "\"function_call\"")
                    .str("id", id)
                    .str("status", status)
                    .str("call_id", call_id)
                    .str("name", name)
                    .str("arguments", arguments);
            }
        }
        o.end();
    }
}

/// Items as a JSON array.
pub(super) fn write_items(out: &mut Vec<u8>, items: &[Item]) {
    array(out, items, Item::write);
}

/// A message's `output_text` part.
fn output_text(out: &mut Vec<u8>, text: &JsonTextBuf) {
    let mut o = Obj::new(out);
    o.raw("type", "\"output_text\"")
        .with("text", |b| text.write(b))
        .raw("annotations", "[]")
        .raw("logprobs", "[]");
    o.end();
}

/// A reasoning item's `summary_text` part.
fn summary_text(out: &mut Vec<u8>, text: &str) {
    let mut o = Obj::new(out);
    o.raw("type", "\"summary_text\"").str("text", text);
    o.end();
}

/// Where stream events go (nowhere for a whole answer).
pub(super) trait Sink {
    /// One event: `data` writes its fields (after the `type` and `sequence_number` the sink
    /// writes).
    fn event(&mut self, kind: &'static str, data: &mut dyn FnMut(&mut Obj<'_>));
    /// Whether events are wanted at all (they are not written otherwise).
    fn live(&self) -> bool {
        true
    }
}

/// Discards events: the whole answer only needs the items.
pub(super) struct NoEvents;

impl Sink for NoEvents {
    fn event(&mut self, _kind: &'static str, _data: &mut dyn FnMut(&mut Obj<'_>)) {}
    fn live(&self) -> bool {
        false
    }
}

/// `response.output_item.added` / `.done`: the item's output index and the item `write` writes.
fn item_event(
    sink: &mut dyn Sink,
    kind: &'static str,
    output_index: u64,
    write: impl Fn(&mut Vec<u8>),
) {
    emit(sink, kind, |o| {
        o.u64("output_index", output_index).with("item", &write);
    });
}

/// Write an event only when the sink wants events.
fn emit(sink: &mut dyn Sink, kind: &'static str, mut data: impl FnMut(&mut Obj<'_>)) {
    if sink.live() {
        sink.event(kind, &mut data);
    }
}

enum Open {
    Message {
        id: String,
        /// `"item_id":…,"output_index":…,"content_index":0`, which every event of the message
        /// repeats (written once).
        head: String,
        text: JsonTextBuf,
    },
    Reasoning {
        id: String,
        text: String,
    },
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
    /// The translator of the answer `response` (its function calls' ids derive from it).
    pub fn new(summaries: bool, response: &str) -> Self {
        Output {
            summaries,
            ids: CallIds::derived("call_", response),
            open: None,
            items: Vec::new(),
            calls: 0,
        }
    }

    fn index(&self) -> usize {
        self.items.len()
    }

    /// Translate one event's parts of the first candidate.
    pub fn parts(&mut self, parts: &mut [Part], sink: &mut dyn Sink) {
        // The ids are lent to the pieces while the items are built.
        let mut ids = std::mem::take(&mut self.ids);
        for piece in pieces(parts, self.summaries, false, &mut ids) {
            match piece {
                Piece::Reasoning(t) => self.summary(&t.plain(), sink),
                Piece::Signature(s) if self.summaries => self.sign(&s, sink),
                Piece::Signature(_) => {}
                Piece::Text(t) => self.text(t, sink),
                Piece::Call(tc) => self.call(*tc, sink),
            }
        }
        self.ids = ids;
    }

    fn text(&mut self, t: JsonText, sink: &mut dyn Sink) {
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close(sink);
            let id = random_id("msg_", 48);
            let output_index = self.index() as u64;
            item_event(sink, "response.output_item.added", output_index, |b| {
                let mut item = Obj::new(b);
                item.str("id", &id)
                    .raw("type", "\"message\"")
                    .raw("status", "\"in_progress\"")
                    .raw("role", "\"assistant\"")
                    .raw("content", "[]");
                item.end();
            });
            // Only events use it: a whole answer does not write it.
            let head = match sink.live() {
                true => fields_of(|o| {
                    o.str("item_id", &id)
                        .u64("output_index", output_index)
                        .u64("content_index", 0);
                }),
                false => String::new(),
            };
            emit(sink, "response.content_part.added", |o| {
                o.fields(&head)
                    .with("part", |b| output_text(b, &JsonTextBuf::default()));
            });
            self.open = Some(Open::Message {
                id,
                head,
                text: JsonTextBuf::default(),
            });
        }
        if let Some(Open::Message { head, text, .. }) = &mut self.open {
            emit(sink, "response.output_text.delta", |o| {
                o.fields(head)
                    .raw("delta", t.literal())
                    .raw("logprobs", "[]");
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
        let output_index = self.index() as u64;
        item_event(sink, "response.output_item.added", output_index, |b| {
            let mut item = Obj::new(b);
            item.str("id", &id)
                .raw("type", "\"reasoning\"")
                .raw("summary", "[]");
            item.end();
        });
        self.open = Some(Open::Reasoning {
            id,
            text: String::new(),
        });
    }

    fn summary(&mut self, t: &str, sink: &mut dyn Sink) {
        self.open_reasoning(sink);
        let output_index = self.index() as u64;
        if let Some(Open::Reasoning { id, text }) = &mut self.open {
            if text.is_empty() {
                emit(sink, "response.reasoning_summary_part.added", |o| {
                    o.str("item_id", id)
                        .u64("output_index", output_index)
                        .u64("summary_index", 0)
                        .with("part", |b| summary_text(b, ""));
                });
            }
            emit(sink, "response.reasoning_summary_text.delta", |o| {
                o.str("item_id", id)
                    .u64("output_index", output_index)
                    .u64("summary_index", 0)
                    .str("delta", t);
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
        let output_index = self.index() as u64;
        let mut item = Item::FunctionCall {
            id: random_id("fc_", 48),
            status: "in_progress",
            call_id: tc.id,
            name: tc.name,
            arguments: String::new(),
        };
        item_event(sink, "response.output_item.added", output_index, |b| {
            item.write(b)
        });
        let Item::FunctionCall {
            id,
            status,
            name,
            arguments,
            ..
        } = &mut item
        else {
            unreachable!()
        };
        emit(sink, "response.function_call_arguments.delta", |o| {
            o.str("item_id", id)
                .u64("output_index", output_index)
                .str("delta", &tc.arguments);
        });
        emit(sink, "response.function_call_arguments.done", |o| {
            o.str("item_id", id)
                .u64("output_index", output_index)
                .str("name", name)
                .str("arguments", &tc.arguments);
        });
        *status = "completed";
        *arguments = tc.arguments;
        item_event(sink, "response.output_item.done", output_index, |b| {
            item.write(b)
        });
        self.items.push(item);
        self.calls += 1;
    }

    /// End the open item, if any.
    pub fn close(&mut self, sink: &mut dyn Sink) {
        self.finish_open(None, sink);
    }

    fn finish_open(&mut self, sig: Option<&str>, sink: &mut dyn Sink) {
        let output_index = self.index() as u64;
        let item = match self.open.take() {
            None => return,
            Some(Open::Message { id, head, text }) => {
                emit(sink, "response.output_text.done", |o| {
                    o.fields(&head)
                        .with("text", |b| text.write(b))
                        .raw("logprobs", "[]");
                });
                emit(sink, "response.content_part.done", |o| {
                    o.fields(&head).with("part", |b| output_text(b, &text));
                });
                Item::Message {
                    id,
                    status: "completed",
                    text,
                }
            }
            Some(Open::Reasoning { id, text }) => {
                if !text.is_empty() {
                    emit(sink, "response.reasoning_summary_text.done", |o| {
                        o.str("item_id", &id)
                            .u64("output_index", output_index)
                            .u64("summary_index", 0)
                            .str("text", &text);
                    });
                    emit(sink, "response.reasoning_summary_part.done", |o| {
                        o.str("item_id", &id)
                            .u64("output_index", output_index)
                            .u64("summary_index", 0)
                            .with("part", |b| summary_text(b, &text));
                    });
                }
                Item::Reasoning {
                    id,
                    summary: text,
                    encrypted_content: sig.map(str::to_string),
                }
            }
        };
        item_event(sink, "response.output_item.done", output_index, |b| {
            item.write(b)
        });
        self.items.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    struct Names(Vec<String>);

    impl Sink for Names {
        fn event(&mut self, kind: &'static str, _data: &mut dyn FnMut(&mut Obj<'_>)) {
            self.0.push(kind.to_string());
        }
    }

    fn run(summaries: bool, parts: Value) -> (Vec<Value>, Vec<String>) {
        let mut parts: Vec<Part> = serde_json::from_value(parts).unwrap();
        let mut o = Output::new(summaries, "resp_test");
        let mut names = Names(Vec::new());
        o.parts(&mut parts, &mut names);
        o.close(&mut names);
        let mut out = Vec::new();
        write_items(&mut out, &o.items);
        let Value::Array(items) = serde_json::from_slice(&out).unwrap() else {
            panic!("not an array")
        };
        (items, names.0)
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
