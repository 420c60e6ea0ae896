//! `anthropic:` — the Anthropic Messages surface: which Gemini model a Claude model name means,
//! so that Claude Code and other Anthropic clients work with only a base URL.

use super::{err, ConfigError};
use crate::model::ModelId;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAnthropic {
    pub model_aliases: Option<BTreeMap<String, String>>,
}

/// The Anthropic surface.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicConfig {
    /// Claude model name (or a prefix of one, ending at a `-`) → Gemini model; longest match wins.
    pub model_aliases: Vec<(String, ModelId)>,
}

/// What Claude model names mean by default: the largest families to Gemini's Pro, Haiku to Flash.
const DEFAULT_ALIASES: &[(&str, &str)] = &[
    ("claude-opus", "gemini-2.5-pro"),
    ("claude-sonnet", "gemini-2.5-pro"),
    ("claude-haiku", "gemini-2.5-flash"),
    ("claude-3-opus", "gemini-2.5-pro"),
    ("claude-3-5-sonnet", "gemini-2.5-pro"),
    ("claude-3-7-sonnet", "gemini-2.5-pro"),
    ("claude-3-haiku", "gemini-2.5-flash"),
    ("claude-3-5-haiku", "gemini-2.5-flash"),
];

impl Default for AnthropicConfig {
    fn default() -> Self {
        // Sorted by alias, as a table from the file is.
        let sorted: BTreeMap<&str, &str> = DEFAULT_ALIASES.iter().copied().collect();
        AnthropicConfig {
            model_aliases: sorted
                .into_iter()
                .filter_map(|(a, m)| Some((a.to_string(), ModelId::parse(m).ok()?)))
                .collect(),
        }
    }
}

impl AnthropicConfig {
    pub(super) fn from_raw(r: RawAnthropic) -> Result<Self, ConfigError> {
        let Some(map) = r.model_aliases else {
            return Ok(AnthropicConfig::default());
        };
        let mut model_aliases = Vec::new();
        for (alias, model) in map {
            let field = format!("anthropic.model_aliases.{alias}");
            if alias.is_empty() || alias.contains(char::is_whitespace) {
                return Err(err(&field, "an alias is a model name without spaces"));
            }
            let m = ModelId::parse(model.trim()).map_err(|e| err(&field, e.message()))?;
            model_aliases.push((alias, m));
        }
        Ok(AnthropicConfig { model_aliases })
    }

    /// The Gemini model a client's model name means: an alias (exact, or the longest alias that is
    /// a prefix ending at a `-`, so `claude-sonnet-4-5-20250929` finds `claude-sonnet`), else the
    /// name itself when it is a Gemini model id.
    pub fn resolve(&self, name: &str) -> Option<ModelId> {
        let mut best: Option<&(String, ModelId)> = None;
        for a in &self.model_aliases {
            let hit = name == a.0
                || name
                    .strip_prefix(a.0.as_str())
                    .is_some_and(|rest| rest.starts_with('-'));
            if hit && best.is_none_or(|b| b.0.len() < a.0.len()) {
                best = Some(a);
            }
        }
        best.map(|(_, m)| m.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_by_longest_prefix() {
        let c = AnthropicConfig::default();
        let r = |n: &str| c.resolve(n).map(|m| m.to_string());
        assert_eq!(
            r("claude-sonnet-4-5-20250929").as_deref(),
            Some("gemini-2.5-pro")
        );
        assert_eq!(r("claude-haiku-4-5").as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(
            r("claude-3-5-haiku-20241022").as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            r("claude-3-5-sonnet-latest").as_deref(),
            Some("gemini-2.5-pro")
        );
        assert_eq!(r("claude-sonnetx"), None);
        assert_eq!(r("gemini-2.5-flash"), None);
    }

    #[test]
    fn configured_aliases_replace_the_defaults() {
        let mut map = BTreeMap::new();
        map.insert(
            "claude-opus-4".to_string(),
            "gemini-3-pro-preview".to_string(),
        );
        let c = AnthropicConfig::from_raw(RawAnthropic {
            model_aliases: Some(map),
        })
        .unwrap();
        assert_eq!(c.model_aliases.len(), 1);
        assert_eq!(
            c.resolve("claude-opus-4-1")
                .map(|m| m.to_string())
                .as_deref(),
            Some("gemini-3-pro-preview")
        );
        assert_eq!(c.resolve("claude-opus-40"), None);
        assert_eq!(
            c.resolve("claude-sonnet-4"),
            None,
            "the defaults are replaced"
        );
        let mut bad = BTreeMap::new();
        bad.insert("x".to_string(), "../y".to_string());
        assert!(AnthropicConfig::from_raw(RawAnthropic {
            model_aliases: Some(bad)
        })
        .is_err());
    }
}
