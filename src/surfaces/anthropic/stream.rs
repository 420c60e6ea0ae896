//! Gemini SSE events → Anthropic Messages stream events, as they arrive:
//!
//! ```text
//! first upstream event ─► message_start (input tokens from Gemini's usage), ping
//! each part            ─► content_block_start / content_block_delta (text_delta,
//!                         thinking_delta, signature_delta, input_json_delta) / content_block_stop
//! end with finishReason ► content_block_stop (open block), message_delta {stop_reason, usage},
//!                         message_stop
//! {"error"} event, blocked prompt, unreadable event, end without finishReason
//!                       ─► event: error {"type":"error","error":{type,message}} — nothing after
//! ```
//!
//! Only the first candidate is read (Anthropic has no `n`).

use super::blocks::{Blocks, Ev, Start};
use super::response::{stop_reason, usage, MessageMeta};
use crate::convert::gemini::blocked_error;
use crate::convert::gemini::{upstream_error, GenerateResponse, UsageMetadata};
use crate::convert::sse::{pump, Events, SseReader};
use crate::error::{Envelope, ErrorKind, GatewayError};
use crate::pipeline::route::{Framing, StreamReply};
use serde_json::{json, Value};

const TRUNCATED: &str = "Gemini's stream ended before the answer was complete.";

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Open,
    Failed,
    Done,
}

/// The stream translator of one answer.
pub(super) struct MessageStream {
    meta: MessageMeta,
    sse: SseReader,
    blocks: Blocks,
    started: bool,
    finish: Option<String>,
    usage: Option<UsageMetadata>,
    state: State,
    at_eof: bool,
}

fn write(out: &mut Vec<u8>, kind: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // A `Value` always serialises.
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}

impl MessageStream {
    pub fn new(meta: MessageMeta) -> Self {
        MessageStream {
            blocks: Blocks::new(meta.thinking),
            meta,
            sse: SseReader::default(),
            started: false,
            finish: None,
            usage: None,
            state: State::Open,
            at_eof: false,
        }
    }

    fn fail(&mut self, out: &mut Vec<u8>, e: GatewayError) {
        if let Some(ev) = e.stream_event(Envelope::Anthropic, Framing::Sse) {
            out.extend_from_slice(&ev);
        }
        self.state = State::Failed;
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut u = usage(self.usage.as_ref());
        u.output_tokens = 0;
        write(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": self.meta.id, "type": "message", "role": "assistant",
                "model": self.meta.model, "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": u,
            }}),
        );
        write(out, "ping", &json!({"type": "ping"}));
    }

    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() || trimmed == b"[DONE]" {
            return;
        }
        let resp: GenerateResponse = match serde_json::from_slice(trimmed) {
            Ok(r) => r,
            Err(_) => {
                let msg = if self.at_eof {
                    TRUNCATED
                } else {
                    "Gemini sent a stream event that could not be read; the answer is incomplete."
                };
                return self.fail(out, GatewayError::new(ErrorKind::BadGateway, msg));
            }
        };
        if let Some(err) = &resp.error {
            return self.fail(out, upstream_error(err).into());
        }
        if let Some(u) = resp.usage_metadata {
            self.usage = Some(u);
        }
        let Some(c) = resp.candidates.as_ref().and_then(|c| c.first()) else {
            if !self.started {
                if let Some(e) = blocked_error(resp.prompt_feedback.as_ref()) {
                    self.fail(out, e.into());
                }
            }
            return;
        };
        self.start(out);
        if self.finish.is_some() {
            return; // nothing may follow the finish
        }
        let parts = c
            .content
            .as_ref()
            .and_then(|c| c.parts.as_deref())
            .unwrap_or(&[]);
        let mut w = Writer {
            out,
            next: self.blocks.count,
        };
        self.blocks.parts(parts, &mut |e| w.event(e));
        if let Some(r) = &c.finish_reason {
            self.finish = Some(r.clone());
        }
    }
}

/// Writes block events with their indexes (blocks are numbered in the order they start).
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    /// The index the next block gets.
    next: usize,
}

impl Writer<'_> {
    fn event(&mut self, e: Ev<'_>) {
        let index = self.next.saturating_sub(1);
        let (kind, data) = match e {
            Ev::Start(s) => {
                let block = match s {
                    Start::Text => json!({"type": "text", "text": ""}),
                    Start::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                    Start::ToolUse { id, name } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                };
                self.next += 1;
                let data = json!({"type": "content_block_start", "index": self.next - 1, "content_block": block});
                ("content_block_start", data)
            }
            Ev::Text(t) => delta(index, json!({"type": "text_delta", "text": t.plain()})),
            Ev::Thinking(t) => delta(
                index,
                json!({"type": "thinking_delta", "thinking": t.plain()}),
            ),
            Ev::Signature(s) => delta(index, json!({"type": "signature_delta", "signature": s})),
            Ev::Json(j) => delta(
                index,
                json!({"type": "input_json_delta", "partial_json": j}),
            ),
            Ev::Stop => (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ),
        };
        write(self.out, kind, &data);
    }
}

fn delta(index: usize, d: Value) -> (&'static str, Value) {
    (
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": d}),
    )
}

impl StreamReply for MessageStream {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        pump(self, Some(chunk), out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state == State::Open {
            self.at_eof = true;
            pump(self, None, out);
        }
        if self.state != State::Open {
            self.state = State::Done;
            return;
        }
        self.state = State::Done;
        let Some(reason) = self.finish.clone() else {
            return self.fail(out, GatewayError::new(ErrorKind::BadGateway, TRUNCATED));
        };
        let mut w = Writer {
            out,
            next: self.blocks.count,
        };
        self.blocks.close(&mut |e| w.event(e));
        let u = usage(self.usage.as_ref());
        // message_delta's usage has no cache_creation_input_tokens.
        let u = json!({"input_tokens": u.input_tokens, "cache_read_input_tokens": u.cache_read_input_tokens,
                       "output_tokens": u.output_tokens});
        write(
            out,
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(Some(&reason), self.blocks.tool_uses),
                              "stop_sequence": null},
                    "usage": u}),
        );
        write(out, "message_stop", &json!({"type": "message_stop"}));
    }
}

impl Events for MessageStream {
    fn reader(&mut self) -> &mut SseReader {
        &mut self.sse
    }

    fn open(&self) -> bool {
        self.state == State::Open
    }

    fn on_event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.event(data, out);
    }
}
