//! Input-token estimate for quota pre-checks, computed in the same single pass that validates the
//! request JSON: text counts by length, media parts by Gemini's documented per-item token cost —
//! never by their base64 size.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Tokens Gemini charges per image (an image up to 384 px, or each 768×768 tile, is 258 tokens).
pub const IMAGE_TOKENS: u64 = 258;
/// Tokens per second of audio.
pub const AUDIO_TOKENS_PER_SEC: u64 = 32;
/// Tokens per second of video.
pub const VIDEO_TOKENS_PER_SEC: u64 = 263;
/// Tokens per PDF page (pages are billed like images).
pub const PDF_PAGE_TOKENS: u64 = 258;

/// Validate that `body` is one JSON object (every string decoded, depth bounded by serde_json) and
/// estimate its input tokens.
pub fn validate_and_estimate(body: &[u8]) -> Result<u64, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(if first.is_none() {
            "Request body is empty; a JSON object is required.".to_string()
        } else {
            "Request body must be a JSON object.".to_string()
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut est = Estimate::default();
    Walk {
        est: &mut est,
        key: Key::Other,
    }
    .deserialize(&mut de)
    .and_then(|_| de.end())
    .map_err(|e| format!("Invalid JSON payload: {e}."))?;
    Ok(est.total())
}

/// Running totals of one request (also fed directly by the OpenAI translation, which knows its
/// parts without walking JSON again).
#[derive(Debug, Default)]
pub struct Estimate {
    text_bytes: u64,
    images: u64,
    audio_bytes: u64,
    video_bytes: u64,
    pdf_bytes: u64,
    other_media: u64,
}

impl Estimate {
    /// Text of this many UTF-8 bytes.
    pub fn text(&mut self, bytes: usize) {
        self.text_bytes += bytes as u64;
    }

    /// The estimated input tokens.
    pub fn total(&self) -> u64 {
        // ~4 bytes of UTF-8 text per token (Google's rule of thumb for English; conservative for CJK).
        let text = self.text_bytes.div_ceil(4);
        // Raw media sizes from base64 length (×3/4); durations assume common encodings:
        // audio ~16 kB/s (128 kbit/s), video ~250 kB/s, PDF ~60 kB per page.
        let audio = (self.audio_bytes * 3 / 4).div_ceil(16_000) * AUDIO_TOKENS_PER_SEC;
        let video = (self.video_bytes * 3 / 4).div_ceil(250_000) * VIDEO_TOKENS_PER_SEC;
        let pdf = (self.pdf_bytes * 3 / 4).div_ceil(60_000) * PDF_PAGE_TOKENS;
        text + self.images * IMAGE_TOKENS + audio + video + pdf + self.other_media * IMAGE_TOKENS
    }

    /// Inline media of this type, `data_len` bytes of base64.
    pub fn media(&mut self, mime: &str, data_len: u64) {
        let mime = mime.to_ascii_lowercase();
        if mime.starts_with("image/") {
            self.images += 1;
        } else if mime.starts_with("audio/") {
            self.audio_bytes += data_len;
        } else if mime.starts_with("video/") {
            self.video_bytes += data_len;
        } else if mime == "application/pdf" {
            self.pdf_bytes += data_len;
        } else if mime.starts_with("text/") {
            self.text_bytes += data_len * 3 / 4;
        } else {
            self.other_media += 1;
        }
    }
}

/// What the value being walked is, by the key it sits under.
#[derive(Clone, Copy, PartialEq)]
enum Key {
    Other,
    /// `text` of a part: count its bytes.
    Text,
    /// `inlineData` / `inline_data`: read mime type and data length.
    Inline,
    /// `fileData` / `file_data`: media by reference, counted as one item.
    File,
}

struct Walk<'a> {
    est: &'a mut Estimate,
    key: Key,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key as far as the estimate cares; read without allocating (keys are borrowed from the
/// body, or seen through a scratch buffer when they contain escapes).
#[derive(Clone, Copy, PartialEq)]
enum Name {
    Value(Key),
    MimeType,
    Data,
}

fn classify_key(k: &str) -> Name {
    match k {
        "text" => Name::Value(Key::Text),
        "inlineData" | "inline_data" => Name::Value(Key::Inline),
        "fileData" | "file_data" => Name::Value(Key::File),
        "mimeType" | "mime_type" => Name::MimeType,
        "data" => Name::Data,
        _ => Name::Value(Key::Other),
    }
}

struct KeyName;

impl<'de> DeserializeSeed<'de> for KeyName {
    type Value = Name;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Name, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyName {
    type Value = Name;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Name, E> {
        Ok(classify_key(v))
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if self.key == Key::Text {
            self.est.text_bytes += v.len() as u64;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                est: &mut *self.est,
                key: Key::Other,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.key == Key::Inline || self.key == Key::File {
            // {mimeType, data} / {mimeType, fileUri}: the data string is measured, not decoded into anything.
            let mut mime = String::new();
            let mut data_len = 0u64;
            while let Some(k) = map.next_key_seed(KeyName)? {
                match k {
                    Name::MimeType => {
                        mime = map.next_value::<std::borrow::Cow<'de, str>>()?.into_owned()
                    }
                    Name::Data => data_len = map.next_value_seed(Len)?,
                    Name::Value(_) => map.next_value_seed(Walk {
                        est: &mut *self.est,
                        key: Key::Other,
                    })?,
                }
            }
            if self.key == Key::Inline {
                self.est.media(&mime, data_len);
            } else {
                self.est.other_media += 1;
            }
            return Ok(());
        }
        while let Some(k) = map.next_key_seed(KeyName)? {
            let key = match k {
                Name::Value(key) => key,
                Name::MimeType | Name::Data => Key::Other,
            };
            map.next_value_seed(Walk {
                est: &mut *self.est,
                key,
            })?;
        }
        Ok(())
    }
}

/// Length of a string value (base64 media) without keeping it.
struct Len;

impl<'de> DeserializeSeed<'de> for Len {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Len {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a base64 string")
    }
    fn visit_str<E>(self, v: &str) -> Result<u64, E> {
        Ok(v.len() as u64)
    }
    fn visit_bool<E>(self, _: bool) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_i64<E>(self, _: i64) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_u64<E>(self, _: u64) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_f64<E>(self, _: f64) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_unit<E>(self) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(0)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_counted_by_length() {
        let b = br#"{"contents":[{"role":"user","parts":[{"text":"abcdefghijklmnop"}]}]}"#;
        assert_eq!(validate_and_estimate(b).unwrap(), 4);
    }

    #[test]
    fn image_costs_258_whatever_its_size() {
        let small = format!(
            r#"{{"contents":[{{"parts":[{{"inlineData":{{"mimeType":"image/png","data":"{}"}}}}]}}]}}"#,
            "A".repeat(100)
        );
        let big = format!(
            r#"{{"contents":[{{"parts":[{{"inline_data":{{"data":"{}","mime_type":"image/jpeg"}}}}]}}]}}"#,
            "A".repeat(4_000_000)
        );
        assert_eq!(validate_and_estimate(small.as_bytes()).unwrap(), 258);
        assert_eq!(validate_and_estimate(big.as_bytes()).unwrap(), 258);
        // the seed's len(json)/4 would have said ~1,000,000 for the big one
    }

    #[test]
    fn media_kinds() {
        // 1 s of 128 kbit/s audio is 16 kB raw, ~21.3 kB base64 -> 32 tokens
        let audio = format!(
            r#"{{"contents":[{{"parts":[{{"inlineData":{{"mimeType":"audio/mp3","data":"{}"}}}}]}}]}}"#,
            "A".repeat(21_332)
        );
        assert_eq!(validate_and_estimate(audio.as_bytes()).unwrap(), 32);
        let pdf = format!(
            r#"{{"contents":[{{"parts":[{{"inlineData":{{"mimeType":"application/pdf","data":"{}"}}}}]}}]}}"#,
            "A".repeat(160_000)
        );
        assert_eq!(validate_and_estimate(pdf.as_bytes()).unwrap(), 2 * 258);
        let file = br#"{"contents":[{"parts":[{"fileData":{"mimeType":"video/mp4","fileUri":"https://x"}},{"text":"abcd"}]}]}"#;
        assert_eq!(validate_and_estimate(file).unwrap(), 258 + 1);
    }

    #[test]
    fn system_instruction_and_history_count() {
        let b = br#"{"systemInstruction":{"parts":[{"text":"12345678"}]},"contents":[{"role":"user","parts":[{"text":"1234"}]},{"role":"model","parts":[{"text":"1234"}]}]}"#;
        assert_eq!(validate_and_estimate(b).unwrap(), 4);
    }

    #[test]
    fn still_validates() {
        assert!(validate_and_estimate(b"").is_err());
        assert!(validate_and_estimate(b"[]").is_err());
        assert!(validate_and_estimate(b"{\"a\": \"\\ud800\"}").is_err());
        assert!(validate_and_estimate(b"{\"a\": 1} x").is_err());
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(validate_and_estimate(deep.as_bytes()).is_err());
    }
}
