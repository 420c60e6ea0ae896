//! Reading one Gemini stream event, the hot path of every translated stream. The common shape —
//! one candidate whose parts are text, thoughts and thought signatures — is read by a small
//! scanner that checks the JSON as it goes and copies nothing but the text; anything else (function
//! calls, images, errors, blocked prompts, other spellings, repeated keys, whatever the scanner does
//! not expect) is read by `serde_json`, so the result is always what `serde_json` would read.
//!
//! Every event's `usageMetadata` is cumulative: it is kept as the JSON it came as ([`RawJson`]) and
//! read once, when the stream needs it ([`StreamUsage`]).

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::gemini::{Candidate, Content, GenerateResponse, Part, UsageMetadata};
use super::json_text::JsonText;

/// One stream event.
pub(crate) type StreamEvent<'a> = GenerateResponse<RawJson<'a>>;

/// A JSON value kept as the text it came as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawJson<'a>(&'a str);

impl<'de: 'a, 'a> Deserialize<'de> for RawJson<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&RawValue>::deserialize(d).map(|r| RawJson(r.get()))
    }
}

/// The usage of a stream: only the last `usageMetadata` counts, read when asked for.
#[derive(Debug, Default)]
pub(crate) struct StreamUsage {
    raw: String,
}

impl StreamUsage {
    /// An event's `usageMetadata`, if it had one.
    pub fn note(&mut self, raw: Option<RawJson<'_>>) {
        if let Some(RawJson(r)) = raw {
            self.raw.clear();
            self.raw.push_str(r);
        }
    }

    /// The last usage noted (`None` without one, or if it cannot be read).
    pub fn get(&self) -> Option<UsageMetadata> {
        match self.raw.is_empty() {
            true => None,
            false => serde_json::from_str(&self.raw).ok().flatten(),
        }
    }
}

/// Read one event's data (trimmed).
pub(crate) fn read_event(data: &[u8]) -> Result<StreamEvent<'_>, serde_json::Error> {
    let s = std::str::from_utf8(data).map_err(serde::de::Error::custom)?;
    match common(s) {
        Some(event) => Ok(event),
        None => serde_json::from_str(s),
    }
}

/// The common shape, or `None` for `serde_json` to read.
fn common(s: &str) -> Option<StreamEvent<'_>> {
    let mut r = Scan { s, i: 0 };
    let mut candidates = None;
    let mut usage = None;
    r.object(|r, key| match key {
        b"candidates" if candidates.is_none() => {
            candidates = Some(r.candidates()?);
            Some(())
        }
        b"usageMetadata" if usage.is_none() => {
            usage = Some(r.raw()?);
            Some(())
        }
        // Repeats, other spellings, errors and blocked prompts: serde_json's.
        b"candidates" | b"usageMetadata" | b"usage_metadata" | b"promptFeedback"
        | b"prompt_feedback" | b"error" => None,
        _ => r.skip(0),
    })?;
    r.ws_to_end()?;
    Some(GenerateResponse {
        candidates,
        prompt_feedback: None,
        // `null` reads as no usage, as serde_json reads it.
        usage_metadata: usage.filter(|u| *u != "null").map(RawJson),
        error: None,
    })
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of the first byte of `v` (in memory order) that is `"`, `\` or a control character
/// is set; bytes after it may be flagged falsely, so only the lowest flag counts.
#[inline(always)]
fn specials(v: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    zero(v ^ (ONES * u64::from(b'"'))) | zero(v ^ (ONES * u64::from(b'\\'))) | zero_below(v)
}

/// Bytes below 0x20.
#[inline(always)]
fn zero_below(v: u64) -> u64 {
    v.wrapping_sub(ONES * 0x20) & !v & HIGHS
}

/// Deeper nesting than this is left to serde_json (and its recursion limit).
const MAX_DEPTH: u32 = 64;

/// A cursor over the event; every step returns `None` when the input is not what it expects.
struct Scan<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// Skip whitespace; the next byte.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        loop {
            let c = *self.bytes().get(self.i)?;
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.i += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn ws_to_end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// A string: its literal, quotes included, and whether it has escapes. Escapes are checked;
    /// `\u` escapes of surrogates (which must pair up) are left to serde_json.
    #[inline(always)]
    fn string(&mut self) -> Option<(&'a str, bool)> {
        self.eat(b'"')?;
        let start = self.i - 1;
        let b = self.bytes();
        let mut escaped = false;
        loop {
            while let Some(chunk) = b.get(self.i..self.i + 8) {
                let flags = specials(u64::from_le_bytes(chunk.try_into().ok()?));
                if flags != 0 {
                    self.i += (flags.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            match *b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some((self.s.get(start..self.i)?, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
    }

    /// The escape at the cursor.
    fn escape(&mut self) -> Option<()> {
        match *self.bytes().get(self.i + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
            b'u' => {
                let hex = self.bytes().get(self.i + 2..self.i + 6)?;
                let surrogate = matches!(hex[0], b'd' | b'D')
                    && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F');
                if surrogate || !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                self.i += 6;
            }
            _ => return None,
        }
        Some(())
    }

    /// A string with no escapes, as text.
    fn plain_string(&mut self) -> Option<&'a str> {
        let (lit, escaped) = self.string()?;
        (!escaped).then(|| &lit[1..lit.len() - 1])
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes()[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.bytes().get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    /// A number as JSON spells it.
    fn number(&mut self) -> Option<()> {
        if self.bytes().get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.bytes().get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => _ = self.digits(),
            _ => return None,
        }
        if self.bytes().get(self.i) == Some(&b'.') {
            self.i += 1;
            (self.digits() > 0).then_some(())?;
        }
        if matches!(self.bytes().get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.bytes().get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    /// A small non-negative integer (anything else is serde_json's to read).
    fn index(&mut self) -> Option<u64> {
        self.peek()?;
        let start = self.i;
        let n = self.digits();
        if n == 0 || n > 18 || (n > 1 && self.bytes()[start] == b'0') {
            return None;
        }
        if matches!(self.bytes().get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.s[start..self.i].parse().ok()
    }

    /// Any value, checked and passed over.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|r, _| r.skip(depth + 1)),
            b'[' => self.array(|r| r.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Any value, as its text.
    fn raw(&mut self) -> Option<&'a str> {
        self.peek()?;
        let start = self.i;
        self.skip(0)?;
        self.s.get(start..self.i)
    }

    /// The `open` of a container; whether it has elements (an immediate `close` is read too).
    #[inline(always)]
    fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        let empty = self.peek()? == close;
        self.i += usize::from(empty);
        Some(!empty)
    }

    /// After an element: whether another follows (`,`) or the container ends (`close`).
    #[inline(always)]
    fn more(&mut self, close: u8) -> Option<bool> {
        let c = self.peek()?;
        (c == b',' || c == close).then(|| self.i += 1)?;
        Some(c == b',')
    }

    /// An object: `field` is called with each key, before its value.
    #[inline]
    fn object(&mut self, mut field: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        let mut more = self.open(b'{', b'}')?;
        while more {
            let (key, escaped) = self.string()?;
            if escaped {
                return None; // the key is what it means unescaped: serde_json's to read
            }
            self.eat(b':')?;
            field(self, &key.as_bytes()[1..key.len() - 1])?;
            more = self.more(b'}')?;
        }
        Some(())
    }

    /// An array: `item` reads each element.
    #[inline]
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        let mut more = self.open(b'[', b']')?;
        while more {
            item(self)?;
            more = self.more(b']')?;
        }
        Some(())
    }

    /// `candidates`: exactly one.
    fn candidates(&mut self) -> Option<Vec<Candidate>> {
        let mut list = Vec::with_capacity(1);
        self.array(|r| {
            if !list.is_empty() {
                return None;
            }
            list.push(r.candidate()?);
            Some(())
        })?;
        (list.len() == 1).then_some(list)
    }

    fn candidate(&mut self) -> Option<Candidate> {
        let mut c = Candidate::default();
        let (mut content, mut finish, mut index) = (false, false, false);
        self.object(|r, key| match key {
            b"content" if !content => {
                content = true;
                c.content = Some(r.content()?);
                Some(())
            }
            b"finishReason" if !finish => {
                finish = true;
                c.finish_reason = Some(r.plain_string()?.to_string());
                Some(())
            }
            b"index" if !index => {
                index = true;
                c.index = Some(r.index()?);
                Some(())
            }
            b"content" | b"finishReason" | b"finish_reason" | b"index" => None,
            _ => r.skip(1),
        })?;
        Some(c)
    }

    fn content(&mut self) -> Option<Content> {
        let mut parts = None;
        self.object(|r, key| match key {
            b"parts" if parts.is_none() => {
                // Stream events have one part, as a rule.
                let mut list = Vec::with_capacity(1);
                r.array(|r| {
                    list.push(r.part()?);
                    Some(())
                })?;
                parts = Some(list);
                Some(())
            }
            b"parts" => None,
            _ => r.skip(2),
        })?;
        Some(Content { parts })
    }

    /// A part of text, a thought, or a thought signature; other kinds are serde_json's.
    fn part(&mut self) -> Option<Part> {
        let mut p = Part::default();
        self.object(|r, key| match key {
            b"text" if p.text.is_none() => {
                p.text = Some(JsonText::from_checked_literal(r.string()?.0));
                Some(())
            }
            b"thought" if p.thought.is_none() => {
                p.thought = Some(match r.peek()? {
                    b't' => r.literal(b"true").map(|_| true)?,
                    b'f' => r.literal(b"false").map(|_| false)?,
                    _ => return None,
                });
                Some(())
            }
            b"thoughtSignature" if p.thought_signature.is_none() => {
                p.thought_signature = Some(r.plain_string()?.to_string());
                Some(())
            }
            b"text"
            | b"thought"
            | b"thoughtSignature"
            | b"thought_signature"
            | b"functionCall"
            | b"function_call"
            | b"inlineData"
            | b"inline_data"
            | b"executableCode"
            | b"executable_code"
            | b"codeExecutionResult"
            | b"code_execution_result" => None,
            _ => r.skip(3),
        })?;
        Some(p)
    }
}

#[cfg(test)]
mod tests;
