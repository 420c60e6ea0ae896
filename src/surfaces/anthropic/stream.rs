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
use crate::convert::gemini::{blocked_error, upstream_error};
use crate::convert::json_out::{sse_event, Obj};
use crate::convert::sse::{pump, Events, SseReader};
use crate::convert::stream_event::{read_event, StreamUsage};
use crate::error::{Envelope, ErrorKind, GatewayError};
use crate::pipeline::route::{Framing, StreamReply};

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
    usage: StreamUsage,
    state: State,
    at_eof: bool,
}

impl MessageStream {
    pub fn new(meta: MessageMeta) -> Self {
        MessageStream {
            blocks: Blocks::new(meta.thinking),
            meta,
            sse: SseReader::default(),
            started: false,
            finish: None,
            usage: StreamUsage::default(),
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
        let mut u = usage(self.usage.get().as_ref());
        u.output_tokens = 0;
        let meta = &self.meta;
        sse_event(out, "message_start", |o| {
            let mut m = o.obj("message");
            m.str("id", &meta.id)
                .raw("type", "\"message\"")
                .raw("role", "\"assistant\"")
                .str("model", &meta.model)
                .raw("content", "[]")
                .raw("stop_reason", "null")
                .raw("stop_sequence", "null");
            let mut w = m.obj("usage");
            u.write(&mut w);
            w.end();
            m.end();
        });
        sse_event(out, "ping", |_| {});
    }

    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() || trimmed == b"[DONE]" {
            return;
        }
        let mut resp = match read_event(trimmed) {
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
        self.usage.note(resp.usage_metadata);
        let Some(c) = resp.candidates.as_mut().and_then(|c| c.first_mut()) else {
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
        let parts = c.parts_mut();
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
        let index = self.next.saturating_sub(1) as u64;
        match e {
            Ev::Start(s) => {
                self.next += 1;
                let index = (self.next - 1) as u64;
                sse_event(self.out, "content_block_start", |o| {
                    o.u64("index", index);
                    let mut b = o.obj("content_block");
                    match s {
                        Start::Text => b.raw("type", "\"text\"").raw("text", "\"\""),
                        Start::Thinking => b
                            .raw("type", "\"thinking\"")
                            .raw("thinking", "\"\"")
                            .raw("signature", "\"\""),
                        Start::ToolUse { id, name } => b
                            .raw("type", "\"tool_use\"")
                            .str("id", &id)
                            .str("name", &name)
                            .raw("input", "{}"),
                    };
                    b.end();
                });
            }
            Ev::Text(t) => delta(self.out, index, |d| {
                d.raw("type", "\"text_delta\"").raw("text", t.literal());
            }),
            Ev::Thinking(t) => delta(self.out, index, |d| {
                d.raw("type", "\"thinking_delta\"")
                    .raw("thinking", t.literal());
            }),
            Ev::Signature(sig) => delta(self.out, index, |d| {
                d.raw("type", "\"signature_delta\"").str("signature", sig);
            }),
            Ev::Json(j) => delta(self.out, index, |d| {
                d.raw("type", "\"input_json_delta\"")
                    .str("partial_json", &j);
            }),
            Ev::Stop => sse_event(self.out, "content_block_stop", |o| {
                o.u64("index", index);
            }),
        }
    }
}

/// `content_block_delta` with the `delta` object `fields` writes.
fn delta(out: &mut Vec<u8>, index: u64, fields: impl FnOnce(&mut Obj<'_>)) {
    sse_event(out, "content_block_delta", |o| {
        o.u64("index", index);
        let mut d = o.obj("delta");
        fields(&mut d);
        d.end();
    });
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
        let u = usage(self.usage.get().as_ref());
        let stop = stop_reason(Some(&reason), self.blocks.tool_uses);
        sse_event(out, "message_delta", |o| {
            let mut d = o.obj("delta");
            d.str("stop_reason", stop).raw("stop_sequence", "null");
            d.end();
            // message_delta's usage has no cache_creation_input_tokens.
            let mut w = o.obj("usage");
            w.u64("input_tokens", u.input_tokens)
                .u64("cache_read_input_tokens", u.cache_read_input_tokens)
                .u64("output_tokens", u.output_tokens);
            w.end();
        });
        sse_event(out, "message_stop", |_| {});
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
