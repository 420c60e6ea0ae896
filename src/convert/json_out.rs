//! A small JSON object writer for the translating surfaces' answers and stream events: keys are
//! the surface's own constants and are written as they are (no escaping pass), strings that need
//! no escaping are copied in one go, and anything else goes through `serde_json`.

use serde::Serialize;

/// An object being written into `out`; [`Obj::end`] closes it.
pub(crate) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Open an object.
    #[inline(always)]
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Go on with an object whose `{` and first fields the caller has written.
    #[inline(always)]
    pub fn resume(out: &'a mut Vec<u8>) -> Self {
        Obj { out, empty: false }
    }

    /// `"key":`. Keys are constants of this crate: plain ASCII with nothing to escape.
    // Inlined, so that the constant keys are copied as constants (no call to memcpy).
    #[inline(always)]
    fn key(&mut self, key: &'static str) {
        debug_assert!(!needs_escape(key.as_bytes()), "key {key:?}");
        self.comma();
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// Fields written as JSON already (`"a":1,"b":2`, no braces).
    pub fn fields(&mut self, json: &str) -> &mut Self {
        if !json.is_empty() {
            self.comma();
            self.out.extend_from_slice(json.as_bytes());
        }
        self
    }

    /// The `,` before a field that is not the first.
    #[inline(always)]
    fn comma(&mut self) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
    }

    /// A string value, escaped as JSON requires.
    #[inline(always)]
    pub fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.key(key);
        string(self.out, value);
        self
    }

    /// A string value or `null`.
    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// A value that is JSON already (a literal, or text kept as the JSON it came as).
    #[inline(always)]
    pub fn raw(&mut self, key: &'static str, json: &str) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    #[inline(always)]
    pub fn u64(&mut self, key: &'static str, value: u64) -> &mut Self {
        self.key(key);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    pub fn opt_u64(&mut self, key: &'static str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.u64(key, v),
            None => self.raw(key, "null"),
        }
    }

    #[inline(always)]
    pub fn bool(&mut self, key: &'static str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// Any other value, written by `serde_json`.
    pub fn ser<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> &mut Self {
        self.key(key);
        // Writing into a Vec cannot fail, and the values written here always serialise.
        let _ = serde_json::to_writer(&mut *self.out, value);
        self
    }

    /// A nested object under `key`; close it with [`Obj::end`] before writing on here.
    #[inline(always)]
    pub fn obj(&mut self, key: &'static str) -> Obj<'_> {
        self.key(key);
        Obj::new(self.out)
    }

    /// A value the caller writes under `key` (an array, say) straight into the buffer.
    #[inline(always)]
    pub fn with(&mut self, key: &'static str, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.key(key);
        write(self.out);
        self
    }

    #[inline(always)]
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// A JSON array of `items`, each written by `write`.
pub(crate) fn array<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

/// Fields written once to be repeated in several objects ([`Obj::fields`]): `"a":1,"b":2`,
/// without braces.
pub(crate) fn fields_of(write: impl FnOnce(&mut Obj<'_>)) -> String {
    let mut out = Vec::with_capacity(128);
    let mut o = Obj::new(&mut out);
    write(&mut o);
    out.remove(0);
    // Only valid UTF-8 is ever written.
    String::from_utf8(out).unwrap_or_default()
}

/// One server-sent event, `event: <kind>` with `data: {"type":"<kind>",…}` whose further fields
/// `fields` writes: the event shape of the Responses and Anthropic streams.
pub(crate) fn sse_event(out: &mut Vec<u8>, kind: &str, fields: impl FnOnce(&mut Obj<'_>)) {
    debug_assert!(!needs_escape(kind.as_bytes()));
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'"');
    let mut o = Obj::resume(out);
    fields(&mut o);
    o.end();
    out.extend_from_slice(b"\n\n");
}

/// Whether a string needs JSON escaping: a control character, `"` or `\`. Eight bytes at a time.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero → its high bit in the result (the classic has-zero-byte test; bytes
    // of 0x80 and above never report, so UTF-8 passes through).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if control | zero(x ^ (ONES * b'"' as u64)) | zero(x ^ (ONES * b'\\' as u64)) != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// A JSON string literal for `s`.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // serde_json's escaping, for the rare string that needs it.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn objects_nest_and_strings_escape_only_when_needed() {
        let mut out = Vec::new();
        let mut o = Obj::new(&mut out);
        o.str("a", "plain")
            .u64("n", 42)
            .bool("t", true)
            .opt_u64("none", None);
        o.fields("").fields(&fields_of(|f| {
            f.u64("f", 1).raw("g", "[]");
        }));
        let mut inner = o.obj("inner");
        inner.opt_str("s", Some("x")).raw("r", "[1]");
        inner.end();
        o.ser("v", &json!({"k": [null]}))
            .with("list", |b| b.extend_from_slice(b"[]"))
            .with("nums", |b| {
                array(b, &[1u64, 2], |n, b| b.push(b'0' + *n as u8))
            });
        o.end();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!({"a": "plain", "n": 42, "t": true, "none": null, "f": 1, "g": [],
                   "inner": {"s": "x", "r": [1]}, "v": {"k": [null]}, "list": [], "nums": [1, 2]})
        );
    }

    #[test]
    fn every_string_round_trips() {
        let mut samples: Vec<String> = (0u8..=0x7f).map(|b| (b as char).to_string()).collect();
        samples.extend(
            [
                "",
                "ordinary text of some length, no escapes at all",
                "quote \" in the second chunk",
                "back\\slash",
                "tab\tand newline\n",
                "café — 日本語 🚀 and \u{7f} del",
                "12345678\u{1}",
                "1234567\"",
            ]
            .map(String::from),
        );
        for s in samples {
            let mut out = Vec::new();
            string(&mut out, &s);
            let back: String =
                serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(back, s);
            assert_eq!(
                out,
                serde_json::to_vec(&s).unwrap(),
                "{s:?}: same bytes as serde_json"
            );
        }
    }

    #[test]
    fn events_carry_their_type_first() {
        let mut out = Vec::new();
        sse_event(&mut out, "ping", |_| {});
        sse_event(&mut out, "x.y", |o| {
            o.u64("n", 2);
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\nevent: x.y\ndata: {\"type\":\"x.y\",\"n\":2}\n\n"
        );
    }

    #[test]
    fn resumed_objects_continue_with_a_comma() {
        let mut out = b"{\"type\":\"x\"".to_vec();
        let mut o = Obj::resume(&mut out);
        o.u64("n", 1);
        o.end();
        assert_eq!(out, b"{\"type\":\"x\",\"n\":1}");
    }
}
