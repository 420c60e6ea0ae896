//! Paid billing tiers in the limits table (`tiers:` of `data/model_limits.yaml`), and the words
//! that say which limit refused a request and where that limit came from.

use super::limits::{lookup_in, parse_entry, parse_models, LimitKind, ModelLimits};
use crate::config::Tier;
use std::collections::HashMap;

/// One paid tier's quotas: per model, and a default for models it does not list. A model's
/// context window is never the tier's (it comes from the free table).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TierTable {
    models: HashMap<String, ModelLimits>,
    default: ModelLimits,
}

impl TierTable {
    /// The quotas of `model` in this tier (exact, longest `-` prefix, else the tier's default).
    pub fn get(&self, model: &str) -> ModelLimits {
        lookup_in(&self.models, model)
            .copied()
            .unwrap_or(self.default)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    #[serde(default)]
    default: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    models: serde_yaml_ng::Mapping,
}

fn no_window(what: &str, e: &super::limits::RawEntry) -> Result<(), String> {
    if e.sets_window() {
        Err(format!(
            "{what}: a tier sets quotas only (rpm, rpd, tpm_input, tpd_input); the context window belongs in the top-level models"
        ))
    } else {
        Ok(())
    }
}

/// Parse the `tiers:` mapping: `tier1`, `tier2` or `tier3`, each `{default: .., models: ..}`;
/// a tier's default leaves out what it does not limit (no limit).
pub(super) fn parse(raw: serde_yaml_ng::Mapping) -> Result<HashMap<Tier, TierTable>, String> {
    let mut out = HashMap::new();
    for (name, value) in raw {
        let name = name.as_str().unwrap_or_default().to_string();
        let tier = match Tier::parse(&name) {
            Some(t @ (Tier::Tier1 | Tier::Tier2 | Tier::Tier3)) => t,
            _ => {
                return Err(format!(
                    "tiers: `{name}` is not a paid tier (tier1, tier2 or tier3; free is the top-level table, unlimited has none)"
                ))
            }
        };
        let what = format!("tiers.{name}");
        let t: RawTier = serde_yaml_ng::from_value(value).map_err(|e| format!("{what}: {e}"))?;
        let default = match t.default {
            Some(v) => {
                let e = parse_entry(&format!("{what}.default"), v)?;
                no_window(&format!("{what}.default"), &e)?;
                e.resolve(&ModelLimits::default())
            }
            None => ModelLimits::default(),
        };
        let models = parse_models(t.models, &default, &format!("{what}.models"), no_window)?;
        if out.insert(tier, TierTable { models, default }).is_some() {
            return Err(format!("{what}: listed twice"));
        }
    }
    Ok(out)
}

/// Where a limit's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// The table compiled into the binary.
    Builtin,
    /// The operator's limits file (`model_limits.path`).
    File,
    /// Google's 429 for this project and model (with the value it stated, if it did).
    Learned,
}

/// The limit that keeps a model's keys out: its kind, value, source and the group's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit {
    pub kind: LimitKind,
    pub value: Option<u64>,
    pub source: LimitSource,
    pub tier: Tier,
}

impl LimitHit {
    /// `RPM`, `RPD`, `TPM`, `TPD`: how people name the quotas.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            LimitKind::Rpm => "RPM",
            LimitKind::Rpd => "RPD",
            LimitKind::TpmInput => "TPM",
            LimitKind::TpdInput => "TPD",
        }
    }

    /// E.g. `its RPM limit of 5 (the built-in table for tier free)`.
    pub fn describe(&self) -> String {
        let value = self.value.map_or_else(String::new, |v| format!(" of {v}"));
        let source = match self.source {
            LimitSource::Builtin => format!("the built-in table for tier {}", self.tier),
            LimitSource::File => format!("the model limits file, tier {}", self.tier),
            LimitSource::Learned => "learned from Google's 429 for this project".to_string(),
        };
        format!("its {} limit{value} ({source})", self.kind_name())
    }

    /// What an operator can do about it (for the log, not the client).
    pub fn advice(&self) -> &'static str {
        match (self.source, self.tier) {
            (LimitSource::Learned, _) => {
                "Google stated this limit; it applies until Google's quota changes (a higher tier raises it)"
            }
            (_, Tier::Free) => {
                "paid-tier keys: declare their tier (keys[].tier or GEMINI_KEY_TIER: tier1, tier2, tier3, unlimited); other limits: model_limits.path (MODEL_LIMITS_PATH), or ENFORCE_MODEL_LIMITS=false to let Google judge"
            }
            _ => {
                "raise the tier's numbers in a model limits file (model_limits.path / MODEL_LIMITS_PATH), declare a higher tier, or ENFORCE_MODEL_LIMITS=false to let Google judge"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::limits::LimitsTable;

    const FILE: &str = "default: {rpm: 10, rpd: 250, tpm_input: 1000, tpd_input: null, input_token_limit: 100, output_token_limit: 50}
models:
  gemini-2.5-flash: {rpm: 5, rpd: 20, input_token_limit: 2000}
tiers:
  tier1:
    default: {rpm: 1000, rpd: 10000}
    models:
      gemini-2.5-flash: {rpm: 1000, rpd: 10000, tpm_input: 1000000}
  tier2:
    default: {rpm: 2000}
";

    #[test]
    fn a_tier_gives_quotas_and_the_free_table_the_window() {
        let t = LimitsTable::from_yaml(FILE).unwrap();
        let free = t.get_in(Tier::Free, "gemini-2.5-flash");
        assert_eq!(
            (free.rpm, free.rpd, free.input_token_limit),
            (Some(5), Some(20), Some(2000))
        );
        let one = t.get_in(Tier::Tier1, "gemini-2.5-flash-preview-09-2025");
        assert_eq!(
            (one.rpm, one.rpd, one.tpm_input, one.tpd_input),
            (Some(1000), Some(10000), Some(1_000_000), None)
        );
        assert_eq!(
            one.input_token_limit,
            Some(2000),
            "the window is the model's"
        );
        let other = t.get_in(Tier::Tier1, "gemini-9-unknown");
        assert_eq!(
            (other.rpm, other.rpd, other.tpm_input),
            (Some(1000), Some(10000), None)
        );
        let two = t.get_in(Tier::Tier2, "gemini-2.5-flash");
        assert_eq!((two.rpm, two.rpd), (Some(2000), None));
        // unlisted paid tier and unlimited: no quotas, the window stays
        for tier in [Tier::Tier3, Tier::Unlimited] {
            let l = t.get_in(tier, "gemini-2.5-flash");
            assert_eq!(
                (l.rpm, l.rpd, l.tpm_input, l.tpd_input),
                (None, None, None, None)
            );
            assert_eq!(l.output_token_limit, Some(50));
        }
        assert_eq!(t.tiers(), vec![Tier::Tier1, Tier::Tier2]);
    }

    #[test]
    fn bad_tier_tables_are_named() {
        for (text, says) in [
            ("tiers:\n  tier9: {}\n", "tier9"),
            ("tiers:\n  free: {}\n", "free"),
            (
                "tiers:\n  tier1: {default: {rpm: 1, input_token_limit: 5}}\n",
                "tiers.tier1.default",
            ),
            (
                "tiers:\n  tier1: {models: {m: {output_token_limit: 5}}}\n",
                "tiers.tier1.models: model `m`",
            ),
            ("tiers:\n  tier1: {models: {m: {rpx: 5}}}\n", "rpx"),
            ("tiers:\n  tier1: {nope: 1}\n", "nope"),
        ] {
            let e = LimitsTable::from_yaml(&format!("default: {{rpm: 1}}\n{text}")).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn the_builtin_table_has_every_paid_tier_above_the_free_numbers() {
        let t = LimitsTable::builtin();
        assert_eq!(t.tiers(), vec![Tier::Tier1, Tier::Tier2, Tier::Tier3]);
        for model in [
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gemini-2.5-flash-lite",
            "gemini-3-flash-preview",
        ] {
            let free = t.get_in(Tier::Free, model);
            let mut last = free;
            for tier in [Tier::Tier1, Tier::Tier2, Tier::Tier3] {
                let l = t.get_in(tier, model);
                for kind in LimitKind::ALL {
                    let (a, b) = (last.limit(kind), l.limit(kind));
                    let higher = match (a, b) {
                        (_, None) => true,
                        (None, Some(_)) => false,
                        (Some(a), Some(b)) => b >= a,
                    };
                    assert!(higher, "{model} {tier} {kind}: {b:?} below {a:?}");
                }
                assert_eq!(l.input_token_limit, free.input_token_limit);
                last = l;
            }
            assert!(
                t.get_in(Tier::Tier1, model).rpm.unwrap_or(u64::MAX) >= 10 * free.rpm.unwrap_or(1)
            );
        }
    }

    #[test]
    fn a_quota_google_named_without_a_value_is_not_blamed_on_the_table() {
        let l = crate::upstream::limits::Limits::new(None).unwrap();
        let google = l.explain("g", "gemini-2.5-flash", LimitKind::Rpm, true);
        assert_eq!((google.source, google.value), (LimitSource::Learned, None));
        assert_eq!(
            google.describe(),
            "its RPM limit (learned from Google's 429 for this project)"
        );
        let ours = l.explain("g", "gemini-2.5-flash", LimitKind::Rpm, false);
        assert_eq!((ours.source, ours.value), (LimitSource::Builtin, Some(5)));
    }

    #[test]
    fn the_words_name_the_limit_its_value_and_its_source() {
        let hit = LimitHit {
            kind: LimitKind::Rpm,
            value: Some(5),
            source: LimitSource::Builtin,
            tier: Tier::Free,
        };
        assert_eq!(
            hit.describe(),
            "its RPM limit of 5 (the built-in table for tier free)"
        );
        assert!(hit.advice().contains("GEMINI_KEY_TIER"));
        let learned = LimitHit {
            kind: LimitKind::TpdInput,
            value: Some(0),
            source: LimitSource::Learned,
            tier: Tier::Tier1,
        };
        assert_eq!(
            learned.describe(),
            "its TPD limit of 0 (learned from Google's 429 for this project)"
        );
        let file = LimitHit {
            source: LimitSource::File,
            tier: Tier::Tier2,
            ..hit
        };
        assert_eq!(
            file.describe(),
            "its RPM limit of 5 (the model limits file, tier tier2)"
        );
    }
}
