//! Per-model quota limits: a YAML prior (`data/model_limits.yaml`) overridden by the limits Google states in 429s.
//!
//! Google applies limits per Cloud project and changes its free tier often, so the file is only a
//! starting point: when a 429's `QuotaFailure` names a quota (`quotaId`) and its value
//! (`quotaValue`), [`Limits::learn`] records that value for the key group and model, and it wins
//! over the file from then on. See `docs/model-limits.md`.

use super::classify::QuotaHit;
use super::tiers::{self, LimitHit, LimitSource, TierTable};
use crate::config::Tier;
use crate::sync::{lock, read, write};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The file compiled into the binary, used when no path is configured.
const BUILTIN_YAML: &str = include_str!("../../data/model_limits.yaml");

/// Used for fields the file's `default` leaves out, and if the built-in file ever failed to parse.
const HARD_DEFAULT: ModelLimits = ModelLimits {
    rpm: Some(10),
    rpd: Some(250),
    tpm_input: Some(250_000),
    tpd_input: None,
    input_token_limit: Some(1_048_576),
    output_token_limit: Some(65_536),
};

/// One model's limits. `None` means no limit; `Some(0)` means the quota is zero (not available).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Requests per Pacific day.
    pub rpd: Option<u64>,
    /// Input tokens per minute.
    pub tpm_input: Option<u64>,
    /// Input tokens per Pacific day.
    pub tpd_input: Option<u64>,
    /// Context window in tokens.
    pub input_token_limit: Option<u64>,
    /// Maximum output tokens.
    pub output_token_limit: Option<u64>,
}

impl ModelLimits {
    /// The quota of one kind.
    pub fn limit(&self, kind: LimitKind) -> Option<u64> {
        match kind {
            LimitKind::Rpm => self.rpm,
            LimitKind::Rpd => self.rpd,
            LimitKind::TpmInput => self.tpm_input,
            LimitKind::TpdInput => self.tpd_input,
        }
    }

    fn set(&mut self, kind: LimitKind, value: Option<u64>) {
        match kind {
            LimitKind::Rpm => self.rpm = value,
            LimitKind::Rpd => self.rpd = value,
            LimitKind::TpmInput => self.tpm_input = value,
            LimitKind::TpdInput => self.tpd_input = value,
        }
    }
}

/// Which limit a Google quotaId refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    Rpm,
    Rpd,
    TpmInput,
    TpdInput,
}

impl LimitKind {
    /// Every kind, in display order.
    pub const ALL: [LimitKind; 4] = [
        LimitKind::Rpm,
        LimitKind::Rpd,
        LimitKind::TpmInput,
        LimitKind::TpdInput,
    ];

    /// The field name used in the limits file and in JSON (`rpm`, `rpd`, `tpm_input`, `tpd_input`).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Rpd => "rpd",
            LimitKind::TpmInput => "tpm_input",
            LimitKind::TpdInput => "tpd_input",
        }
    }

    /// Whether the quota resets at Pacific midnight (rather than every minute).
    pub fn is_daily(self) -> bool {
        matches!(self, LimitKind::Rpd | LimitKind::TpdInput)
    }
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which limit a Google `quotaId` refers to, e.g.
/// `GenerateRequestsPerMinutePerProjectPerModel-FreeTier` → [`LimitKind::Rpm`],
/// `GenerateRequestsPerDayPerProjectPerModel-FreeTier` → [`LimitKind::Rpd`],
/// `GenerateContentInputTokensPerModelPerMinute-FreeTier` → [`LimitKind::TpmInput`],
/// `GenerateContentInputTokensPerModelPerDay-FreeTier` → [`LimitKind::TpdInput`].
/// Paid-tier and embedding ids follow the same words. `None` for anything else (output tokens,
/// images, per-second quotas, unknown ids).
pub fn limit_kind(quota_id: &str) -> Option<LimitKind> {
    let id = quota_id.to_ascii_lowercase();
    let per_minute = id.contains("perminute");
    let per_day = id.contains("perday");
    if per_minute == per_day {
        return None;
    }
    if id.contains("token") {
        if id.contains("output") {
            return None;
        }
        return Some(if per_minute {
            LimitKind::TpmInput
        } else {
            LimitKind::TpdInput
        });
    }
    if id.contains("request") {
        return Some(if per_minute {
            LimitKind::Rpm
        } else {
            LimitKind::Rpd
        });
    }
    None
}

/// A model id without the `models/` resource prefix.
fn normalize(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// `Some(None)` for an explicit `null`, `None` (via `default`) for a field left out.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

/// One entry as written in the file: a left-out field inherits, `null` means unlimited.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a map of limits such as {rpm: 10, rpd: 250}"
)]
pub(super) struct RawEntry {
    #[serde(default, deserialize_with = "present")]
    rpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    rpd: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    tpm_input: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    tpd_input: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    input_token_limit: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    output_token_limit: Option<Option<u64>>,
}

impl RawEntry {
    /// True when the entry sets a context-window field (not allowed in a tier's table).
    pub(super) fn sets_window(&self) -> bool {
        self.input_token_limit.is_some() || self.output_token_limit.is_some()
    }

    pub(super) fn resolve(self, base: &ModelLimits) -> ModelLimits {
        ModelLimits {
            rpm: self.rpm.unwrap_or(base.rpm),
            rpd: self.rpd.unwrap_or(base.rpd),
            tpm_input: self.tpm_input.unwrap_or(base.tpm_input),
            tpd_input: self.tpd_input.unwrap_or(base.tpd_input),
            input_token_limit: self.input_token_limit.unwrap_or(base.input_token_limit),
            output_token_limit: self.output_token_limit.unwrap_or(base.output_token_limit),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    default: Option<serde_yaml_ng::Value>,
    /// A `Mapping` (not a map type) so that a model listed twice is an error, not last-wins.
    #[serde(default)]
    models: serde_yaml_ng::Mapping,
    /// Paid tiers: `tier1: {default: .., models: ..}`, ... (see [`super::tiers`]).
    #[serde(default)]
    tiers: serde_yaml_ng::Mapping,
}

pub(super) fn parse_entry(what: &str, value: serde_yaml_ng::Value) -> Result<RawEntry, String> {
    serde_yaml_ng::from_value::<RawEntry>(value).map_err(|e| format!("{what}: {e}"))
}

/// The limits of every configured model plus the default for the rest (the free tier), and the
/// quota tables of the paid tiers.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsTable {
    models: HashMap<String, ModelLimits>,
    default: ModelLimits,
    tiers: HashMap<Tier, TierTable>,
}

/// Parse a `models:` mapping, each entry resolved against `base`; `check` vets each raw entry.
pub(super) fn parse_models(
    raw: serde_yaml_ng::Mapping,
    base: &ModelLimits,
    what: &str,
    check: impl Fn(&str, &RawEntry) -> Result<(), String>,
) -> Result<HashMap<String, ModelLimits>, String> {
    let mut models = HashMap::with_capacity(raw.len());
    for (name, value) in raw {
        let name = match name {
            serde_yaml_ng::Value::String(s) => s,
            other => {
                return Err(format!(
                    "{what}: a model id must be a string, not {other:?}"
                ))
            }
        };
        let id = normalize(name.trim());
        if id.is_empty() {
            return Err(format!("{what}: model `{name}`: the model id is empty"));
        }
        let label = format!("{what}: model `{id}`");
        let entry = parse_entry(&label, value)?;
        check(&label, &entry)?;
        if models.insert(id.to_owned(), entry.resolve(base)).is_some() {
            return Err(format!("{label}: listed twice"));
        }
    }
    Ok(models)
}

/// The entry a model id resolves to in `models`: exact, else the longest prefix on a `-` boundary.
pub(super) fn lookup_in<'a>(
    models: &'a HashMap<String, ModelLimits>,
    model: &str,
) -> Option<&'a ModelLimits> {
    let mut id = normalize(model);
    loop {
        if let Some(l) = models.get(id) {
            return Some(l);
        }
        id = &id[..id.rfind('-')?];
    }
}

impl LimitsTable {
    /// Parse the YAML format of `data/model_limits.yaml`. Unknown fields are rejected; errors name
    /// the model and field.
    pub fn from_yaml(text: &str) -> Result<LimitsTable, String> {
        if text.trim().is_empty() {
            return Err("the file is empty".into());
        }
        let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let default = match raw.default {
            Some(v) => parse_entry("default", v)?.resolve(&HARD_DEFAULT),
            None => HARD_DEFAULT,
        };
        let models = parse_models(raw.models, &default, "models", |_, _| Ok(()))?;
        let tiers = tiers::parse(raw.tiers)?;
        Ok(LimitsTable {
            models,
            default,
            tiers,
        })
    }

    /// The table compiled into the binary (`data/model_limits.yaml`). Falls back to a table with
    /// only a hard-coded default if that ever failed to parse (a test guards against it).
    pub fn builtin() -> LimitsTable {
        match LimitsTable::from_yaml(BUILTIN_YAML) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "built-in model limits do not parse; using a hard default for every model");
                LimitsTable {
                    models: HashMap::new(),
                    default: HARD_DEFAULT,
                    tiers: HashMap::new(),
                }
            }
        }
    }

    /// Limits for a model id (with or without `models/`): exact match, else the longest configured
    /// prefix match on a `-` boundary (e.g. `gemini-2.5-flash-preview-09-2025` → `gemini-2.5-flash`),
    /// else the default.
    pub fn get(&self, model: &str) -> ModelLimits {
        self.lookup(model).copied().unwrap_or(self.default)
    }

    /// The configured entry a model id resolves to, if any (not the default).
    pub fn lookup(&self, model: &str) -> Option<&ModelLimits> {
        lookup_in(&self.models, model)
    }

    /// Limits for a model in a billing tier: the model's context window from the free table, its
    /// quotas from the tier's table (`unlimited`, or a tier the file does not list: no quotas).
    pub fn get_in(&self, tier: Tier, model: &str) -> ModelLimits {
        let base = self.get(model);
        if tier == Tier::Free {
            return base;
        }
        let quotas = self
            .tiers
            .get(&tier)
            .map(|t| t.get(model))
            .unwrap_or_default();
        ModelLimits {
            input_token_limit: base.input_token_limit,
            output_token_limit: base.output_token_limit,
            ..quotas
        }
    }

    /// The paid tiers this table lists.
    pub fn tiers(&self) -> Vec<Tier> {
        let mut v: Vec<Tier> = self.tiers.keys().copied().collect();
        v.sort();
        v
    }

    /// The limits used for models the table does not list.
    pub fn default_limits(&self) -> ModelLimits {
        self.default
    }

    /// The configured model ids, sorted.
    pub fn models(&self) -> Vec<String> {
        let mut v: Vec<String> = self.models.keys().cloned().collect();
        v.sort();
        v
    }
}

/// What identifies one version of the limits file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileStamp {
    Present {
        mtime: Option<SystemTime>,
        len: u64,
    },
    /// Missing or unreadable metadata (reported once, like a parse error).
    Unreadable,
}

fn stamp_of(path: &Path) -> FileStamp {
    match std::fs::metadata(path) {
        Ok(meta) => FileStamp::Present {
            mtime: meta.modified().ok(),
            len: meta.len(),
        },
        Err(_) => FileStamp::Unreadable,
    }
}

fn load_file(path: &Path) -> Result<LimitsTable, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read model limits file {}: {e}", path.display()))?;
    LimitsTable::from_yaml(&text).map_err(|e| format!("model limits file {}: {e}", path.display()))
}

/// Learned quotas of one (group, model): only the four quota kinds are ever set.
type Learned = ModelLimits;

/// The live table: a file (reloaded when its mtime changes or on demand), plus limits learned from
/// 429s per (group, model), which win over the file.
pub struct Limits {
    path: Option<PathBuf>,
    table: RwLock<Arc<LimitsTable>>,
    /// Stamp of the file version last read (successfully or not); also serialises reloads.
    stamp: Mutex<Option<FileStamp>>,
    /// group → model → learned quotas.
    learned: RwLock<HashMap<String, HashMap<String, Learned>>>,
    /// Fast path for `get` while nothing has been learned.
    any_learned: AtomicBool,
    /// The billing tier of each key group that is not on the free tier.
    group_tiers: HashMap<String, Tier>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("path", &self.path)
            .field("models", &self.table().models.len())
            .field("learned", &self.learned().len())
            .finish()
    }
}

impl Limits {
    /// `None` uses the built-in table; `Some(path)` must load, or the error names the path.
    pub fn new(path: Option<PathBuf>) -> Result<Limits, String> {
        let (table, stamp) = match &path {
            None => (LimitsTable::builtin(), None),
            Some(p) => {
                let stamp = stamp_of(p);
                (load_file(p)?, Some(stamp))
            }
        };
        Ok(Limits {
            path,
            table: RwLock::new(Arc::new(table)),
            stamp: Mutex::new(stamp),
            learned: RwLock::new(HashMap::new()),
            any_learned: AtomicBool::new(false),
            group_tiers: HashMap::new(),
        })
    }

    /// Set each key group's billing tier (groups left out are free tier). A paid tier the table
    /// does not list is warned about: its keys get no quota pre-check.
    pub fn with_tiers(mut self, tiers: impl IntoIterator<Item = (String, Tier)>) -> Limits {
        self.group_tiers = tiers
            .into_iter()
            .filter(|(_, t)| *t != Tier::Free)
            .collect();
        let listed = self.table().tiers();
        for t in self.group_tiers.values() {
            if *t != Tier::Unlimited && !listed.contains(t) {
                tracing::warn!(tier = %t, file = ?self.path, "keys declare a tier the model limits table does not list: no quota pre-check for them");
            }
        }
        self
    }

    /// The billing tier of a key group.
    pub fn tier_of(&self, group: &str) -> Tier {
        if self.group_tiers.is_empty() {
            return Tier::Free;
        }
        self.group_tiers.get(group).copied().unwrap_or_default()
    }

    /// Which limit of `kind` applies to `group` and `model`, its value, and where it comes from;
    /// `by_google`: Google's 429 named it (its value is then what Google stated, if it did).
    pub fn explain(&self, group: &str, model: &str, kind: LimitKind, by_google: bool) -> LimitHit {
        let learned = read(&self.learned)
            .get(group)
            .and_then(|m| m.get(normalize(model)))
            .and_then(|l| l.limit(kind));
        let tier = self.tier_of(group);
        let (value, source) = if learned.is_some() || by_google {
            (learned, LimitSource::Learned)
        } else if self.path.is_some() {
            (self.table_value(tier, model, kind), LimitSource::File)
        } else {
            (self.table_value(tier, model, kind), LimitSource::Builtin)
        };
        LimitHit {
            kind,
            value,
            source,
            tier,
        }
    }

    fn table_value(&self, tier: Tier, model: &str, kind: LimitKind) -> Option<u64> {
        read(&self.table).get_in(tier, model).limit(kind)
    }

    /// The file/built-in table currently in force (without learned values).
    pub fn table(&self) -> Arc<LimitsTable> {
        read(&self.table).clone()
    }

    /// The limits for `model` in key group `group`: the file's value, overridden by any value
    /// learned from a 429 for that group and model. Cheap: two uncontended read locks at most.
    pub fn get(&self, group: &str, model: &str) -> ModelLimits {
        let mut limits = read(&self.table).get_in(self.tier_of(group), model);
        if !self.any_learned.load(Ordering::Acquire) {
            return limits;
        }
        let learned = read(&self.learned);
        if let Some(l) = learned.get(group).and_then(|m| m.get(normalize(model))) {
            for kind in LimitKind::ALL {
                if let Some(v) = l.limit(kind) {
                    limits.set(kind, Some(v));
                }
            }
        }
        limits
    }

    /// Record the limit a 429 stated (`quotaValue` for the kind of `quotaId`) for this group and
    /// model. Returns true if the learned value changed; a hit without a recognised quota id or
    /// without a value changes nothing.
    pub fn learn(&self, group: &str, model: &str, hit: &QuotaHit) -> bool {
        let Some(kind) = limit_kind(&hit.quota_id) else {
            tracing::debug!(group, model, quota_id = %hit.quota_id, "429 quota id not recognised; nothing learned");
            return false;
        };
        let Some(value) = hit.quota_value else {
            return false;
        };
        let model = normalize(model);
        let previous = {
            let mut learned = write(&self.learned);
            let entry = learned
                .entry(group.to_owned())
                .or_default()
                .entry(model.to_owned())
                .or_default();
            let previous = entry.limit(kind);
            if previous == Some(value) {
                return false;
            }
            entry.set(kind, Some(value));
            previous
        };
        self.any_learned.store(true, Ordering::Release);
        let file_value = self.table().get(model).limit(kind);
        tracing::info!(
            group,
            model,
            kind = kind.as_str(),
            value,
            previous = ?previous,
            file = ?file_value,
            "quota limit learned from a 429; it overrides the limits file for this group and model"
        );
        true
    }

    /// Every learned limit as (group, model, kind, value), sorted.
    pub fn learned(&self) -> Vec<(String, String, LimitKind, u64)> {
        let learned = read(&self.learned);
        let mut out = Vec::new();
        for (group, models) in learned.iter() {
            for (model, l) in models {
                for kind in LimitKind::ALL {
                    if let Some(v) = l.limit(kind) {
                        out.push((group.clone(), model.clone(), kind, v));
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Reload the file if its modification time (or size) changed since it was last read.
    /// `Ok(false)`: unchanged, or no file configured. On a read or parse error the old table stays
    /// and the error is returned, once per change of the file.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let mut seen = lock(&self.stamp);
        let stamp = stamp_of(path);
        if *seen == Some(stamp) {
            return Ok(false);
        }
        // Taken before reading: if the file changes again while it is read, the next check reloads.
        *seen = Some(stamp);
        self.install(load_file(path)?, path);
        Ok(true)
    }

    /// Reload the file now (SIGHUP). On error the old table stays. No-op without a file.
    pub fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut seen = lock(&self.stamp);
        let stamp = stamp_of(path);
        let table = load_file(path)?;
        *seen = Some(stamp);
        self.install(table, path);
        Ok(())
    }

    fn install(&self, table: LimitsTable, path: &Path) {
        let models = table.models.len();
        *write(&self.table) = Arc::new(table);
        tracing::info!(path = %path.display(), models, "model limits loaded");
    }

    /// The configured file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    const SMALL: &str = "
default: {rpm: 10, rpd: 250, tpm_input: 250000, tpd_input: null, input_token_limit: 1048576, output_token_limit: 65536}
models:
  gemini-2.5-flash: {rpm: 5, rpd: 20, tpm_input: 250000, tpd_input: null, input_token_limit: 1048576, output_token_limit: 65536}
  gemini-2.5-flash-lite: {rpm: 10, rpd: 20, tpm_input: 250000, tpd_input: null, input_token_limit: 1048576, output_token_limit: 65536}
  gemini-2.5-pro: {rpm: 2, rpd: null}
";

    fn hit(id: &str, value: Option<u64>) -> QuotaHit {
        QuotaHit {
            quota_id: id.into(),
            quota_metric: None,
            quota_value: value,
        }
    }

    #[test]
    fn parses_and_inherits_left_out_fields_from_default() {
        let t = LimitsTable::from_yaml(SMALL).unwrap();
        assert_eq!(
            t.models(),
            vec![
                "gemini-2.5-flash",
                "gemini-2.5-flash-lite",
                "gemini-2.5-pro"
            ]
        );
        let f = t.get("gemini-2.5-flash");
        assert_eq!(
            (f.rpm, f.rpd, f.tpm_input, f.tpd_input),
            (Some(5), Some(20), Some(250_000), None)
        );
        // `null` = unlimited; left out = the default's value.
        let p = t.get("gemini-2.5-pro");
        assert_eq!(p.rpm, Some(2));
        assert_eq!(p.rpd, None);
        assert_eq!(p.tpm_input, Some(250_000));
        assert_eq!(p.output_token_limit, Some(65_536));
    }

    #[test]
    fn unknown_fields_are_rejected_naming_model_and_field() {
        let e = LimitsTable::from_yaml("models:\n  gemini-x: {rpn: 5}\n").unwrap_err();
        assert!(e.contains("gemini-x") && e.contains("rpn"), "{e}");
        let e = LimitsTable::from_yaml("default: {rpm: 5, tpd: 1}\n").unwrap_err();
        assert!(e.contains("default") && e.contains("tpd"), "{e}");
        let e = LimitsTable::from_yaml("defaults: {rpm: 5}\n").unwrap_err();
        assert!(e.contains("defaults"), "{e}");
        let e = LimitsTable::from_yaml("models:\n  gemini-x: {rpm: -1}\n").unwrap_err();
        assert!(e.contains("gemini-x"), "{e}");
        let e =
            LimitsTable::from_yaml("models:\n  gemini-x: {rpm: 1}\n  models/gemini-x: {rpm: 2}\n")
                .unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn duplicates_empty_files_and_odd_entries() {
        let e = LimitsTable::from_yaml("models:\n  a: {rpm: 1}\n  a: {rpm: 2}\n").unwrap_err();
        assert!(e.contains("duplicate") && e.contains('a'), "{e}");
        // An empty file (e.g. caught mid-write) is an error, never an all-default table.
        assert!(LimitsTable::from_yaml("").is_err());
        assert!(LimitsTable::from_yaml(" \n").is_err());
        let e = LimitsTable::from_yaml("models:\n  gemini-x: 5\n").unwrap_err();
        assert!(e.contains("gemini-x"), "{e}");
        let e = LimitsTable::from_yaml("models:\n  1.5: {rpm: 1}\n").unwrap_err();
        assert!(e.contains("string"), "{e}");
        // An entry with no fields takes everything from the default.
        let t = LimitsTable::from_yaml("default: {rpm: 3}\nmodels:\n  a:\n").unwrap();
        assert_eq!(t.get("a").rpm, Some(3));
        assert_eq!(t.models(), vec!["a"]);
    }

    #[test]
    fn prefix_match_on_dash_boundary_and_models_prefix() {
        let t = LimitsTable::from_yaml(SMALL).unwrap();
        assert_eq!(t.get("models/gemini-2.5-flash").rpm, Some(5));
        assert_eq!(t.get("gemini-2.5-flash-preview-09-2025").rpm, Some(5));
        // The longest prefix wins.
        assert_eq!(t.get("gemini-2.5-flash-lite-preview-06-17").rpm, Some(10));
        assert_eq!(t.get("models/gemini-2.5-flash-lite-001").rpd, Some(20));
        // Not on a `-` boundary: no match.
        assert_eq!(t.lookup("gemini-2.5-flashy"), None);
        assert_eq!(t.get("gemini-2.5-flashy"), t.default_limits());
    }

    #[test]
    fn default_fallback() {
        let t = LimitsTable::from_yaml(SMALL).unwrap();
        assert_eq!(t.get("some-new-model").rpm, Some(10));
        assert_eq!(t.get("").rpd, Some(250));
        // No `default` at all: the hard default.
        let t = LimitsTable::from_yaml("models: {}\n").unwrap();
        assert_eq!(t.get("x"), HARD_DEFAULT);
    }

    #[test]
    fn builtin_parses_and_has_the_seed_and_current_models() {
        let t = LimitsTable::from_yaml(BUILTIN_YAML).unwrap();
        let models = t.models();
        for m in [
            // every entry of Hagemi's 2025-05 file
            "gemini-1.5-flash-latest",
            "gemini-1.5-flash",
            "gemini-1.5-flash-8b-latest",
            "gemini-1.5-flash-8b",
            "gemini-1.5-pro-latest",
            "gemini-1.5-pro",
            "gemini-2.0-flash",
            "gemini-2.0-flash-exp-image-generation",
            "gemini-2.0-flash-lite",
            "gemini-2.0-flash-live-001",
            "gemini-2.0-flash-thinking-exp-01-21",
            "gemini-2.5-flash-preview-04-17",
            "gemini-2.5-pro-exp-03-25",
            "gemini-2.5-pro-preview-03-25",
            "gemma-3-1b-it",
            "gemma-3-4b-it",
            "gemma-3-12b-it",
            "gemma-3-27b-it",
            "embedding-001",
            "text-embedding-004",
            "gemini-embedding-exp-03-07",
            "aqa",
            "imagen-3.0-generate-002",
            // current models
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-2.5-pro",
            "gemini-3-flash-preview",
            "gemini-3-pro-preview",
            "gemini-embedding-001",
        ] {
            assert!(models.iter().any(|x| x == m), "{m} missing");
        }
        assert_eq!(LimitsTable::builtin(), t);
        assert_eq!(t.get("gemini-2.5-pro-exp-03-25").tpd_input, Some(1_000_000));
        assert_eq!(t.get("gemini-embedding-001").output_token_limit, None);
        // No model in the shipped file has a zero quota (see the file's "err high" note).
        for m in &models {
            let l = t.get(m);
            for k in LimitKind::ALL {
                assert_ne!(l.limit(k), Some(0), "{m} {k}");
            }
        }
    }

    #[test]
    fn limit_kind_of_real_quota_ids() {
        let cases = [
            (
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                Some(LimitKind::Rpm),
            ),
            (
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                Some(LimitKind::Rpd),
            ),
            (
                "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                Some(LimitKind::TpmInput),
            ),
            (
                "GenerateContentInputTokensPerModelPerDay-FreeTier",
                Some(LimitKind::TpdInput),
            ),
            (
                "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier",
                Some(LimitKind::Rpm),
            ),
            (
                "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier",
                Some(LimitKind::Rpd),
            ),
            (
                "EmbedContentInputTokensPerModelPerMinute-FreeTier",
                Some(LimitKind::TpmInput),
            ),
            (
                "GenerateRequestsPerMinutePerProjectPerModel",
                Some(LimitKind::Rpm),
            ),
            (
                "GenerateContentPaidTierInputTokensPerModelPerMinute",
                Some(LimitKind::TpmInput),
            ),
            ("GenerateContentOutputTokensPerModelPerMinute", None),
            ("GenerateRequestsPerSecondPerProject", None),
            ("SomethingElse", None),
            ("", None),
        ];
        for (id, want) in cases {
            assert_eq!(limit_kind(id), want, "{id}");
        }
    }

    #[test]
    fn limit_kind_matches_the_simulators_ids() {
        // The ids gemini-sim sends (crates/gemini-sim/src/quota.rs).
        let src = include_str!("../../crates/gemini-sim/src/quota.rs");
        let mut seen = 0;
        for id in src.split('"').filter(|s| s.ends_with("-FreeTier")) {
            assert!(limit_kind(id).is_some(), "{id}");
            seen += 1;
        }
        assert!(seen >= 6, "{seen}");
    }

    #[test]
    fn learning_overrides_only_that_group_and_model() {
        let l = Limits::new(None).unwrap();
        let before = l.get("p1", "gemini-2.5-flash");
        assert!(l.learned().is_empty());
        assert!(l.learn(
            "p1",
            "models/gemini-2.5-flash",
            &hit("GenerateRequestsPerDayPerProjectPerModel-FreeTier", Some(7))
        ));
        // Same value again: nothing changed.
        assert!(!l.learn(
            "p1",
            "gemini-2.5-flash",
            &hit("GenerateRequestsPerDayPerProjectPerModel-FreeTier", Some(7))
        ));
        // No value or an unknown id: nothing learned.
        assert!(!l.learn(
            "p1",
            "gemini-2.5-flash",
            &hit("GenerateRequestsPerDayPerProjectPerModel-FreeTier", None)
        ));
        assert!(!l.learn("p1", "gemini-2.5-flash", &hit("Weird", Some(1))));

        let after = l.get("p1", "gemini-2.5-flash");
        assert_eq!(after.rpd, Some(7));
        assert_eq!(after.rpm, before.rpm);
        assert_eq!(l.get("p1", "models/gemini-2.5-flash").rpd, Some(7));
        assert_eq!(l.get("p2", "gemini-2.5-flash"), before);
        assert_eq!(l.get("p1", "gemini-2.5-pro"), l.get("p2", "gemini-2.5-pro"));
        // A learned value is for that exact model, not for ids that prefix-match it.
        assert_eq!(l.get("p1", "gemini-2.5-flash-preview-09-2025"), before);

        assert!(l.learn(
            "p1",
            "gemini-2.5-flash",
            &hit(
                "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                Some(125_000)
            )
        ));
        assert_eq!(
            l.learned(),
            vec![
                ("p1".into(), "gemini-2.5-flash".into(), LimitKind::Rpd, 7),
                (
                    "p1".into(),
                    "gemini-2.5-flash".into(),
                    LimitKind::TpmInput,
                    125_000
                ),
            ]
        );
        // Zero is a real answer (no quota on this tier).
        assert!(l.learn(
            "p2",
            "gemini-2.5-pro",
            &hit("GenerateRequestsPerDayPerProjectPerModel-FreeTier", Some(0))
        ));
        assert_eq!(l.get("p2", "gemini-2.5-pro").rpd, Some(0));
    }

    #[test]
    fn learned_values_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("limits.yaml");
        std::fs::write(&path, SMALL).unwrap();
        let l = Limits::new(Some(path.clone())).unwrap();
        l.learn(
            "g",
            "gemini-2.5-flash",
            &hit(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                Some(3),
            ),
        );
        l.reload().unwrap();
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(3));
    }

    fn write_with_mtime(path: &Path, text: &str, mtime: SystemTime) {
        let mut f = std::fs::File::create(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f.set_modified(mtime).unwrap();
    }

    #[test]
    fn reloads_when_the_mtime_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("limits.yaml");
        let t0 = SystemTime::now() - Duration::from_secs(100);
        write_with_mtime(&path, SMALL, t0);
        let l = Limits::new(Some(path.clone())).unwrap();
        assert_eq!(l.path(), Some(path.as_path()));
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(5));
        assert_eq!(l.reload_if_changed(), Ok(false));

        let edited = SMALL.replace("{rpm: 5,", "{rpm: 6,");
        write_with_mtime(&path, &edited, t0 + Duration::from_secs(10));
        assert_eq!(l.reload_if_changed(), Ok(true));
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(6));
        assert_eq!(l.reload_if_changed(), Ok(false));

        // Same mtime, different size: also a change.
        let edited = SMALL.replace("{rpm: 5,", "{rpm: 60,");
        write_with_mtime(&path, &edited, t0 + Duration::from_secs(10));
        assert_eq!(l.reload_if_changed(), Ok(true));
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(60));
    }

    #[test]
    fn a_broken_file_keeps_the_old_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("limits.yaml");
        let t0 = SystemTime::now() - Duration::from_secs(100);
        write_with_mtime(&path, SMALL, t0);
        let l = Limits::new(Some(path.clone())).unwrap();

        write_with_mtime(
            &path,
            "models:\n  gemini-2.5-flash: {rpm: 1, bogus: 2}\n",
            t0 + Duration::from_secs(10),
        );
        let e = l.reload_if_changed().unwrap_err();
        assert!(e.contains("bogus") && e.contains("limits.yaml"), "{e}");
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(5));
        // Reported once per change of the file, not on every check.
        assert_eq!(l.reload_if_changed(), Ok(false));
        // A forced reload reports it again.
        assert!(l.reload().is_err());
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(5));

        // Fixed: picked up.
        write_with_mtime(&path, SMALL, t0 + Duration::from_secs(20));
        assert_eq!(l.reload_if_changed(), Ok(true));

        // A vanished file is an error too (once), and the table stays.
        std::fs::remove_file(&path).unwrap();
        let e = l.reload_if_changed().unwrap_err();
        assert!(e.contains("limits.yaml"), "{e}");
        assert_eq!(l.reload_if_changed(), Ok(false));
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(5));
        // Back again: picked up.
        write_with_mtime(
            &path,
            &SMALL.replace("{rpm: 5,", "{rpm: 8,"),
            t0 + Duration::from_secs(30),
        );
        assert_eq!(l.reload_if_changed(), Ok(true));
        assert_eq!(l.get("g", "gemini-2.5-flash").rpm, Some(8));
    }

    #[test]
    fn new_with_a_bad_path_names_it() {
        let e = Limits::new(Some(PathBuf::from("/nonexistent/limits.yaml"))).unwrap_err();
        assert!(e.contains("/nonexistent/limits.yaml"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, "models: [").unwrap();
        let e = Limits::new(Some(path)).unwrap_err();
        assert!(e.contains("bad.yaml"), "{e}");
        // No file: built-in, and reloads are no-ops.
        let l = Limits::new(None).unwrap();
        assert_eq!(l.path(), None);
        assert_eq!(l.reload_if_changed(), Ok(false));
        assert_eq!(l.reload(), Ok(()));
        assert_eq!(
            l.get("g", "gemini-2.5-flash"),
            LimitsTable::builtin().get("gemini-2.5-flash")
        );
    }
}
