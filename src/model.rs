//! Gemini model ids: the one validator every surface runs before a model name can reach an
//! upstream path, and the typed upstream resource built only from validated parts.

use std::fmt;

/// Longest model id accepted (Google's ids are far shorter).
pub const MAX_MODEL_ID: usize = 128;

/// A validated Gemini model id, without the `models/` prefix: ASCII letters, digits, `.`, `-` and
/// `_`, starting with a letter or digit, at most [`MAX_MODEL_ID`] bytes. Nothing else (no `/`,
/// `?`, `#`, `%`, `:`, whitespace or control characters) can be in one, so an id is always a single
/// path segment that cannot change the upstream path, method or query.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(Box<str>);

/// Why a model name was refused (the message names the rule, never more than a short excerpt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidModel(String);

impl InvalidModel {
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// A short, escaped excerpt of what the client sent, for error messages.
fn excerpt(raw: &str) -> String {
    let cut: String = raw.chars().take(48).collect();
    if cut.len() < raw.len() {
        format!("{:?}…", cut)
    } else {
        format!("{cut:?}")
    }
}

impl ModelId {
    /// Validate a model name as a client wrote it; one leading `models/` is accepted and removed.
    pub fn parse(raw: &str) -> Result<ModelId, InvalidModel> {
        let id = raw.strip_prefix("models/").unwrap_or(raw);
        if id.is_empty() {
            return Err(InvalidModel("The model name is empty.".into()));
        }
        if id.len() > MAX_MODEL_ID {
            return Err(InvalidModel(format!(
                "The model name is longer than {MAX_MODEL_ID} bytes."
            )));
        }
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
        if !id.as_bytes()[0].is_ascii_alphanumeric() || !id.bytes().all(ok_char) {
            return Err(InvalidModel(format!(
                "Invalid model name {}: a Gemini model id has only letters, digits, '.', '-' and '_' (optionally after \"models/\").",
                excerpt(raw)
            )));
        }
        Ok(ModelId(id.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ModelId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ModelId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ModelId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl AsRef<str> for ModelId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelId({:?})", &*self.0)
    }
}

/// The Gemini methods the gateway calls on `models/{model}:{method}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    GenerateContent,
    StreamGenerateContent,
    CountTokens,
    EmbedContent,
    BatchEmbedContents,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::GenerateContent,
        Method::StreamGenerateContent,
        Method::CountTokens,
        Method::EmbedContent,
        Method::BatchEmbedContents,
    ];

    /// The method as it appears in the path.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::GenerateContent => "generateContent",
            Method::StreamGenerateContent => "streamGenerateContent",
            Method::CountTokens => "countTokens",
            Method::EmbedContent => "embedContent",
            Method::BatchEmbedContents => "batchEmbedContents",
        }
    }

    /// The method named in a path, if the gateway serves it.
    pub fn from_path(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What an upstream request addresses, under `{base}/{api_version}/`. Built only from a
/// [`ModelId`] and a [`Method`], so its path text cannot carry anything a client invented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `models`
    ListModels,
    /// `models/{id}`
    GetModel(ModelId),
    /// `models/{id}:{method}`
    Call(ModelId, Method),
}

impl Resource {
    /// The model the resource names, if any.
    pub fn model(&self) -> Option<&ModelId> {
        match self {
            Resource::ListModels => None,
            Resource::GetModel(m) | Resource::Call(m, _) => Some(m),
        }
    }

    /// A short label for metrics: the method, or `models` for listing and lookups.
    pub fn label(&self) -> &'static str {
        match self {
            Resource::ListModels | Resource::GetModel(_) => "models",
            Resource::Call(_, m) => m.as_str(),
        }
    }

    /// Append the path text (no leading slash) to `out`.
    pub fn write_path(&self, out: &mut String) {
        match self {
            Resource::ListModels => out.push_str("models"),
            Resource::GetModel(m) => {
                out.push_str("models/");
                out.push_str(m);
            }
            Resource::Call(m, method) => {
                out.push_str("models/");
                out.push_str(m);
                out.push(':');
                out.push_str(method.as_str());
            }
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_path(&mut s);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_gemini_ids_with_or_without_prefix() {
        for ok in [
            "gemini-2.5-flash",
            "models/gemini-2.5-flash",
            "gemini-2.5-flash-preview-09-2025",
            "text-embedding-004",
            "gemma-3-27b-it",
            "learnlm_2.0",
        ] {
            let m = ModelId::parse(ok).unwrap();
            assert!(!m.contains('/'), "{m}");
        }
        assert_eq!(
            ModelId::parse("models/gemini-2.5-pro").unwrap().as_str(),
            "gemini-2.5-pro"
        );
    }

    #[test]
    fn refuses_anything_that_could_change_the_path() {
        let long = "a".repeat(MAX_MODEL_ID + 1);
        for bad in [
            "",
            "models/",
            "../cachedContents?",
            "gemini-2.5-flash:countTokens",
            "gemini-2.5-flash?key=x&",
            "gemini-2.5-flash#frag",
            "gemini%2F..%2Fx",
            "a/b",
            "models/models/x",
            "gemini\r\nx-evil: 1",
            "gemini 2.5",
            ".hidden",
            "-flag",
            "gemini\u{0}",
            "gémini",
            long.as_str(),
        ] {
            assert!(ModelId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn error_message_is_short_and_escaped() {
        let e = ModelId::parse(&format!("x\r\n{}", "y".repeat(500))).unwrap_err();
        assert!(e.message().len() < 200, "{}", e.message());
        assert!(!e.message().contains('\r'));
    }

    #[test]
    fn resources_render_from_validated_parts() {
        let m = ModelId::parse("gemini-2.5-flash").unwrap();
        assert_eq!(
            Resource::Call(m.clone(), Method::StreamGenerateContent).to_string(),
            "models/gemini-2.5-flash:streamGenerateContent"
        );
        assert_eq!(Resource::GetModel(m).to_string(), "models/gemini-2.5-flash");
        assert_eq!(Resource::ListModels.to_string(), "models");
        assert_eq!(Method::from_path("countTokens"), Some(Method::CountTokens));
        assert_eq!(Method::from_path("deleteEverything"), None);
    }
}
