//! `keys`: the upstream Gemini API keys, each optionally labelled with its Google Cloud project and
//! its billing tier (`key_tier` / `GEMINI_KEY_TIER` for all of them).

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
    /// This key's billing tier; default: `key_tier`.
    #[serde(default)]
    pub tier: Option<String>,
}

/// A Google AI billing tier: which table of `data/model_limits.yaml` the pre-check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Tier {
    /// The free tier (the table's top-level `default` and `models`).
    #[default]
    Free,
    Tier1,
    Tier2,
    Tier3,
    /// No quota pre-check at all for these keys (limits learned from 429s still apply).
    Unlimited,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Free,
        Tier::Tier1,
        Tier::Tier2,
        Tier::Tier3,
        Tier::Unlimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Tier1 => "tier1",
            Tier::Tier2 => "tier2",
            Tier::Tier3 => "tier3",
            Tier::Unlimited => "unlimited",
        }
    }

    /// Parse a tier name (`free`, `tier1`, `tier2`, `tier3`, `unlimited`; case-insensitive).
    pub fn parse(s: &str) -> Option<Tier> {
        let s = s.trim();
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// A tier for the field `field`, or an error naming the choices.
    pub(super) fn from_field(field: &str, s: &str) -> Result<Tier, ConfigError> {
        Tier::parse(s).ok_or_else(|| {
            err(
                field,
                format!("unknown tier {s:?}: use free, tier1, tier2, tier3 or unlimited"),
            )
        })
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One upstream key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyConfig {
    pub key: Secret,
    /// Google Cloud project label; keys of one project share quota. Default: the key's fingerprint.
    pub project: String,
    /// Billing tier: which limits table applies to this key's project.
    pub tier: Tier,
}

impl KeyConfig {
    /// A key that is its own project.
    pub fn new(key: &str) -> KeyConfig {
        let key = Secret::new(key);
        KeyConfig {
            project: key.fingerprint(),
            key,
            tier: Tier::Free,
        }
    }

    /// A key of the project `project`.
    pub fn in_project(key: &str, project: &str) -> KeyConfig {
        KeyConfig {
            key: Secret::new(key),
            project: project.to_string(),
            tier: Tier::Free,
        }
    }

    /// The same key in another billing tier.
    pub fn with_tier(mut self, tier: Tier) -> KeyConfig {
        self.tier = tier;
        self
    }
}

/// Validate the listed keys: none empty or with whitespace, duplicates folded, at least one; a
/// key's tier is its own `tier`, else `default_tier` (`key_tier`); the keys of one project agree.
pub(super) fn from_raw(
    raw: Vec<RawKey>,
    default_tier: Option<&str>,
) -> Result<Vec<KeyConfig>, ConfigError> {
    let default_tier = match default_tier.filter(|t| !t.trim().is_empty()) {
        Some(t) => Tier::from_field("key_tier", t)?,
        None => Tier::Free,
    };
    let mut keys: Vec<KeyConfig> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut project_tier: std::collections::HashMap<String, (usize, Tier)> =
        std::collections::HashMap::new();
    for (i, k) in raw.into_iter().enumerate() {
        let (key, project, tier) = match k {
            RawKey::Plain(k) => (k, None, None),
            RawKey::Labeled(l) => (l.key, l.project, l.tier),
        };
        let tier = match tier.filter(|t| !t.trim().is_empty()) {
            Some(t) => Tier::from_field(&format!("keys[{i}].tier"), &t)?,
            None => default_tier,
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
        let k = match project.filter(|p| !p.is_empty()) {
            Some(p) => KeyConfig::in_project(key, &p),
            None => KeyConfig::new(key),
        }
        .with_tier(tier);
        match project_tier.get(&k.project) {
            Some((j, t)) if *t != tier => {
                return Err(err(
                    &format!("keys[{i}].tier"),
                    format!(
                        "project {:?} is {t} on keys[{j}] but {tier} here: Google bills a project as one, so its keys must agree",
                        k.project
                    ),
                ))
            }
            _ => {
                project_tier.insert(k.project.clone(), (i, tier));
            }
        }
        keys.push(k);
    }
    if keys.is_empty() {
        return Err(err(
            "keys",
            "no Gemini API key configured: list them under keys: or set GEMINI_API_KEYS",
        ));
    }
    Ok(keys)
}
