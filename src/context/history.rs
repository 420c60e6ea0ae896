//! The pure parts of conversation context: a conversation's turns with their token estimates,
//! fitting them into a window without splitting an exchange, and reading the model's reply out of
//! the Gemini bytes that passed (one JSON answer, an SSE stream, or a JSON-array stream).

use crate::pipeline::route::Framing;
use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::Value;

/// One stored turn: a Gemini `content` as JSON text (spliced into request bodies as it is, never
/// re-serialised), its estimated tokens, and whether an exchange starts at it.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    raw: Bytes,
    pub tokens: u64,
    /// The turn's number within its conversation (0 until it is committed).
    pub seq: u64,
    /// A user turn that is a person speaking (not only function results): where history may be cut.
    opens: bool,
    /// A model turn.
    model: bool,
    /// The stored response this model turn answered (the Responses API's `store`).
    pub response: Option<Box<str>>,
    /// The turn this one follows, when it is not the one before it (0: none; stored responses).
    pub follows: Option<u64>,
}

/// What [`Turn`] needs to know of a content's JSON.
#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    parts: Vec<PartProbe>,
}

#[derive(serde::Deserialize)]
struct PartProbe {
    #[serde(default, rename = "functionResponse")]
    function_response: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    thought: Option<bool>,
}

impl Turn {
    pub fn new(content: Value) -> Turn {
        let raw = Bytes::from(serde_json::to_vec(&content).unwrap_or_else(|_| b"{}".to_vec()));
        Turn::from_raw(raw, None)
    }

    /// A turn from its JSON text (as stored), with its stored estimate if there is one.
    pub fn from_raw(raw: Bytes, tokens: Option<u64>) -> Turn {
        let probe = serde_json::from_slice::<Probe>(&raw).ok();
        let role = probe
            .as_ref()
            .and_then(|p| p.role.as_deref())
            .unwrap_or("user");
        let opens = probe.as_ref().is_some_and(|p| {
            role == "user" && !p.parts.iter().all(|x| x.function_response.is_some())
        });
        let model = role == "model";
        let tokens = tokens.unwrap_or_else(|| estimate(&raw));
        Turn {
            raw,
            tokens,
            seq: 0,
            opens,
            model,
            response: None,
            follows: None,
        }
    }

    /// A request's own turn, as it will be stored: its JSON text as sent, unless it carries thought
    /// parts (never stored), which are dropped.
    pub fn own(raw: &str) -> Turn {
        let thinks = serde_json::from_str::<Probe>(raw)
            .is_ok_and(|p| p.parts.iter().any(|x| x.thought == Some(true)));
        match serde_json::from_str::<Value>(raw) {
            Ok(v) if thinks => Turn::new(without_thoughts(v)),
            _ => Turn::from_raw(Bytes::copy_from_slice(raw.as_bytes()), None),
        }
    }

    /// The content's JSON text.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The content, parsed.
    pub fn content(&self) -> Value {
        serde_json::from_slice(&self.raw).unwrap_or(Value::Null)
    }

    fn opens_exchange(&self) -> bool {
        self.opens
    }

    /// Whether this is a model turn.
    pub fn is_model(&self) -> bool {
        self.model
    }
}

/// The estimated tokens of one content's JSON text (text by length, media by Gemini's per-item
/// cost).
pub fn estimate(raw: &[u8]) -> u64 {
    let mut body = Vec::with_capacity(raw.len() + 16);
    body.extend_from_slice(b"{\"contents\":[");
    body.extend_from_slice(raw);
    body.extend_from_slice(b"]}");
    crate::upstream::estimate::validate_and_estimate(&body).unwrap_or(0)
}

/// The top-level members of a JSON object, their values left as JSON text.
pub type Members = std::collections::BTreeMap<String, Box<RawValue>>;

/// A Gemini request object: `contents` = `history` then `own` (both copied as JSON text, never
/// re-serialised), then the other `members` as they were.
pub fn splice(members: &Members, history: &[Turn], own: &[&RawValue]) -> Vec<u8> {
    let size: usize = history.iter().map(|t| t.raw.len() + 1).sum::<usize>()
        + own.iter().map(|r| r.get().len() + 1).sum::<usize>()
        + members
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum::<usize>();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(b"{\"contents\":[");
    let pieces = history
        .iter()
        .map(|t| &t.raw[..])
        .chain(own.iter().map(|r| r.get().as_bytes()));
    for (i, p) in pieces.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(p);
    }
    out.push(b']');
    for (k, v) in members {
        out.push(b',');
        // A key is a JSON string: written escaped (writing to a Vec cannot fail).
        let _ = serde_json::to_writer(&mut out, k);
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
    out.push(b'}');
    out
}

/// Whether a request's contents carry history of their own (a model turn).
pub fn has_model_turn(turns: &[Turn]) -> bool {
    turns.iter().any(|t| t.model)
}

/// Stored history as `model` takes it. Gemini 3 refuses a model turn whose first function call
/// has no thought signature (history another model wrote): such a call gets Google's placeholder,
/// as the translators give a client's own history. Borrowed when nothing needs it.
pub fn for_model<'t>(model: &str, turns: &'t [Turn]) -> std::borrow::Cow<'t, [Turn]> {
    use crate::convert::thinking::{family, Family, DUMMY_SIGNATURE};
    if family(model) != Family::Level {
        return std::borrow::Cow::Borrowed(turns);
    }
    let sign = |t: &Turn| -> Option<Turn> {
        if !t.model || memchr::memmem::find(&t.raw, b"\"functionCall\"").is_none() {
            return None;
        }
        let mut content: Value = serde_json::from_slice(&t.raw).ok()?;
        let part = content
            .get_mut("parts")?
            .as_array_mut()?
            .iter_mut()
            .find(|p| p.get("functionCall").is_some())?
            .as_object_mut()?;
        if part.contains_key("thoughtSignature") {
            return None;
        }
        part.insert("thoughtSignature".into(), Value::from(DUMMY_SIGNATURE));
        let raw = Bytes::from(serde_json::to_vec(&content).ok()?);
        let mut signed = Turn::from_raw(raw, Some(t.tokens));
        signed.seq = t.seq;
        Some(signed)
    };
    // Copied only from the first turn that changes.
    let mut out: Option<Vec<Turn>> = None;
    for (i, t) in turns.iter().enumerate() {
        match (sign(t), &mut out) {
            (Some(signed), out) => out.get_or_insert_with(|| turns[..i].to_vec()).push(signed),
            (None, Some(out)) => out.push(t.clone()),
            (None, None) => {}
        }
    }
    out.map_or(std::borrow::Cow::Borrowed(turns), std::borrow::Cow::Owned)
}

/// Drop thought parts (the model's thinking is never stored; signatures on other parts are).
pub fn without_thoughts(mut content: Value) -> Value {
    if let Some(ps) = content.get_mut("parts").and_then(Value::as_array_mut) {
        ps.retain(|p| p.get("thought").and_then(Value::as_bool) != Some(true));
    }
    content
}

/// The newest part of `turns` that fits in `budget` tokens, cut only where an exchange starts (a
/// person's user turn), so a function call is never separated from its response and the history
/// never starts with a model turn or an orphan function response. May be empty.
pub fn fit(turns: &[Turn], budget: u64) -> &[Turn] {
    let mut total: u64 = turns.iter().map(|t| t.tokens).sum();
    let mut start = 0;
    // Skip to the first opening turn (a stored history always starts with one; be safe).
    while start < turns.len() && !turns[start].opens_exchange() {
        total -= turns[start].tokens;
        start += 1;
    }
    while total > budget && start < turns.len() {
        // Drop the oldest exchange: the opening turn and everything up to the next opening turn.
        total -= turns[start].tokens;
        start += 1;
        while start < turns.len() && !turns[start].opens_exchange() {
            total -= turns[start].tokens;
            start += 1;
        }
    }
    &turns[start..]
}

/// One answer (or stream event), read only as far as the reply needs: the first candidate's parts
/// left as JSON text, and whether it finished.
#[derive(serde::Deserialize)]
struct AnswerProbe<'a> {
    #[serde(default, borrow)]
    candidates: Option<Vec<CandidateProbe<'a>>>,
}

#[derive(serde::Deserialize)]
struct CandidateProbe<'a> {
    #[serde(default, borrow)]
    content: Option<PartsProbe<'a>>,
    /// Present and not null when the answer finished.
    #[serde(default, rename = "finishReason")]
    finish_reason: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct PartsProbe<'a> {
    #[serde(default, borrow)]
    parts: Vec<&'a RawValue>,
}

/// What merging needs of one part: its text and signature when it is nothing else.
#[derive(Default)]
struct PartKind {
    text: Option<String>,
    signature: Option<String>,
    thought: Option<bool>,
    /// A key other than `text` and `thoughtSignature`.
    other: bool,
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum PartKey {
    Text,
    Thought,
    ThoughtSignature,
    #[serde(other)]
    Other,
}

impl<'de> serde::Deserialize<'de> for PartKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PartKind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a part")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<PartKind, A::Error> {
                let mut k = PartKind::default();
                while let Some(key) = m.next_key::<PartKey>()? {
                    match key {
                        PartKey::Text => k.text = m.next_value()?,
                        PartKey::ThoughtSignature => k.signature = m.next_value()?,
                        PartKey::Thought => {
                            k.thought = m.next_value()?;
                            k.other = true;
                        }
                        PartKey::Other => {
                            m.next_value::<serde::de::IgnoredAny>()?;
                            k.other = true;
                        }
                    }
                }
                Ok(k)
            }
        }
        d.deserialize_map(V)
    }
}

/// One part of the reply as it will be stored.
#[derive(Debug)]
enum ReplyPart {
    /// Text (a stream's pieces joined), with the signature a piece carried.
    Text {
        text: String,
        signature: Option<String>,
    },
    /// Any other part, as Gemini wrote it.
    Raw(String),
}

/// What a successful answer's bytes say: the model's turn, if it finished.
#[derive(Debug, Default)]
struct Reply {
    parts: Vec<ReplyPart>,
    finished: bool,
}

impl Reply {
    /// Take one `GenerateContentResponse`; `None` when it is not one.
    fn add(&mut self, answer: &str) -> Option<()> {
        let probe: AnswerProbe<'_> = serde_json::from_str(answer).ok()?;
        let Some(cand) = probe.candidates.and_then(|c| c.into_iter().next()) else {
            return Some(());
        };
        if cand.finish_reason.is_some() {
            self.finished = true;
        }
        for raw in cand.content.map(|c| c.parts).unwrap_or_default() {
            let kind: PartKind = serde_json::from_str(raw.get()).ok()?;
            if kind.thought == Some(true) {
                continue;
            }
            match kind {
                PartKind {
                    text: Some(t),
                    signature,
                    other: false,
                    ..
                } => self.push_text(t, signature),
                _ => self.parts.push(ReplyPart::Raw(raw.get().to_owned())),
            }
        }
        Some(())
    }

    /// Add a text part, merging consecutive text pieces of a stream into one part (keeping the
    /// signature a piece carries).
    fn push_text(&mut self, add: String, sig: Option<String>) {
        if let Some(ReplyPart::Text { text, signature }) = self.parts.last_mut() {
            text.push_str(&add);
            if sig.is_some() {
                *signature = sig;
            }
            return;
        }
        self.parts.push(ReplyPart::Text {
            text: add,
            signature: sig,
        });
    }

    /// The model's turn as JSON text.
    fn write(&self) -> Vec<u8> {
        let size: usize = self
            .parts
            .iter()
            .map(|p| match p {
                ReplyPart::Text { text, signature } => {
                    text.len() + signature.as_ref().map_or(0, String::len) + 40
                }
                ReplyPart::Raw(r) => r.len() + 1,
            })
            .sum();
        let mut out = Vec::with_capacity(size + 32);
        out.extend_from_slice(br#"{"role":"model","parts":["#);
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match p {
                ReplyPart::Raw(r) => out.extend_from_slice(r.as_bytes()),
                ReplyPart::Text { text, signature } => {
                    // Writing strings to a Vec cannot fail.
                    out.extend_from_slice(br#"{"text":"#);
                    let _ = serde_json::to_writer(&mut out, text);
                    if let Some(s) = signature {
                        out.extend_from_slice(br#","thoughtSignature":"#);
                        let _ = serde_json::to_writer(&mut out, s);
                    }
                    out.push(b'}');
                }
            }
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// The model's turn (a Gemini `content` as JSON text) in the Gemini answer `bytes` (framed as
/// `framing`): `None` when the answer did not finish (no finish reason), holds no candidate, or
/// cannot be read. Thought parts are left out; a stream's text pieces are joined.
pub fn reply_turn(bytes: &[u8], framing: Framing) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut reply = Reply::default();
    match framing {
        Framing::Json => reply.add(text)?,
        Framing::JsonArray => {
            for a in serde_json::from_str::<Vec<&RawValue>>(text).ok()? {
                reply.add(a.get())?;
            }
        }
        Framing::Sse => {
            for line in text.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    // An event that is not an answer is passed over.
                    let _ = reply.add(data.trim());
                }
            }
        }
    }
    (reply.finished && !reply.parts.is_empty()).then(|| reply.write())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(t: &str) -> Turn {
        Turn::new(json!({"role": "user", "parts": [{"text": t}]}))
    }
    fn model(t: &str) -> Turn {
        Turn::new(json!({"role": "model", "parts": [{"text": t}]}))
    }
    fn call() -> Turn {
        Turn::new(
            json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "sig"}]}),
        )
    }
    fn result() -> Turn {
        Turn::new(
            json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"x": 1}}}]}),
        )
    }

    #[test]
    fn fit_drops_oldest_exchanges_whole() {
        let long = "x".repeat(400); // ~100 tokens
        let turns = vec![
            user(&long),
            call(),
            result(),
            model(&long),
            user("second"),
            model("ok"),
        ];
        let all: u64 = turns.iter().map(|t| t.tokens).sum();
        assert_eq!(fit(&turns, all).len(), 6);
        // Not enough for the first exchange: it goes whole, call and result with it.
        let kept = fit(&turns, all - 1);
        assert_eq!(kept, &turns[4..]);
        assert_eq!(fit(&turns, 0).len(), 0);
        // A history that starts with a model turn or an orphan response is cut to an opening turn.
        let odd = vec![result(), model("a"), user("b"), model("c")];
        assert_eq!(fit(&odd, u64::MAX), &odd[2..]);
    }

    #[test]
    fn replies_from_each_framing() {
        let json = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"thinking","thought":true},{"text":"Hello"}]},"finishReason":"STOP"}]}"#;
        let turn =
            |b: &[u8], f| serde_json::from_slice::<Value>(&reply_turn(b, f).unwrap()).unwrap();
        assert_eq!(
            turn(json, Framing::Json),
            json!({"role":"model","parts":[{"text":"Hello"}]})
        );
        let sse = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}]}\r\n\r\ndata: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lo\",\"thoughtSignature\":\"s1\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n";
        assert_eq!(
            turn(sse.as_bytes(), Framing::Sse),
            json!({"role":"model","parts":[{"text":"Hello","thoughtSignature":"s1"}]})
        );
        let arr = br#"[{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"s"}]}}]}
,{"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}]}]"#;
        assert_eq!(
            turn(arr, Framing::JsonArray),
            json!({"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"s"}]})
        );
        // Escaped text joined as text; a part with other keys is kept whole and ends the run.
        let sse = concat!(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"He said \\\"h\"}]}}]}\n\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"i\\\"\\u00e9\\n\"},",
            "{\"text\":\"x\",\"thought\":false},{\"text\":\"y\"}]},\"finishReason\":\"STOP\"}]}\n\n"
        );
        assert_eq!(
            turn(sse.as_bytes(), Framing::Sse),
            json!({"role":"model","parts":[{"text":"He said \"hi\"é\n"},{"text":"x","thought":false},{"text":"y"}]})
        );
        // No finish reason (a cut stream): nothing.
        let cut = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}]}\r\n\r\n";
        assert!(reply_turn(cut.as_bytes(), Framing::Sse).is_none());
        assert!(reply_turn(b"{not json", Framing::Json).is_none());
    }

    #[test]
    fn gemini3_gets_a_placeholder_where_history_has_no_signature() {
        let unsigned = Turn::new(json!({"role": "model", "parts": [
            {"text": "let me see"},
            {"functionCall": {"name": "f", "args": {}}},
            {"functionCall": {"name": "g", "args": {}}}
        ]}));
        let turns = vec![user("q"), unsigned, call(), result()];
        let out = for_model("gemini-3-flash-preview", &turns);
        assert_eq!(
            out[1].content()["parts"][1]["thoughtSignature"],
            crate::convert::thinking::DUMMY_SIGNATURE
        );
        assert!(
            out[1].content()["parts"][2]
                .get("thoughtSignature")
                .is_none(),
            "the first call only"
        );
        assert_eq!(out[2], turns[2], "a signed call is left as it is");
        assert_eq!(out[0], turns[0]);
        let fine = vec![user("q"), call(), result()];
        assert!(matches!(
            for_model("gemini-3-pro-preview", &fine),
            std::borrow::Cow::Borrowed(_)
        ));
        // Other models take history as it is.
        assert!(matches!(
            for_model("gemini-2.5-flash", &turns),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn splice_puts_history_first_and_keeps_the_rest() {
        let h = vec![user("a"), model("b")];
        let body: Members =
            serde_json::from_str(r#"{"generationConfig": {"temperature": 0.5}}"#).unwrap();
        let c =
            RawValue::from_string(r#"{"role": "user", "parts": [{"text": "c"}]}"#.into()).unwrap();
        let out = splice(&body, &h, &[&c]);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["contents"].as_array().unwrap().len(), 3);
        assert_eq!(v["contents"][1]["parts"][0]["text"], "b");
        assert_eq!(v["generationConfig"]["temperature"], 0.5);
        let v: Value = serde_json::from_slice(&splice(&Members::new(), &[], &[])).unwrap();
        assert_eq!(v, json!({"contents": []}));
        assert_eq!(
            user("x").content(),
            json!({"role": "user", "parts": [{"text": "x"}]})
        );
    }

    #[test]
    fn own_history_and_thoughts() {
        assert!(!has_model_turn(&[Turn::new(
            json!({"role":"user","parts":[]})
        )]));
        assert!(has_model_turn(&[
            Turn::new(json!({"role":"user","parts":[]})),
            Turn::new(json!({"role":"model","parts":[]}))
        ]));
        // A request's own turn keeps its text as sent, unless it carries thoughts.
        let plain = r#"{"role":"model","parts":[{"text":"a"}]}"#;
        assert_eq!(Turn::own(plain).raw(), plain.as_bytes());
        assert_eq!(
            Turn::own(r#"{"role":"model","parts":[{"text":"t","thought":true},{"text":"a"}]}"#)
                .content(),
            json!({"role":"model","parts":[{"text":"a"}]})
        );
        assert_eq!(
            without_thoughts(
                json!({"role":"model","parts":[{"text":"t","thought":true},{"text":"a"}]})
            ),
            json!({"role":"model","parts":[{"text":"a"}]})
        );
    }
}
