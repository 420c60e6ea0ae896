//! Answer text kept as the JSON string Gemini sent: read without unescaping, written to the
//! client without escaping again (a JSON string's escaped body means the same in any JSON
//! document), and joined by joining the escaped bodies. Plain text is made only where a surface
//! needs it (`plain`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A JSON string literal, quotes included, as it appeared on the wire. Always a valid literal: it
/// is made only by reading JSON, by escaping text, by joining the bodies of such literals, or from
/// a literal the stream-event reader checked.
#[derive(Clone)]
pub(crate) struct JsonText(Box<str>);

impl JsonText {
    /// Escape plain text.
    pub fn from_plain(s: &str) -> JsonText {
        match serde_json::to_string(s) {
            Ok(lit) => JsonText(lit.into()),
            Err(_) => JsonText::default(),
        }
    }

    /// A literal (quotes included) that the caller has checked to be a valid JSON string.
    pub(crate) fn from_checked_literal(literal: &str) -> JsonText {
        debug_assert!(serde_json::from_str::<String>(literal).is_ok(), "{literal}");
        JsonText(literal.into())
    }

    /// The JSON string literal, quotes included.
    pub fn literal(&self) -> &str {
        &self.0
    }

    /// The escaped body between the quotes.
    pub fn escaped(&self) -> &str {
        self.0.get(1..self.0.len().saturating_sub(1)).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.escaped().is_empty()
    }

    /// The text itself (borrowed when it has no escapes).
    pub fn plain(&self) -> Cow<'_, str> {
        let body = self.escaped();
        if !body.contains('\\') {
            return Cow::Borrowed(body);
        }
        Cow::Owned(serde_json::from_str::<String>(&self.0).unwrap_or_default())
    }

    /// A literal from an escaped body that is known to be valid (the concatenation of bodies).
    fn from_escaped(body: &str) -> JsonText {
        let mut s = String::with_capacity(body.len() + 2);
        s.push('"');
        s.push_str(body);
        s.push('"');
        JsonText(s.into())
    }
}

impl Default for JsonText {
    fn default() -> Self {
        JsonText::from_plain("")
    }
}

impl From<&str> for JsonText {
    fn from(s: &str) -> Self {
        JsonText::from_plain(s)
    }
}

impl From<String> for JsonText {
    fn from(s: String) -> Self {
        JsonText::from_plain(&s)
    }
}

/// Shows (and compares) the text itself, as a `String` would.
impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.plain(), f)
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.plain() == other.plain()
    }
}

/// Written as it came (through `RawValue`, which checks it once more).
impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(&self.0) {
            Ok(raw) => raw.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if raw.get().starts_with('"') {
            Ok(JsonText(raw.into()))
        } else {
            Err(serde::de::Error::custom("expected a string"))
        }
    }
}

/// Text pieces joined into one: the first piece is kept as it is, later ones are appended to the
/// escaped body.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonTextBuf {
    first: Option<JsonText>,
    more: String,
}

impl JsonTextBuf {
    pub fn push(&mut self, t: JsonText) {
        if t.is_empty() {
            return;
        }
        match &self.first {
            None => self.first = Some(t),
            Some(f) => {
                if self.more.is_empty() {
                    self.more.push_str(f.escaped());
                }
                self.more.push_str(t.escaped());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Write the joined text as a JSON string literal.
    pub fn write(&self, out: &mut Vec<u8>) {
        match &self.first {
            None => out.extend_from_slice(b"\"\""),
            Some(f) if self.more.is_empty() => out.extend_from_slice(f.literal().as_bytes()),
            Some(_) => {
                out.push(b'"');
                out.extend_from_slice(self.more.as_bytes());
                out.push(b'"');
            }
        }
    }

    pub fn finish(self) -> JsonText {
        match self.first {
            None => JsonText::default(),
            Some(f) if self.more.is_empty() => f,
            Some(_) => JsonText::from_escaped(&self.more),
        }
    }
}

/// Written as the joined text.
impl Serialize for JsonTextBuf {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.first {
            None => s.serialize_str(""),
            Some(f) if self.more.is_empty() => f.serialize(s),
            Some(_) => JsonText::from_escaped(&self.more).serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_passes_through_escaped_and_joins_by_its_escaped_bodies() {
        let t: JsonText =
            serde_json::from_str(r#""line\n\"quoted\" \u00e9 caf\u00E9 ok""#).unwrap();
        assert_eq!(t.plain(), "line\n\"quoted\" é café ok");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#""line\n\"quoted\" \u00e9 caf\u00E9 ok""#,
            "written as it came"
        );
        let plain: JsonText = serde_json::from_str(r#""no escapes""#).unwrap();
        assert!(matches!(plain.plain(), Cow::Borrowed("no escapes")));
        let mut b = JsonTextBuf::default();
        assert!(b.is_empty());
        b.push(t);
        b.push(JsonText::from_plain(""));
        b.push(JsonText::from_plain(" and\ttab"));
        let joined = b.finish();
        assert_eq!(joined.plain(), "line\n\"quoted\" é café ok and\ttab");
        let v: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&joined).unwrap()).unwrap();
        assert_eq!(v, serde_json::json!("line\n\"quoted\" é café ok and\ttab"));
        assert_eq!(JsonTextBuf::default().finish().plain(), "");
        for buf in [
            JsonTextBuf::default(),
            {
                let mut b = JsonTextBuf::default();
                b.push(JsonText::from_plain("a\"b"));
                b
            },
            {
                let mut b = JsonTextBuf::default();
                b.push(JsonText::from_plain("a\"b"));
                b.push(JsonText::from_plain("\nc"));
                b
            },
        ] {
            let mut out = Vec::new();
            buf.write(&mut out);
            assert_eq!(out, serde_json::to_vec(&buf).unwrap(), "write = serialize");
        }
        assert!(serde_json::from_str::<JsonText>("12").is_err());
        assert_eq!(format!("{:?}", JsonText::from("a\"b")), r#""a\"b""#);
    }
}
