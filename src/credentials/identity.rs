//! One accepted client credential as the request path sees it: who it is (id, kind, role), what
//! it may do (expiry, enabled, allowed models, its own RPM/RPD) and its usage counters.

use super::token::ModelRules;
use super::Role;
use crate::error::{ErrorKind, GatewayError};
use crate::store::KeyUsageRow;
use crate::upstream::pacific;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a credential comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ADMIN_API_KEY`.
    AdminKey,
    /// One `PASSWORD` entry.
    Password,
    /// A key issued by the gateway (held in the store).
    ProxyKey,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AdminKey => "admin_key",
            Kind::Password => "password",
            Kind::ProxyKey => "proxy_key",
        }
    }
}

/// A credential's settings: everything an administrator can change.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub enable_context_completion: bool,
    /// `None` = every model.
    pub models: Option<ModelRules>,
    pub rpm: Option<u32>,
    pub rpd: Option<u32>,
}

impl Settings {
    /// An enabled credential with no expiry, no model restriction and no limits of its own.
    pub fn new(name: impl Into<String>, role: Role) -> Settings {
        Settings {
            name: name.into(),
            role,
            expires_at: None,
            enabled: true,
            enable_context_completion: true,
            models: None,
            rpm: None,
            rpd: None,
        }
    }
}

/// One credential. Settings never change in place: a change builds a new `Identity` sharing the
/// same [`Usage`], so a request in flight keeps the settings it started with.
#[derive(Debug)]
pub struct Identity {
    /// A proxy key's id (`pk_…`), else the credential's fingerprint; never the secret.
    pub id: Arc<str>,
    pub kind: Kind,
    /// A proxy key's display prefix (`gk-AbCd`).
    pub prefix: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub settings: Settings,
    pub usage: Arc<Usage>,
}

impl Identity {
    pub fn role(&self) -> Role {
        self.settings.role
    }

    /// Why this credential cannot be used now (401), if it cannot.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<GatewayError> {
        if !self.settings.enabled {
            return Some(GatewayError::new(
                ErrorKind::Unauthorized,
                "This API key is disabled.",
            ));
        }
        match self.settings.expires_at {
            Some(at) if at <= now => Some(GatewayError::new(
                ErrorKind::Unauthorized,
                format!(
                    "This API key has expired (at {}).",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            )),
            _ => None,
        }
    }

    /// Whether the credential may use `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.settings
            .models
            .as_ref()
            .is_none_or(|r| r.allows(model))
    }

    /// 403 naming the model when the credential may not use it.
    pub fn check_model(&self, model: &str) -> Result<(), GatewayError> {
        if self.allows(model) {
            return Ok(());
        }
        let m = model.strip_prefix("models/").unwrap_or(model);
        Err(GatewayError::new(
            ErrorKind::Forbidden,
            format!("This API key may not use model {m:?}."),
        )
        .with_param("model"))
    }

    /// Count one request against the credential's own limits; `Err` (429, with how long to wait)
    /// when it is over one of them (then it is not counted).
    pub fn admit(&self, now: Instant, wall: DateTime<Utc>) -> Result<(), GatewayError> {
        self.usage
            .admit(self.settings.rpm, self.settings.rpd, now, wall)
            .map_err(|(which, wait)| {
                GatewayError::new(
                    ErrorKind::ClientRateLimited,
                    format!("This API key is over its {which} limit; slow down."),
                )
                .with_retry_after(Some(wait))
            })
    }
}

#[derive(Debug, Default)]
struct UsageState {
    minute_start: Option<Instant>,
    minute_count: u32,
    row: KeyUsageRow,
    /// Changed since the store last saw it.
    dirty: bool,
}

impl UsageState {
    /// Start a new day's counts when the Pacific day changed.
    fn roll(&mut self, wall: DateTime<Utc>) {
        let today = pacific::day_of(wall);
        if self.row.day != Some(today) {
            self.row.day = Some(today);
            self.row.requests_day = 0;
            self.row.tokens_day = 0;
        }
    }
}

/// A credential's counters: the minute window of its RPM, today's and total requests and tokens,
/// when it was last used.
#[derive(Debug, Default)]
pub struct Usage(Mutex<UsageState>);

impl Usage {
    /// Counters continuing from what the store holds.
    pub fn from_row(row: KeyUsageRow) -> Usage {
        Usage(Mutex::new(UsageState {
            row,
            ..UsageState::default()
        }))
    }

    fn admit(
        &self,
        rpm: Option<u32>,
        rpd: Option<u32>,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<(), (&'static str, Duration)> {
        let mut s = crate::sync::lock(&self.0);
        s.roll(wall);
        let start = *s.minute_start.get_or_insert(now);
        if now.duration_since(start) >= Duration::from_secs(60) {
            s.minute_start = Some(now);
            s.minute_count = 0;
        }
        if let Some(limit) = rpm {
            if s.minute_count >= limit {
                let start = s.minute_start.unwrap_or(now);
                return Err((
                    "requests-per-minute",
                    Duration::from_secs(60).saturating_sub(now.duration_since(start)),
                ));
            }
        }
        if let Some(limit) = rpd {
            if s.row.requests_day >= u64::from(limit) {
                let wait = (pacific::next_midnight(wall) - wall)
                    .to_std()
                    .unwrap_or(Duration::from_secs(3600));
                return Err(("requests-per-day", wait));
            }
        }
        s.minute_count += 1;
        s.row.requests_day += 1;
        s.row.requests_total += 1;
        s.row.last_used_at = Some(wall);
        s.dirty = true;
        Ok(())
    }

    /// Add the tokens a finished request used.
    pub fn add_tokens(&self, tokens: u64, wall: DateTime<Utc>) {
        if tokens == 0 {
            return;
        }
        let mut s = crate::sync::lock(&self.0);
        s.roll(wall);
        s.row.tokens_day = s.row.tokens_day.saturating_add(tokens);
        s.row.tokens_total = s.row.tokens_total.saturating_add(tokens);
        s.dirty = true;
    }

    /// The counters as of `wall` (today's are zero on a new day).
    pub fn snapshot(&self, wall: DateTime<Utc>) -> KeyUsageRow {
        let mut s = crate::sync::lock(&self.0);
        s.roll(wall);
        s.row.clone()
    }

    /// The counters if they changed since the last call (for the store).
    pub fn take_dirty(&self) -> Option<KeyUsageRow> {
        let mut s = crate::sync::lock(&self.0);
        std::mem::take(&mut s.dirty).then(|| s.row.clone())
    }

    /// Mark the counters unsaved again (a store write failed).
    pub fn mark_dirty(&self) {
        crate::sync::lock(&self.0).dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(rpm: Option<u32>, rpd: Option<u32>) -> Identity {
        Identity {
            id: "pk_test".into(),
            kind: Kind::ProxyKey,
            prefix: Some("gk-Test".into()),
            created_at: None,
            settings: Settings {
                models: Some(ModelRules::new(vec!["gemini-2.5-*".into()]).unwrap()),
                rpm,
                rpd,
                ..Settings::new("t", Role::User)
            },
            usage: Arc::default(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().into()
    }

    #[test]
    fn expiry_and_disabled_refuse_with_their_own_message() {
        let now = at("2026-12-01T12:00:00Z");
        let mut id = identity(None, None);
        assert!(id.refusal(now).is_none());
        id.settings.expires_at = Some(at("2026-12-01T12:00:00Z"));
        let e = id.refusal(now).unwrap();
        assert_eq!(e.status(), 401);
        assert!(e.message().contains("expired"), "{}", e.message());
        id.settings.expires_at = Some(at("2026-12-01T12:00:01Z"));
        assert!(id.refusal(now).is_none());
        id.settings.enabled = false;
        assert!(id.refusal(now).unwrap().message().contains("disabled"));
    }

    #[test]
    fn model_allow_list() {
        let id = identity(None, None);
        assert!(id.check_model("gemini-2.5-flash").is_ok());
        let e = id.check_model("models/gemini-3-pro-preview").unwrap_err();
        assert_eq!(e.status(), 403);
        assert!(e.message().contains("\"gemini-3-pro-preview\""));
    }

    #[test]
    fn rpm_then_rpd_with_honest_waits() {
        let id = identity(Some(2), Some(3));
        let t = Instant::now();
        let w = at("2026-12-01T20:00:00Z"); // 12:00 Pacific
        id.admit(t, w).unwrap();
        id.admit(t + Duration::from_secs(1), w).unwrap();
        let e = id.admit(t + Duration::from_secs(20), w).unwrap_err();
        assert_eq!(e.status(), 429);
        assert_eq!(e.retry_after_secs(), Some(40));
        assert!(e.message().contains("requests-per-minute"));
        id.admit(t + Duration::from_secs(61), w).unwrap();
        let e = id.admit(t + Duration::from_secs(62), w).unwrap_err();
        assert!(e.message().contains("requests-per-day"));
        assert_eq!(e.retry_after_secs(), Some(12 * 3600));
        // The next Pacific day starts fresh.
        id.admit(t + Duration::from_secs(200), at("2026-12-02T08:00:01Z"))
            .unwrap();
        let snap = id.usage.snapshot(at("2026-12-02T08:00:01Z"));
        assert_eq!((snap.requests_day, snap.requests_total), (1, 4));
    }

    #[test]
    fn usage_is_dirty_once_per_change() {
        let id = identity(None, None);
        let w = at("2026-12-01T20:00:00Z");
        assert!(id.usage.take_dirty().is_none());
        id.admit(Instant::now(), w).unwrap();
        id.usage.add_tokens(30, w);
        let row = id.usage.take_dirty().unwrap();
        assert_eq!(
            (row.requests_total, row.tokens_total, row.tokens_day),
            (1, 30, 30)
        );
        assert_eq!(row.last_used_at, Some(w));
        assert!(id.usage.take_dirty().is_none());
    }
}
