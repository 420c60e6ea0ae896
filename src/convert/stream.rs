//! Streaming translator: Gemini SSE events → OpenAI `chat.completion.chunk` events.
//!
//! Input is `streamGenerateContent?alt=sse`; output is written as each upstream event completes.
//!
//! State machine (per response):
//!
//! ```text
//!  Open ──event with candidates──► per candidate index: first time → role chunk
//!   │                              {"role":"assistant","content":""}; then one chunk per run of
//!   │                              text (`content`) / thoughts (`reasoning_content`), and two per
//!   │                              functionCall (id+type+name[+extra_content], then arguments);
//!   │                              a finishReason is remembered for that choice.
//!   ├──{"error":...} event / blocked prompt / unreadable event──► error event written ► Failed
//!   └──finish()──► every choice finished?  yes: finish chunk per choice, usage chunk (if
//!                  include_usage), `data: [DONE]` ► Done
//!                                          no (truncated): error event ► Done (no [DONE])
//! ```
//!
//! Upstream framing is read by [`super::sse::SseReader`], so events and UTF-8 sequences may be
//! split anywhere.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::gemini::blocked_error;
use super::gemini::{error_parts, finish_reason, openai_error_type, pieces, CallIds, Piece};
use super::json_out::Obj;
use super::json_text::JsonTextBuf;
use super::sse::{pump, Events, SseReader};
use super::stream_event::{read_event, StreamUsage};
use super::ChatMeta;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Open,
    /// An error event was written; nothing more will be.
    Failed,
    /// `finish` ran.
    Done,
}

#[derive(Debug, Default)]
struct ChoiceState {
    /// Tool calls emitted so far (the next call's `index`).
    calls: usize,
    /// Gemini's finishReason, once seen.
    finish: Option<String>,
}

/// Streaming translator for one response.
#[derive(Debug)]
pub struct ChatStream {
    meta: ChatMeta,
    sse: SseReader,
    choices: BTreeMap<u64, ChoiceState>,
    ids: CallIds,
    usage: StreamUsage,
    state: State,
    /// `finish` is flushing what was left: an unreadable event there is a cut-off one.
    at_eof: bool,
}

/// A chunk's `delta` (absent fields are not written); text stays as Gemini escaped it.
#[derive(Default)]
struct Delta {
    role: Option<&'static str>,
    content: Option<JsonTextBuf>,
    reasoning_content: Option<JsonTextBuf>,
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Serialize)]
struct ToolCallDelta {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_content: Option<Value>,
}

#[derive(Serialize)]
struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<String>,
}

#[derive(Serialize)]
struct ErrorEvent<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<()>,
    code: Option<&'a str>,
}

const TRUNCATED: &str =
    "The upstream stream ended before Gemini reported a finish reason; the answer is incomplete.";

fn write_event(out: &mut Vec<u8>, v: &impl Serialize) {
    if let Ok(json) = serde_json::to_vec(v) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&json);
        out.extend_from_slice(b"\n\n");
    }
}

impl ChatStream {
    pub fn new(meta: ChatMeta) -> ChatStream {
        ChatStream {
            meta,
            sse: SseReader::default(),
            choices: BTreeMap::new(),
            ids: CallIds::default(),
            usage: StreamUsage::default(),
            state: State::Open,
            at_eof: false,
        }
    }

    /// Append translated events for every complete upstream event in `input` to `out`.
    /// Multi-byte UTF-8 split across calls survives (bytes are buffered, not strings).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        pump(self, Some(input), out);
    }

    /// One complete upstream event.
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() || trimmed == b"[DONE]" {
            return;
        }
        let resp = match read_event(trimmed) {
            Ok(r) => r,
            Err(_) if self.at_eof => {
                self.fail(out, TRUNCATED, "server_error", Some("stream_truncated"));
                return;
            }
            Err(_) => {
                self.fail(
                    out,
                    "Gemini sent a stream event that could not be read; the answer is incomplete.",
                    "server_error",
                    Some("upstream_error"),
                );
                return;
            }
        };
        if let Some(err) = &resp.error {
            let (code, status, message) = error_parts(err);
            let status = status.map(|s| s.to_ascii_lowercase());
            self.fail(out, &message, openai_error_type(code), status.as_deref());
            return;
        }
        self.usage.note(resp.usage_metadata);
        let mut candidates = resp.candidates.unwrap_or_default();
        if candidates.is_empty() {
            if self.choices.is_empty() {
                if let Some(e) = blocked_error(resp.prompt_feedback.as_ref()) {
                    self.fail(out, &e.message, "invalid_request_error", e.code());
                }
            }
            return;
        }
        for (pos, c) in candidates.iter_mut().enumerate() {
            let index = c.index.unwrap_or(pos as u64);
            if let std::collections::btree_map::Entry::Vacant(e) = self.choices.entry(index) {
                e.insert(ChoiceState::default());
                let role = Delta {
                    role: Some("assistant"),
                    content: Some(JsonTextBuf::default()),
                    ..Delta::default()
                };
                self.chunk(out, index, role, None);
            }
            if self.choices.get(&index).is_some_and(|s| s.finish.is_some()) {
                continue; // Nothing may follow a choice's finish.
            }
            // The ids are lent to the pieces while the chunks are written.
            let mut ids = std::mem::take(&mut self.ids);
            let (thoughts, roo) = (self.meta.include_thoughts, self.meta.roo_line_count);
            self.emit_pieces(out, index, pieces(c.parts_mut(), thoughts, roo, &mut ids));
            self.ids = ids;
            if let Some(r) = &c.finish_reason {
                if let Some(s) = self.choices.get_mut(&index) {
                    s.finish = Some(r.clone());
                }
            }
        }
    }

    /// Write the deltas for one event's pieces; adjacent text (or thought) pieces share a chunk.
    fn emit_pieces(&mut self, out: &mut Vec<u8>, index: u64, ps: impl Iterator<Item = Piece>) {
        let mut text = JsonTextBuf::default();
        let mut thought = JsonTextBuf::default();
        for p in ps {
            match p {
                Piece::Text(t) => {
                    if !thought.is_empty() {
                        self.reasoning_chunk(out, index, std::mem::take(&mut thought));
                    }
                    text.push(t);
                }
                Piece::Signature(_) => {}
                Piece::Reasoning(r) => {
                    if !text.is_empty() {
                        self.text_chunk(out, index, std::mem::take(&mut text));
                    }
                    thought.push(r);
                }
                Piece::Call(tc) => {
                    if !thought.is_empty() {
                        self.reasoning_chunk(out, index, std::mem::take(&mut thought));
                    }
                    if !text.is_empty() {
                        self.text_chunk(out, index, std::mem::take(&mut text));
                    }
                    let k = match self.choices.get_mut(&index) {
                        Some(s) => {
                            s.calls += 1;
                            s.calls - 1
                        }
                        None => 0,
                    };
                    let extra_content = tc.extra_content();
                    let head = ToolCallDelta {
                        index: k,
                        id: Some(tc.id),
                        kind: Some("function"),
                        function: FunctionDelta {
                            name: Some(tc.name),
                            arguments: Some(String::new()),
                        },
                        extra_content,
                    };
                    let body = ToolCallDelta {
                        index: k,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: Some(tc.arguments),
                        },
                        extra_content: None,
                    };
                    for d in [head, body] {
                        let delta = Delta {
                            tool_calls: vec![d],
                            ..Delta::default()
                        };
                        self.chunk(out, index, delta, None);
                    }
                }
            }
        }
        if !thought.is_empty() {
            self.reasoning_chunk(out, index, thought);
        }
        if !text.is_empty() {
            self.text_chunk(out, index, text);
        }
    }

    fn text_chunk(&self, out: &mut Vec<u8>, index: u64, text: JsonTextBuf) {
        let d = Delta {
            content: Some(text),
            ..Delta::default()
        };
        self.chunk(out, index, d, None);
    }

    fn reasoning_chunk(&self, out: &mut Vec<u8>, index: u64, text: JsonTextBuf) {
        let d = Delta {
            reasoning_content: Some(text),
            ..Delta::default()
        };
        self.chunk(out, index, d, None);
    }

    /// One `chat.completion.chunk` event, written by the JSON writer in the order OpenAI sends
    /// the fields: `id`, `object`, `created`, `model`, then what `rest` writes.
    fn write_chunk(&self, out: &mut Vec<u8>, rest: impl FnOnce(&mut Obj<'_>)) {
        out.extend_from_slice(b"data: ");
        let mut o = Obj::new(out);
        o.str("id", &self.meta.id)
            .raw("object", "\"chat.completion.chunk\"")
            .u64("created", self.meta.created)
            .str("model", &self.meta.model);
        rest(&mut o);
        o.end();
        out.extend_from_slice(b"\n\n");
    }

    /// A chunk with one choice.
    fn chunk(&self, out: &mut Vec<u8>, index: u64, delta: Delta, finish: Option<&'static str>) {
        self.write_chunk(out, |o| {
            o.with("choices", |b| {
                b.push(b'[');
                let mut c = Obj::new(b);
                c.u64("index", index);
                let mut d = c.obj("delta");
                if let Some(role) = delta.role {
                    d.str("role", role);
                }
                if let Some(text) = &delta.content {
                    d.with("content", |b| text.write(b));
                }
                if let Some(text) = &delta.reasoning_content {
                    d.with("reasoning_content", |b| text.write(b));
                }
                if !delta.tool_calls.is_empty() {
                    d.ser("tool_calls", &delta.tool_calls);
                }
                d.end();
                c.raw("logprobs", "null").opt_str("finish_reason", finish);
                c.end();
                b.push(b']');
            });
            if self.meta.include_usage {
                o.raw("usage", "null");
            }
        });
    }

    fn fail(&mut self, out: &mut Vec<u8>, message: &str, kind: &str, code: Option<&str>) {
        write_event(
            out,
            &ErrorEvent {
                error: ErrorBody {
                    message,
                    kind,
                    param: None,
                    code,
                },
            },
        );
        self.state = State::Failed;
    }

    /// The upstream body ended cleanly: finish chunks, usage chunk, `[DONE]` — or, if the
    /// stream was cut short (no finishReason) an error event instead. Idempotent.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state == State::Open {
            self.at_eof = true;
            pump(self, None, out);
        }
        if self.state != State::Open {
            self.state = State::Done;
            return;
        }
        self.state = State::Done;
        let truncated =
            self.choices.is_empty() || self.choices.values().any(|c| c.finish.is_none());
        if truncated {
            self.fail(out, TRUNCATED, "server_error", Some("stream_truncated"));
            self.state = State::Done;
            return;
        }
        let finishes: Vec<(u64, &'static str)> = self
            .choices
            .iter()
            .map(|(i, s)| {
                (
                    *i,
                    finish_reason(s.finish.as_deref().unwrap_or("STOP"), s.calls > 0),
                )
            })
            .collect();
        for (i, f) in finishes {
            self.chunk(out, i, Delta::default(), Some(f));
        }
        if self.meta.include_usage {
            let usage = self.usage.get().unwrap_or_default().to_openai();
            self.write_chunk(out, |o| {
                o.raw("choices", "[]").ser("usage", &usage);
            });
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// Token usage seen so far (last cumulative usageMetadata): (prompt, completion incl. thoughts).
    pub fn usage(&self) -> Option<(u64, u64)> {
        self.usage.get().map(|u| (u.prompt(), u.completion()))
    }
}

impl Events for ChatStream {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{chat_request, ConvertOptions};
    use serde_json::json;

    fn meta() -> ChatMeta {
        ChatMeta {
            id: "chatcmpl-s".into(),
            created: 1_700_000_000,
            model: "gemini-2.5-flash".into(),
            include_thoughts: false,
            include_usage: false,
            roo_line_count: true,
        }
    }

    /// The `data:` payloads of an OpenAI SSE body, parsed (`[DONE]` as a string).
    fn events(out: &[u8]) -> Vec<Value> {
        let s = std::str::from_utf8(out).unwrap();
        assert!(s.is_empty() || s.ends_with("\n\n"), "unterminated: {s:?}");
        s.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let d = e
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("bad event {e:?}"));
                if d == "[DONE]" {
                    Value::String("[DONE]".into())
                } else {
                    serde_json::from_str(d).unwrap()
                }
            })
            .collect()
    }

    fn run(meta: ChatMeta, input: &[u8]) -> (Vec<Value>, ChatStream) {
        let mut s = ChatStream::new(meta);
        let mut out = Vec::new();
        s.feed(input, &mut out);
        s.finish(&mut out);
        (events(&out), s)
    }

    fn sse(events: &[Value]) -> Vec<u8> {
        let mut v = Vec::new();
        for e in events {
            v.extend_from_slice(b"data: ");
            v.extend_from_slice(e.to_string().as_bytes());
            v.extend_from_slice(b"\r\n\r\n");
        }
        v
    }

    #[test]
    fn chunks_are_written_as_openai_spells_them() {
        let mut m = meta();
        m.include_usage = true;
        let mut s = ChatStream::new(m);
        let mut out = Vec::new();
        s.feed(
            &sse(&[
                json!({"candidates": [{"content": {"parts": [{"text": "Hi \"x\""}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1}}),
            ]),
            &mut out,
        );
        s.finish(&mut out);
        let head = r#"{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000000,"model":"gemini-2.5-flash","choices":"#;
        let want = [
            format!(
                r#"{head}[{{"index":0,"delta":{{"role":"assistant","content":""}},"logprobs":null,"finish_reason":null}}],"usage":null}}"#
            ),
            format!(
                r#"{head}[{{"index":0,"delta":{{"content":"Hi \"x\""}},"logprobs":null,"finish_reason":null}}],"usage":null}}"#
            ),
            format!(
                r#"{head}[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}],"usage":null}}"#
            ),
            format!(
                r#"{head}[],"usage":{{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3,"prompt_tokens_details":{{"cached_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0}}}}}}"#
            ),
            "[DONE]".to_string(),
        ];
        let got: Vec<String> = String::from_utf8(out)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap().to_string())
            .collect();
        assert_eq!(got, want);
    }

    fn text_event(t: &str, finish: Option<&str>) -> Value {
        let mut c = json!({"content": {"parts": [{"text": t}], "role": "model"}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        json!({"candidates": [c], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3,
            "totalTokenCount": 8}, "modelVersion": "gemini-2.5-flash", "responseId": "r"})
    }

    /// Concatenated `delta.content` of choice 0.
    fn content(evs: &[Value]) -> String {
        evs.iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect()
    }

    #[test]
    fn text_stream_shape() {
        let input = sse(&[text_event("Hel", None), text_event("lo", Some("STOP"))]);
        let (evs, s) = run(meta(), &input);
        assert_eq!(
            evs[0],
            json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
                "model": "gemini-2.5-flash",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})
        );
        assert_eq!(evs[1]["choices"][0]["delta"], json!({"content": "Hel"}));
        assert_eq!(evs[2]["choices"][0]["delta"], json!({"content": "lo"}));
        assert_eq!(
            evs[3]["choices"][0],
            json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"})
        );
        assert_eq!(evs[4], "[DONE]");
        assert_eq!(evs.len(), 5);
        for e in &evs[..4] {
            assert_eq!(e["id"], "chatcmpl-s");
            assert_eq!(e["created"], 1_700_000_000u64);
            assert_eq!(e["model"], "gemini-2.5-flash");
            assert!(e.get("usage").is_none());
        }
        assert_eq!(s.usage(), Some((5, 3)));
    }

    #[test]
    fn events_written_as_they_arrive() {
        let mut s = ChatStream::new(meta());
        let mut out = Vec::new();
        s.feed(&sse(&[text_event("A", None)]), &mut out);
        let evs = events(&out);
        assert_eq!(evs.len(), 2);
        assert_eq!(content(&evs), "A");
        out.clear();
        s.feed(
            b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"B\"}]}",
            &mut out,
        );
        assert!(out.is_empty(), "partial event must not produce output");
        s.feed(b"}]}\r\n\r\n", &mut out);
        assert_eq!(content(&events(&out)), "B");
    }

    #[test]
    fn lf_and_cr_framings() {
        for sep in ["\n\n", "\r\n\r\n", "\r\r"] {
            let mut input = Vec::new();
            for e in [text_event("x", None), text_event("y", Some("STOP"))] {
                input.extend_from_slice(format!("data: {e}{sep}").as_bytes());
            }
            let (evs, _) = run(meta(), &input);
            assert_eq!(content(&evs), "xy", "{sep:?}");
            assert_eq!(evs.last().unwrap(), "[DONE]");
        }
        // No space after the colon, comments and other fields ignored.
        let input = format!(
            ": keepalive\nevent: message\ndata:{}\n\n",
            text_event("z", Some("STOP"))
        );
        let (evs, _) = run(meta(), input.as_bytes());
        assert_eq!(content(&evs), "z");
    }

    #[test]
    fn split_at_every_byte() {
        let input = sse(&[
            text_event("héllo ", None),
            text_event("wörld 🌍", None),
            text_event("!", Some("STOP")),
        ]);
        let (whole, _) = run(meta(), &input);
        let mut s = ChatStream::new(meta());
        let mut out = Vec::new();
        for b in &input {
            s.feed(std::slice::from_ref(b), &mut out);
        }
        s.finish(&mut out);
        let evs = events(&out);
        assert_eq!(content(&evs), "héllo wörld 🌍!");
        assert_eq!(evs, whole);
    }

    #[test]
    fn split_at_each_position_in_two() {
        let input = sse(&[
            text_event("日本語", None),
            text_event("テキスト", Some("STOP")),
        ]);
        for cut in 0..=input.len() {
            let mut s = ChatStream::new(meta());
            let mut out = Vec::new();
            s.feed(&input[..cut], &mut out);
            s.feed(&input[cut..], &mut out);
            s.finish(&mut out);
            let evs = events(&out);
            assert_eq!(content(&evs), "日本語テキスト", "cut {cut}");
            assert_eq!(evs.last().unwrap(), "[DONE]");
        }
    }

    #[test]
    fn multibyte_split_inside_character() {
        let e = text_event("€", Some("STOP"));
        let input = sse(&[e]);
        let euro = input.windows(3).position(|w| w == "€".as_bytes()).unwrap();
        let mut s = ChatStream::new(meta());
        let mut out = Vec::new();
        s.feed(&input[..euro + 1], &mut out);
        s.feed(&input[euro + 1..euro + 2], &mut out);
        s.feed(&input[euro + 2..], &mut out);
        s.finish(&mut out);
        assert_eq!(content(&events(&out)), "€");
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let (evs, _) = run(meta(), &sse(&[text_event("partial", None)]));
        let last = evs.last().unwrap();
        assert_eq!(last["error"]["code"], "stream_truncated");
        assert_eq!(last["error"]["type"], "server_error");
        assert!(!evs.iter().any(|e| e == "[DONE]"));
        assert_eq!(content(&evs), "partial");
    }

    #[test]
    fn empty_stream_is_an_error() {
        let (evs, _) = run(meta(), b"");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0]["error"]["code"], "stream_truncated");
    }

    #[test]
    fn stream_cut_mid_event_is_an_error() {
        let input = sse(&[text_event("a", None), text_event("b", Some("STOP"))]);
        let cut = input.len() - 20;
        let (evs, _) = run(meta(), &input[..cut]);
        assert_eq!(evs.last().unwrap()["error"]["code"], "stream_truncated");
    }

    #[test]
    fn last_event_without_blank_line_is_accepted() {
        let input = format!("data: {}", text_event("end", Some("STOP")));
        let (evs, _) = run(meta(), input.as_bytes());
        assert_eq!(content(&evs), "end");
        assert_eq!(evs.last().unwrap(), "[DONE]");
    }

    #[test]
    fn upstream_error_event() {
        let mut input = sse(&[text_event("a", None)]);
        input.extend_from_slice(
            b"data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n",
        );
        input.extend_from_slice(&sse(&[text_event("ignored", Some("STOP"))]));
        let (evs, _) = run(meta(), &input);
        let last = evs.last().unwrap();
        assert_eq!(last["error"]["message"], "The model is overloaded.");
        assert_eq!(last["error"]["type"], "server_error");
        assert_eq!(last["error"]["code"], "unavailable");
        assert!(!evs.iter().any(|e| e == "[DONE]"));
        assert_eq!(content(&evs), "a");
    }

    #[test]
    fn real_mid_response_recording_ends_cleanly() {
        let Some(ex) = recording("TestA2ASingleHopFinalResponse_llm_mid-response_error.httprr")
        else {
            return;
        };
        let (evs, _) = run(meta(), &body_of(&ex[0].1));
        assert!(content(&evs).starts_with("I can help you with that!"));
        assert_eq!(evs.last().unwrap(), "[DONE]");
    }

    #[test]
    fn unreadable_event_is_an_error() {
        let (evs, _) = run(meta(), b"data: {not json\r\n\r\n");
        assert_eq!(evs.last().unwrap()["error"]["code"], "upstream_error");
    }

    #[test]
    fn blocked_prompt_in_stream() {
        let input = sse(&[json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}})]);
        let (evs, _) = run(meta(), &input);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0]["error"]["code"], "content_filter");
        assert!(evs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SAFETY"));
    }

    #[test]
    fn include_usage_final_chunk_with_reasoning_tokens() {
        let mut m = meta();
        m.include_usage = true;
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 29, "candidatesTokenCount": 1, "totalTokenCount": 60, "thoughtsTokenCount": 30}}),
            json!({"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 29, "candidatesTokenCount": 2, "totalTokenCount": 71,
                    "thoughtsTokenCount": 30, "cachedContentTokenCount": 16}}),
        ]);
        let (evs, s) = run(m, &input);
        let n = evs.len();
        assert_eq!(evs[n - 1], "[DONE]");
        let usage = &evs[n - 2];
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(
            usage["usage"],
            json!({"prompt_tokens": 29, "completion_tokens": 32, "total_tokens": 71,
                   "prompt_tokens_details": {"cached_tokens": 16},
                   "completion_tokens_details": {"reasoning_tokens": 30}})
        );
        for e in &evs[..n - 2] {
            assert!(e["usage"].is_null() && e.get("usage").is_some(), "{e}");
        }
        assert_eq!(evs[n - 3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(s.usage(), Some((29, 32)));
    }

    #[test]
    fn thoughts_stream_as_reasoning_content_when_asked() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "Let me think", "thought": true}]}, "index": 0}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "42"}]}, "finishReason": "STOP", "index": 0}]}),
        ]);
        let (evs, _) = run(meta(), &input);
        assert!(!evs
            .iter()
            .any(|e| e["choices"][0]["delta"].get("reasoning_content").is_some()));
        assert_eq!(content(&evs), "42");
        let mut m = meta();
        m.include_thoughts = true;
        let (evs, _) = run(m, &input);
        assert_eq!(
            evs[1]["choices"][0]["delta"],
            json!({"reasoning_content": "Let me think"})
        );
        assert_eq!(evs[2]["choices"][0]["delta"], json!({"content": "42"}));
    }

    #[test]
    fn empty_reply_still_has_role_and_finish() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}]}),
        ]);
        let (evs, _) = run(meta(), &input);
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(evs[1]["choices"][0]["finish_reason"], "stop");
        assert_eq!(evs[2], "[DONE]");
    }

    #[test]
    fn finish_reason_mapping_in_stream() {
        for (g, o) in [
            ("MAX_TOKENS", "length"),
            ("SAFETY", "content_filter"),
            ("MALFORMED_FUNCTION_CALL", "stop"),
        ] {
            let (evs, _) = run(meta(), &sse(&[text_event("x", Some(g))]));
            let n = evs.len();
            assert_eq!(evs[n - 2]["choices"][0]["finish_reason"], o, "{g}");
        }
    }

    #[test]
    fn n_candidates_become_choice_indexes() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "a0"}]}, "index": 0},
                                  {"content": {"parts": [{"text": "b0"}]}, "index": 1}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "a1"}]}, "finishReason": "STOP", "index": 0},
                                  {"content": {"parts": [{"text": "b1"}]}, "finishReason": "MAX_TOKENS", "index": 1}]}),
        ]);
        let (evs, _) = run(meta(), &input);
        let text = |i: u64| -> String {
            evs.iter()
                .filter(|e| e["choices"][0]["index"] == i)
                .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
                .collect()
        };
        assert_eq!(text(0), "a0a1");
        assert_eq!(text(1), "b0b1");
        let roles = evs
            .iter()
            .filter(|e| e["choices"][0]["delta"]["role"] == "assistant")
            .count();
        assert_eq!(roles, 2);
        let fin: Vec<_> = evs
            .iter()
            .filter(|e| !e["choices"][0]["finish_reason"].is_null())
            .map(|e| {
                (
                    e["choices"][0]["index"].clone(),
                    e["choices"][0]["finish_reason"].clone(),
                )
            })
            .collect();
        assert_eq!(
            fin,
            vec![(json!(0), json!("stop")), (json!(1), json!("length"))]
        );
    }

    #[test]
    fn n_candidates_truncated_if_one_unfinished() {
        let input = sse(&[json!({"candidates": [
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0},
            {"content": {"parts": [{"text": "b"}]}, "index": 1}]})]);
        let (evs, _) = run(meta(), &input);
        assert_eq!(evs.last().unwrap()["error"]["code"], "stream_truncated");
    }

    #[test]
    fn roo_line_count_in_stream() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "write_to_file",
            "args": {"path": "a", "content": "x\ny"}}}]}, "finishReason": "STOP", "index": 0}]}),
        ]);
        let (evs, _) = run(meta(), &input);
        let args: Value = serde_json::from_str(
            evs[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(args["line_count"], 2);
    }

    #[test]
    fn finish_is_idempotent_and_feed_after_finish_ignored() {
        let mut s = ChatStream::new(meta());
        let mut out = Vec::new();
        s.feed(&sse(&[text_event("a", Some("STOP"))]), &mut out);
        s.finish(&mut out);
        let len = out.len();
        s.finish(&mut out);
        s.feed(&sse(&[text_event("b", None)]), &mut out);
        assert_eq!(out.len(), len);
    }

    // ---- The real Gemini 3 parallel-function-call recording -------------------------------

    type Exchange = (Vec<u8>, Vec<u8>);

    /// Exchanges (request, response) of an httprr trace, or `None` (test skipped) if missing.
    fn recording(name: &str) -> Option<Vec<Exchange>> {
        let path = format!(
            "{}/../shared/fixtures/real-gemini/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(raw) = std::fs::read(&path) else {
            eprintln!("skipping: recording {path} not found");
            return None;
        };
        let mut rest = &raw[raw.iter().position(|&b| b == b'\n').unwrap() + 1..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let nl = rest.iter().position(|&b| b == b'\n').unwrap();
            let header = std::str::from_utf8(&rest[..nl]).unwrap();
            let (a, b) = header.split_once(' ').unwrap();
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            rest = &rest[nl + 1..];
            out.push((rest[..a].to_vec(), rest[a..a + b].to_vec()));
            rest = &rest[a + b..];
        }
        Some(out)
    }

    /// The body of a raw HTTP message.
    fn body_of(msg: &[u8]) -> Vec<u8> {
        let at = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        msg[at + 4..].to_vec()
    }

    #[test]
    fn gemini3_parallel_calls_round_trip() {
        let Some(ex) = recording(
            "TestParallelFunctionCalls_test_parallel_function_calls_gemini-3-flash-preview.httprr",
        ) else {
            return;
        };
        let upstream = body_of(&ex[0].1);
        let mut m = meta();
        m.model = "gemini-3-flash-preview".into();
        m.include_usage = true;

        // 1. Translate the real SSE answer, one byte at a time.
        let mut s = ChatStream::new(m.clone());
        let mut out = Vec::new();
        for b in &upstream {
            s.feed(std::slice::from_ref(b), &mut out);
        }
        s.finish(&mut out);
        let evs = events(&out);
        assert_eq!(evs.last().unwrap(), "[DONE]");

        // Accumulate tool calls the way the OpenAI SDKs do.
        let mut calls: Vec<Value> = Vec::new();
        let mut finish = None;
        for e in &evs {
            let Some(ch) = e["choices"].get(0) else {
                continue;
            };
            if let Some(f) = ch["finish_reason"].as_str() {
                finish = Some(f.to_string());
            }
            for d in ch["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let k = d["index"].as_u64().unwrap() as usize;
                if k == calls.len() {
                    assert!(d["id"].is_string(), "first delta of a call carries the id");
                    assert_eq!(d["type"], "function");
                    calls.push(json!({"id": d["id"], "type": "function",
                        "function": {"name": d["function"]["name"], "arguments": ""}}));
                    if let Some(x) = d.get("extra_content") {
                        calls[k]["extra_content"] = x.clone();
                    }
                } else {
                    assert!(d.get("id").is_none());
                }
                if let Some(a) = d["function"]["arguments"].as_str() {
                    let prev = calls[k]["function"]["arguments"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    calls[k]["function"]["arguments"] = json!(prev + a);
                }
            }
        }
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        assert_eq!(calls.len(), 3);
        let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["3ae8iwca", "up3kf30e", "ycroch25"]);
        let sig = calls[0]["extra_content"]["google"]["thought_signature"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(sig.starts_with("EukBCuYBAb4"));
        assert!(calls[1].get("extra_content").is_none());
        let args: Value =
            serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"a": 2, "b": 3}));
        // Usage: prompt 161, completion 48 + 45 thoughts.
        let usage = &evs[evs.len() - 2]["usage"];
        assert_eq!(usage["completion_tokens"], 93);
        assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 45);
        assert_eq!(s.usage(), Some((161, 93)));

        // 2. Feed the assistant message and tool results back through chat_request.
        let sums = [5, 9, 13];
        let mut messages = vec![
            json!({"role": "user", "content": "Can you add 2 and 3? Also 4 and 5? And 6 and 7?"}),
            json!({"role": "assistant", "content": null, "tool_calls": calls}),
        ];
        for (c, sum) in calls.iter().zip(sums) {
            messages.push(json!({"role": "tool", "tool_call_id": c["id"], "content": json!({"sum": sum}).to_string()}));
        }
        let req = json!({"model": "gemini-3-flash-preview", "messages": messages, "stream": true});
        let plan = chat_request(req.to_string().as_bytes(), &ConvertOptions::default()).unwrap();
        let body: Value = serde_json::from_slice(&plan.body).unwrap();

        // Compare with what adk-go sent in the recorded follow-up request.
        let recorded: Value = serde_json::from_slice(&body_of(&ex[1].0)).unwrap();
        assert_eq!(body["contents"][1], recorded["contents"][1]);
        assert_eq!(body["contents"][2], recorded["contents"][2]);
        let model_parts = body["contents"][1]["parts"].as_array().unwrap();
        assert_eq!(model_parts[0]["thoughtSignature"], json!(sig));
        assert_eq!(model_parts[0]["functionCall"]["id"], "3ae8iwca");
        assert!(model_parts[1].get("thoughtSignature").is_none());
        let responses = body["contents"][2]["parts"].as_array().unwrap();
        assert_eq!(responses.len(), 3);
        for (r, id) in responses.iter().zip(ids) {
            assert_eq!(r["functionResponse"]["id"], id);
            assert_eq!(r["functionResponse"]["name"], "sum");
        }
    }
}
