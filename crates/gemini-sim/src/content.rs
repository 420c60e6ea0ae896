//! Reading request bodies (camelCase or snake_case), counting tokens, and making deterministic replies and embeddings.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::wire::ModalityCount;

/// Tokens charged for one inline/file media part.
pub(crate) const MEDIA_TOKENS: u64 = 258;

/// Look a field up by its camelCase name, falling back to the snake_case spelling.
pub(crate) fn field<'a>(v: &'a Value, camel: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(x) = obj.get(camel) {
        return Some(x);
    }
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    obj.get(&snake)
}

pub(crate) fn str_field<'a>(v: &'a Value, camel: &str) -> Option<&'a str> {
    field(v, camel).and_then(Value::as_str)
}

pub(crate) fn parts(content: &Value) -> &[Value] {
    field(content, "parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `contents` of a generate/count request (empty when missing).
pub(crate) fn contents(req: &Value) -> &[Value] {
    field(req, "contents")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Tokens for a text: about one per 4 characters, at least 1 when non-empty.
pub(crate) fn text_tokens(s: &str) -> u64 {
    let n = s.chars().count() as u64;
    n.div_ceil(4)
}

/// Prompt token counts per modality.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenCount {
    pub text: u64,
    pub image: u64,
    pub audio: u64,
    pub video: u64,
    pub document: u64,
}

impl TokenCount {
    pub(crate) fn total(&self) -> u64 {
        self.text + self.image + self.audio + self.video + self.document
    }

    /// `promptTokensDetails`: TEXT always, the others when non-zero.
    pub(crate) fn details(&self) -> Vec<ModalityCount> {
        let mut out = vec![ModalityCount {
            modality: "TEXT",
            token_count: self.text,
        }];
        for (m, n) in [
            ("IMAGE", self.image),
            ("AUDIO", self.audio),
            ("VIDEO", self.video),
            ("DOCUMENT", self.document),
        ] {
            if n > 0 {
                out.push(ModalityCount {
                    modality: m,
                    token_count: n,
                });
            }
        }
        out
    }

    fn add_part(&mut self, part: &Value) {
        if let Some(t) = str_field(part, "text") {
            self.text += text_tokens(t);
            return;
        }
        for media in ["inlineData", "fileData"] {
            if let Some(d) = field(part, media) {
                let mime = str_field(d, "mimeType").unwrap_or("");
                let slot = if mime.starts_with("audio/") {
                    &mut self.audio
                } else if mime.starts_with("video/") {
                    &mut self.video
                } else if mime == "application/pdf" || mime.starts_with("text/") {
                    &mut self.document
                } else {
                    &mut self.image
                };
                *slot += MEDIA_TOKENS;
                return;
            }
        }
        for structured in [
            "functionCall",
            "functionResponse",
            "executableCode",
            "codeExecutionResult",
        ] {
            if let Some(v) = field(part, structured) {
                self.text += text_tokens(&v.to_string());
                return;
            }
        }
    }

    fn add_content(&mut self, content: &Value) {
        for p in parts(content) {
            self.add_part(p);
        }
    }
}

/// Count the prompt of a GenerateContentRequest-shaped value: `contents` plus `systemInstruction`.
pub(crate) fn count_request(req: &Value) -> TokenCount {
    let mut c = TokenCount::default();
    for content in contents(req) {
        c.add_content(content);
    }
    if let Some(sys) = field(req, "systemInstruction") {
        c.add_content(sys);
    }
    c
}

/// The text of the last user turn: text parts, and `name returned {json}` for function responses.
pub(crate) fn last_user_text(req: &Value) -> String {
    for content in contents(req).iter().rev() {
        let role = str_field(content, "role").unwrap_or("user");
        if role != "user" {
            continue;
        }
        let mut pieces = Vec::new();
        for p in parts(content) {
            if let Some(t) = str_field(p, "text") {
                pieces.push(t.to_owned());
            } else if let Some(fr) = field(p, "functionResponse") {
                let name = str_field(fr, "name").unwrap_or("function");
                let resp = field(fr, "response").cloned().unwrap_or(Value::Null);
                pieces.push(format!("{name} returned {resp}"));
            }
        }
        return pieces.join(" ");
    }
    String::new()
}

pub(crate) fn last_turn_has_function_response(req: &Value) -> bool {
    contents(req).last().is_some_and(|c| {
        parts(c)
            .iter()
            .any(|p| field(p, "functionResponse").is_some())
    })
}

/// Only the text parts of the last user turn (for triggers).
pub(crate) fn last_user_plain_text(req: &Value) -> String {
    for content in contents(req).iter().rev() {
        if str_field(content, "role").unwrap_or("user") != "user" {
            continue;
        }
        return parts(content)
            .iter()
            .filter_map(|p| str_field(p, "text"))
            .collect::<Vec<_>>()
            .join(" ");
    }
    String::new()
}

/// What a user asks to learn what the conversation holds (tests of server-side context).
pub(crate) const RECALL_QUESTION: &str = "What did I say first?";

/// The default reply: `Echo: <first 60 chars of the last user text>`; to [`RECALL_QUESTION`],
/// `You first said: <first 60 chars of the first user text>` (so a test can see what history the
/// upstream received).
pub(crate) fn default_reply(req: &Value) -> String {
    if last_user_plain_text(req).contains(RECALL_QUESTION) {
        let first = contents(req)
            .iter()
            .find(|c| str_field(c, "role").unwrap_or("user") == "user")
            .map(|c| {
                parts(c)
                    .iter()
                    .filter_map(|p| str_field(p, "text"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let first: String = first.chars().take(60).collect();
        return format!("You first said: {first}");
    }
    let text: String = last_user_text(req).chars().take(60).collect();
    format!("Echo: {text}")
}

/// Whether the request asks for thought summaries (`thinkingConfig.includeThoughts`).
pub(crate) fn include_thoughts(req: &Value) -> bool {
    field(req, "generationConfig")
        .and_then(|gc| field(gc, "thinkingConfig"))
        .and_then(|tc| field(tc, "includeThoughts"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The thought summary the simulated model shares when asked.
pub(crate) fn thought_summary(req: &Value) -> String {
    let text: String = last_user_text(req).chars().take(40).collect();
    format!("**Considering the request**\n\nThe user wrote: {text}")
}

/// Gemini 3's rule for function calling: in the current turn (the model turns after the last
/// user turn with text), the first `functionCall` part of each model turn carries a
/// `thoughtSignature`. Returns the offending call's name and its position in `contents`.
pub(crate) fn missing_signature(req: &Value) -> Option<(String, usize)> {
    let cs = contents(req);
    let start = cs
        .iter()
        .rposition(|c| {
            str_field(c, "role").unwrap_or("user") == "user"
                && parts(c).iter().any(|p| str_field(p, "text").is_some())
        })
        .unwrap_or(0);
    for (i, c) in cs.iter().enumerate().skip(start) {
        if str_field(c, "role") != Some("model") {
            continue;
        }
        let first_call = parts(c).iter().find(|p| field(p, "functionCall").is_some());
        if let Some(p) = first_call {
            let signed = str_field(p, "thoughtSignature").is_some_and(|s| !s.is_empty());
            if !signed {
                let name = field(p, "functionCall")
                    .and_then(|f| str_field(f, "name"))
                    .unwrap_or("")
                    .to_owned();
                return Some((name, i));
            }
        }
    }
    None
}

/// `generationConfig.maxOutputTokens`, if set.
pub(crate) fn max_output_tokens(req: &Value) -> Option<u64> {
    let gc = field(req, "generationConfig")?;
    let v = field(gc, "maxOutputTokens")?;
    v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
}

/// Split a text into `n` consecutive pieces of about equal length (in characters).
pub(crate) fn split_text(text: &str, n: u32) -> Vec<String> {
    let n = n.max(1) as usize;
    let chars: Vec<char> = text.chars().collect();
    (0..n)
        .map(|i| {
            let a = chars.len() * i / n;
            let b = chars.len() * (i + 1) / n;
            chars[a..b].iter().collect()
        })
        .collect()
}

/// Truncate a reply to `max` tokens; returns whether it was cut.
pub(crate) fn truncate_to_tokens(text: &mut String, max: u64) -> bool {
    if text_tokens(text) <= max {
        return false;
    }
    let keep = usize::try_from(max.saturating_mul(4)).unwrap_or(usize::MAX);
    *text = text.chars().take(keep).collect();
    true
}

/// The text embedded by an embed request's `content`.
pub(crate) fn embed_text(req: &Value) -> Option<String> {
    let content = field(req, "content")?;
    Some(
        parts(content)
            .iter()
            .filter_map(|p| str_field(p, "text"))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `outputDimensionality` of an embed request.
pub(crate) fn output_dimensionality(req: &Value) -> Option<u64> {
    field(req, "outputDimensionality").and_then(Value::as_u64)
}

/// SplitMix64 step.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic unit vector of `dim` values seeded by the text's SHA-256.
pub(crate) fn embedding(text: &str, dim: usize) -> Vec<f32> {
    let digest = Sha256::digest(text.as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    let mut state = u64::from_le_bytes(seed);
    let raw: Vec<f64> = (0..dim)
        .map(|_| (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        return raw.iter().map(|_| 0.0).collect();
    }
    raw.iter().map(|x| (x / norm) as f32).collect()
}

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let emit = chunk.len() + 1;
        for i in 0..4 {
            if i < emit {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Random-looking bytes from a seed.
fn bytes_from(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&splitmix(&mut state).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A 23-character `responseId` like Google's (`xlWYafXAOKSf1e8PpcODiAg`).
pub(crate) fn response_id(seed: u64) -> String {
    b64(&bytes_from(seed, 17), B64_URL, false)
}

/// An 8-character Gemini 3 `functionCall.id` (`3ae8iwca`).
pub(crate) fn call_id(seed: u64) -> String {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = seed ^ 0xC0FF_EE00;
    (0..8)
        .map(|_| char::from(ALNUM[(splitmix(&mut state) % ALNUM.len() as u64) as usize]))
        .collect()
}

/// An opaque base64 `thoughtSignature`.
pub(crate) fn thought_signature(seed: u64) -> String {
    b64(&bytes_from(seed ^ 0x5157_7A11, 96), B64_STD, true)
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_text_and_images_snake_case() {
        let req = json!({
            "contents": [{"role": "user", "parts": [
                {"text": "abcdefghi"},
                {"inline_data": {"mime_type": "image/png", "data": "AAAA"}},
                {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}},
                {"text": ""}
            ]}],
            "system_instruction": {"parts": [{"text": "ab"}]}
        });
        let c = count_request(&req);
        assert_eq!(c.text, 3 + 1);
        assert_eq!(c.image, 2 * MEDIA_TOKENS);
        assert_eq!(c.total(), 4 + 516);
        assert_eq!(c.details().len(), 2);
    }

    #[test]
    fn reply_and_split() {
        let req = json!({"contents": [
            {"role": "user", "parts": [{"text": "old"}]},
            {"role": "model", "parts": [{"text": "x"}]},
            {"role": "user", "parts": [{"text": "What is the capital of France?"}]}
        ]});
        let r = default_reply(&req);
        assert_eq!(r, "Echo: What is the capital of France?");
        let pieces = split_text(&r, 4);
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces.concat(), r);
        assert!(pieces.iter().all(|p| !p.is_empty()));
        let long = "é".repeat(100);
        let req = json!({"contents": [{"parts": [{"text": long}]}]});
        assert_eq!(default_reply(&req).chars().count(), 6 + 60);
    }

    /// The only call planned, if any (these cases never name two functions).
    #[test]
    fn embeddings_deterministic_and_normalised() {
        let a = embedding("hello", 768);
        let b = embedding("hello", 768);
        let c = embedding("world", 768);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let norm: f64 = a
            .iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn ids() {
        assert_eq!(response_id(1).len(), 23);
        assert_ne!(response_id(1), response_id(2));
        assert_eq!(call_id(5).len(), 8);
        assert!(thought_signature(1).ends_with('=') || thought_signature(1).len() % 4 == 0);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(b64(b"hello", B64_STD, true), "aGVsbG8=");
    }

    #[test]
    fn truncation() {
        let mut t = "abcdefghijkl".to_owned();
        assert!(truncate_to_tokens(&mut t, 2));
        assert_eq!(t, "abcdefgh");
        assert!(!truncate_to_tokens(&mut t, 2));
    }

    #[test]
    fn gemini3_signature_rule_looks_at_the_current_turn_only() {
        let call = |sig: bool| {
            let mut p = json!({"functionCall": {"name": "f", "args": {}}});
            if sig {
                p["thoughtSignature"] = json!("c2ln");
            }
            json!({"role": "model", "parts": [p]})
        };
        let result =
            json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]});
        let ask = json!({"role": "user", "parts": [{"text": "go"}]});
        let req = json!({"contents": [ask, call(false), result]});
        assert_eq!(missing_signature(&req), Some(("f".into(), 1)));
        let req = json!({"contents": [ask, call(true), result]});
        assert_eq!(missing_signature(&req), None);
        // an earlier turn's unsigned call is not checked
        let req = json!({"contents": [ask, call(false), result, {"role": "model", "parts": [{"text": "ok"}]}, ask]});
        assert_eq!(missing_signature(&req), None);
        assert!(include_thoughts(
            &json!({"generationConfig": {"thinkingConfig": {"includeThoughts": true}}})
        ));
        assert!(!include_thoughts(&json!({})));
    }
}
