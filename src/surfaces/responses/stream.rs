//! Gemini SSE events → Responses stream events, as they arrive:
//!
//! ```text
//! first upstream event ─► response.created, response.in_progress (status in_progress, no output)
//! each part            ─► response.output_item.added / .done around each item;
//!                         message: content_part.added, output_text.delta…, output_text.done,
//!                         content_part.done; reasoning: reasoning_summary_part.added,
//!                         reasoning_summary_text.delta…, .done, reasoning_summary_part.done;
//!                         function_call: function_call_arguments.delta, .done
//! end with finishReason ► the open item's closing events, then response.completed (or
//!                         response.incomplete for max_output_tokens / content_filter) with the
//!                         whole output and usage
//! {"error"} event, blocked prompt, unreadable event, end without finishReason, and (through
//! StreamReply::fail) a cut or stalled upstream or the shutdown deadline
//!                       ─► error {code, message}, response.failed {status failed, error}
//! ```
//!
//! Every event is `event: <type>\ndata: <json>\n\n`; its data carries `type` and a
//! `sequence_number` counting from 0. Only the first candidate is read.

use super::output::{Output, Sink};
use super::response::{status, Ending, Meta};
use crate::convert::gemini::{blocked_error, upstream_error};
use crate::convert::json_out::{sse_event, Obj};
use crate::convert::sse::{pump, Events, SseReader};
use crate::convert::stream_event::{read_event, StreamUsage};
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::route::StreamReply;
use serde_json::json;

const TRUNCATED: &str = "Gemini's stream ended before the answer was complete.";

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Open,
    Failed,
    Done,
}

/// Writes events with their sequence numbers.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    seq: &'o mut u64,
}

impl Sink for Writer<'_> {
    fn event(&mut self, kind: &'static str, data: &mut dyn FnMut(&mut Obj<'_>)) {
        let seq = *self.seq;
        *self.seq += 1;
        sse_event(self.out, kind, |o| {
            o.u64("sequence_number", seq);
            data(o);
        });
    }
}

/// The stream translator of one answer.
pub(super) struct ResponseStream {
    meta: Meta,
    sse: SseReader,
    output: Output,
    seq: u64,
    started: bool,
    finish: Option<String>,
    usage: StreamUsage,
    state: State,
    at_eof: bool,
}

impl ResponseStream {
    pub fn new(meta: Meta) -> Self {
        ResponseStream {
            output: Output::new(meta.summaries, &meta.id),
            meta,
            sse: SseReader::default(),
            seq: 0,
            started: false,
            finish: None,
            usage: StreamUsage::default(),
            state: State::Open,
            at_eof: false,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let skeleton = Ending {
            status: "in_progress",
            incomplete: None,
            error: None,
            usage: None,
            completed: false,
        };
        let meta = &self.meta;
        let mut w = Writer {
            out,
            seq: &mut self.seq,
        };
        // Both events carry the same response object: written once.
        let mut object = Vec::with_capacity(1024);
        meta.write_object(&mut object, &skeleton, &[]);
        for kind in ["response.created", "response.in_progress"] {
            w.event(kind, &mut |o| {
                o.with("response", |b| b.extend_from_slice(&object));
            });
        }
    }

    /// End with `error` and `response.failed`.
    fn failed(&mut self, out: &mut Vec<u8>, e: &GatewayError) {
        self.start(out);
        let code = e.kind().openai().1.unwrap_or(match e.kind().status() {
            s if s >= 500 => "server_error",
            _ => "invalid_request",
        });
        let mut w = Writer {
            out,
            seq: &mut self.seq,
        };
        w.event("error", &mut |o| {
            o.str("code", code)
                .str("message", e.message())
                .opt_str("param", e.param());
        });
        let usage = self.usage.get();
        let end = Ending {
            status: "failed",
            incomplete: None,
            error: Some(json!({"code": code, "message": e.message()})),
            usage: usage.as_ref(),
            completed: false,
        };
        let (meta, items) = (&self.meta, &self.output.items);
        w.event("response.failed", &mut |o| {
            o.with("response", |b| meta.write_object(b, &end, items));
        });
        self.state = State::Failed;
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
                return self.failed(out, &GatewayError::new(ErrorKind::BadGateway, msg));
            }
        };
        if let Some(err) = &resp.error {
            return self.failed(out, &upstream_error(err).into());
        }
        self.usage.note(resp.usage_metadata);
        let Some(c) = resp.candidates.as_mut().and_then(|c| c.first_mut()) else {
            if !self.started {
                if let Some(e) = blocked_error(resp.prompt_feedback.as_ref()) {
                    self.failed(out, &e.into());
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
            seq: &mut self.seq,
        };
        self.output.parts(parts, &mut w);
        if let Some(r) = &c.finish_reason {
            self.finish = Some(r.clone());
        }
    }
}

impl StreamReply for ResponseStream {
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
        let Some(reason) = self.finish.clone() else {
            self.failed(out, &GatewayError::new(ErrorKind::BadGateway, TRUNCATED));
            self.state = State::Done;
            return;
        };
        self.state = State::Done;
        let mut w = Writer {
            out,
            seq: &mut self.seq,
        };
        self.output.close(&mut w);
        let (status, incomplete) = status(Some(&reason), self.output.calls);
        let usage = self.usage.get();
        let end = Ending {
            status,
            incomplete,
            error: None,
            usage: usage.as_ref(),
            completed: true,
        };
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let (meta, items) = (&self.meta, &self.output.items);
        w.event(kind, &mut |o| {
            o.with("response", |b| meta.write_object(b, &end, items));
        });
    }

    fn fail(&mut self, error: &GatewayError, out: &mut Vec<u8>) -> bool {
        if self.state == State::Open {
            self.failed(out, error);
        }
        self.state = State::Done;
        true
    }
}

impl Events for ResponseStream {
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
