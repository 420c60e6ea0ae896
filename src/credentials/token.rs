//! Proxy-key material: new keys and ids from the OS random generator, display prefixes, model
//! allow-list globs, and the two ways of giving an expiry (`expires_at` / `expires_in`).

use chrono::{DateTime, Utc};

/// What every key the gateway issues starts with.
pub const KEY_PREFIX: &str = "gk-";
/// Random characters in a key: 32 base-62 digits ≈ 190 bits.
const KEY_DIGITS: usize = 32;
/// Random characters in a key id: 16 base-62 digits ≈ 95 bits.
const ID_DIGITS: usize = 16;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` uniformly random base-62 characters from the OS generator (bytes ≥ 248 are redrawn, so
/// no digit is more likely than another).
pub(crate) fn base62(n: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf)?;
        for b in buf {
            if out.len() == n {
                break;
            }
            if b < 248 {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

/// A new proxy key: `gk-` and 32 random base-62 characters.
pub fn new_key() -> Result<String, getrandom::Error> {
    Ok(format!("{KEY_PREFIX}{}", base62(KEY_DIGITS)?))
}

/// A new key id: `pk_` and 16 random base-62 characters (never sequential).
pub fn new_id() -> Result<String, getrandom::Error> {
    Ok(format!("pk_{}", base62(ID_DIGITS)?))
}

/// The part of a key kept for display: `gk-` and 4 characters, or the first 4 characters of a
/// key issued elsewhere (an imported Hagemi key).
pub fn display_prefix(key: &str) -> String {
    let keep = if key.starts_with(KEY_PREFIX) {
        KEY_PREFIX.len() + 4
    } else {
        4
    };
    key.chars().take(keep).collect()
}

/// A key's model allow-list: names or `*`-globs (`gemini-2.5-*`); a model is allowed when any
/// entry matches its whole name.
#[derive(Debug, Clone)]
pub struct ModelRules {
    entries: Vec<String>,
    patterns: Vec<glob::Pattern>,
}

impl ModelRules {
    /// Rules from the given entries; `Err` names the first entry that is not a valid pattern.
    pub fn new(entries: Vec<String>) -> Result<ModelRules, String> {
        let mut patterns = Vec::with_capacity(entries.len());
        for e in &entries {
            let t = e.trim();
            if t.is_empty() || t.len() > 200 {
                return Err(format!("{e:?} is not a model name or pattern"));
            }
            let t = t.strip_prefix("models/").unwrap_or(t);
            patterns.push(
                glob::Pattern::new(t)
                    .map_err(|err| format!("{e:?} is not a valid pattern: {err}"))?,
            );
        }
        Ok(ModelRules { entries, patterns })
    }

    /// Rules that allow no model.
    pub fn none() -> ModelRules {
        ModelRules {
            entries: Vec::new(),
            patterns: Vec::new(),
        }
    }

    /// Whether the model (with or without `models/`) is allowed.
    pub fn allows(&self, model: &str) -> bool {
        let m = model.strip_prefix("models/").unwrap_or(model);
        self.patterns.iter().any(|p| p.matches(m))
    }

    /// The entries as given.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Whether the list allows every model (`*`).
    pub fn is_all(&self) -> bool {
        self.patterns.iter().any(|p| p.as_str() == "*")
    }
}

/// An expiry from an API body: `expires_at` (RFC 3339) or `expires_in` (`30d`, `12h`, `90m`).
/// `Err((field, message))` names the field at fault.
pub fn expiry(
    expires_at: Option<&str>,
    expires_in: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, (&'static str, String)> {
    match (expires_at, expires_in) {
        (Some(_), Some(_)) => Err((
            "expires_in",
            "give expires_at or expires_in, not both".into(),
        )),
        (Some(at), None) => DateTime::parse_from_rfc3339(at.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                (
                    "expires_at",
                    format!("{at:?} is not an RFC 3339 time (e.g. 2027-01-31T00:00:00Z)"),
                )
            }),
        (None, Some(d)) => {
            let d = humantime::parse_duration(d.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .ok_or_else(|| {
                    (
                        "expires_in",
                        format!("{d:?} is not a duration such as 30d, 12h or 90m"),
                    )
                })?;
            now.checked_add_signed(d)
                .map(Some)
                .ok_or_else(|| ("expires_in", "is too far in the future".to_string()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_prefixed_long_random_and_distinct() {
        let keys: HashSet<String> = (0..2000).map(|_| new_key().unwrap()).collect();
        assert_eq!(keys.len(), 2000);
        for k in &keys {
            assert!(k.starts_with("gk-") && k.len() == 35, "{k}");
            assert!(k[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        // Every base-62 digit turns up (a biased or truncated alphabet would not).
        let digits: HashSet<char> = keys.iter().flat_map(|k| k[3..].chars()).collect();
        assert_eq!(digits.len(), 62);
        // 32 digits of 62 carry at least 128 bits.
        assert!(32.0 * 62f64.log2() >= 128.0);
        let id = new_id().unwrap();
        assert!(id.starts_with("pk_") && id.len() == 19);
        assert_ne!(new_id().unwrap(), id);
    }

    #[test]
    fn display_prefix_keeps_little() {
        assert_eq!(display_prefix("gk-AbCdEfGh"), "gk-AbCd");
        assert_eq!(display_prefix("hagemiKey1234567890"), "hage");
        assert_eq!(display_prefix("ab"), "ab");
    }

    #[test]
    fn globs_match_whole_names() {
        let r = ModelRules::new(vec![
            "gemini-2.5-*".into(),
            "models/text-embedding-004".into(),
        ])
        .unwrap();
        assert!(r.allows("gemini-2.5-flash"));
        assert!(r.allows("models/gemini-2.5-pro"));
        assert!(r.allows("text-embedding-004"));
        assert!(!r.allows("gemini-3-pro-preview"));
        assert!(!r.allows("xgemini-2.5-flash"));
        assert!(!r.is_all());
        assert!(ModelRules::new(vec!["*".into()])
            .unwrap()
            .allows("anything"));
        assert!(ModelRules::new(vec!["*".into()]).unwrap().is_all());
        assert!(ModelRules::new(vec!["gemini-[".into()]).is_err());
        assert!(ModelRules::new(vec!["".into()]).is_err());
    }

    #[test]
    fn expiry_forms() {
        let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .into();
        assert_eq!(
            expiry(None, Some("30d"), now)
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2026-12-31T00:00:00+00:00"
        );
        assert_eq!(
            expiry(Some("2027-01-01T01:00:00+01:00"), None, now)
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        assert_eq!(expiry(None, None, now).unwrap(), None);
        assert_eq!(
            expiry(Some("tomorrow"), None, now).unwrap_err().0,
            "expires_at"
        );
        assert_eq!(expiry(None, Some("soon"), now).unwrap_err().0, "expires_in");
        assert_eq!(expiry(None, Some("0s"), now).unwrap_err().0, "expires_in");
        assert_eq!(
            expiry(Some("2027-01-01T00:00:00Z"), Some("1d"), now)
                .unwrap_err()
                .0,
            "expires_in"
        );
    }
}
