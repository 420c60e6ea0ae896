//! `keys`: the upstream Gemini API keys, each optionally labelled with its Google Cloud project.

use super::{err, ConfigError};
use crate::secret::Secret;
use serde::Deserialize;

/// An upstream key: a bare string, or a mapping with a project label.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawKey {
    Plain(String),
    Labeled(RawLabeledKey),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabeledKey {
    pub key: String,
    #[serde(default)]
    pub project: Option<String>,
}

/// One upstream key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyConfig {
    pub key: Secret,
    /// Google Cloud project label; keys of one project share quota. Default: the key's fingerprint.
    pub project: String,
}

impl KeyConfig {
    /// A key that is its own project.
    pub fn new(key: &str) -> KeyConfig {
        let key = Secret::new(key);
        KeyConfig {
            project: key.fingerprint(),
            key,
        }
    }

    /// A key of the project `project`.
    pub fn in_project(key: &str, project: &str) -> KeyConfig {
        KeyConfig {
            key: Secret::new(key),
            project: project.to_string(),
        }
    }
}

/// Validate the listed keys: none empty or with whitespace, duplicates folded, at least one.
pub(super) fn from_raw(raw: Vec<RawKey>) -> Result<Vec<KeyConfig>, ConfigError> {
    let mut keys: Vec<KeyConfig> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, k) in raw.into_iter().enumerate() {
        let (key, project) = match k {
            RawKey::Plain(k) => (k, None),
            RawKey::Labeled(l) => (l.key, l.project),
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(err(&format!("keys[{i}]"), "empty key"));
        }
        if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(err(
                &format!("keys[{i}]"),
                "key contains whitespace or control characters",
            ));
        }
        if !seen.insert(key.to_string()) {
            continue; // the same key twice is one key
        }
        keys.push(match project.filter(|p| !p.is_empty()) {
            Some(p) => KeyConfig::in_project(key, &p),
            None => KeyConfig::new(key),
        });
    }
    if keys.is_empty() {
        return Err(err(
            "keys",
            "no Gemini API key configured: list them under keys: or set GEMINI_API_KEYS",
        ));
    }
    Ok(keys)
}
