//! The credential seam of the store: proxy keys (hash and display prefix only, never the key)
//! behind [`CredentialStore`], implemented here for SQLite; a later backend (PostgreSQL for several
//! replicas) implements the same trait.

use super::{from_sql_count, to_sql_count, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

/// One stored proxy key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyKeyRow {
    /// Random, not sequential (`pk_…`).
    pub id: String,
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// The key's first characters, for people to tell keys apart (`gk-AbCd`).
    pub prefix: String,
    pub name: String,
    /// `user` or `admin`.
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub enable_context_completion: bool,
    /// Model names or `*`-globs; `None` = every model.
    pub models: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub rpd: Option<u32>,
    pub usage: KeyUsageRow,
}

/// A proxy key's usage as last written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUsageRow {
    pub last_used_at: Option<DateTime<Utc>>,
    pub requests_total: u64,
    pub tokens_total: u64,
    /// The Pacific day the `*_day` counts belong to.
    pub day: Option<NaiveDate>,
    pub requests_day: u64,
    pub tokens_day: u64,
}

/// Where client credentials persist. Every call blocks: run it off the async worker threads.
pub trait CredentialStore: Send + Sync {
    /// Every stored proxy key.
    fn proxy_keys(&self) -> Result<Vec<ProxyKeyRow>, StoreError>;
    /// Add a key; false when its hash is already stored (nothing changes then).
    fn insert_proxy_key(&self, row: &ProxyKeyRow) -> Result<bool, StoreError>;
    /// Replace a key's attributes (not its hash, prefix, creation time or usage); false if unknown.
    fn update_proxy_key(&self, row: &ProxyKeyRow) -> Result<bool, StoreError>;
    /// Remove a key; false if unknown.
    fn delete_proxy_key(&self, id: &str) -> Result<bool, StoreError>;
    /// Write the usage of these keys (absolute values, so a repeated write is harmless).
    fn save_key_usage(&self, rows: &[(String, KeyUsageRow)]) -> Result<(), StoreError>;
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Store {
    fn parse_time(
        &self,
        what: &'static str,
        v: Option<String>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        v.map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| self.bad(what, s))
        })
        .transpose()
    }

    fn bad(&self, what: &'static str, value: String) -> StoreError {
        StoreError::BadValue {
            path: self.location.clone(),
            what,
            value,
        }
    }

    fn key_row(&self, r: &Row<'_>) -> Result<ProxyKeyRow, StoreError> {
        let get = |e| self.err("read proxy keys", e);
        let hash: Vec<u8> = r.get(1).map_err(get)?;
        let hash: [u8; 32] = hash
            .as_slice()
            .try_into()
            .map_err(|_| self.bad("proxy_keys.hash", format!("{} bytes", hash.len())))?;
        let role: String = r.get(4).map_err(get)?;
        if role != "user" && role != "admin" {
            return Err(self.bad("proxy_keys.role", role));
        }
        let models: Option<String> = r.get(9).map_err(get)?;
        let models = models
            .map(|m| {
                serde_json::from_str::<Vec<String>>(&m)
                    .map_err(|_| self.bad("proxy_keys.models", m))
            })
            .transpose()?;
        let limit = |i: usize| -> Result<Option<u32>, StoreError> {
            let v: Option<i64> = r.get(i).map_err(get)?;
            Ok(v.map(|v| u32::try_from(v).unwrap_or(u32::MAX)))
        };
        let day: Option<String> = r.get(15).map_err(get)?;
        let day = day
            .map(|d| {
                NaiveDate::parse_from_str(&d, super::DAY_FORMAT)
                    .map_err(|_| self.bad("proxy_keys.usage_day", d))
            })
            .transpose()?;
        let count =
            |i: usize| -> Result<u64, StoreError> { Ok(from_sql_count(r.get(i).map_err(get)?)) };
        Ok(ProxyKeyRow {
            id: r.get(0).map_err(get)?,
            hash,
            prefix: r.get(2).map_err(get)?,
            name: r.get(3).map_err(get)?,
            role,
            created_at: self
                .parse_time("proxy_keys.created_at", r.get(5).map_err(get)?)?
                .unwrap_or_default(),
            expires_at: self.parse_time("proxy_keys.expires_at", r.get(6).map_err(get)?)?,
            enabled: r.get(7).map_err(get)?,
            enable_context_completion: r.get(8).map_err(get)?,
            models,
            rpm: limit(10)?,
            rpd: limit(11)?,
            usage: KeyUsageRow {
                last_used_at: self
                    .parse_time("proxy_keys.last_used_at", r.get(12).map_err(get)?)?,
                requests_total: count(13)?,
                tokens_total: count(14)?,
                day,
                requests_day: count(16)?,
                tokens_day: count(17)?,
            },
        })
    }
}

fn models_text(m: &Option<Vec<String>>) -> Option<String> {
    m.as_ref()
        .map(|m| serde_json::Value::from(m.clone()).to_string())
}

impl CredentialStore for Store {
    fn proxy_keys(&self) -> Result<Vec<ProxyKeyRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, hash, prefix, name, role, created_at, expires_at, enabled,
                        enable_context_completion, models, rpm, rpd, last_used_at,
                        requests_total, tokens_total, usage_day, requests_day, tokens_day
                 FROM proxy_keys ORDER BY created_at, id",
            )
            .map_err(|e| self.err("read proxy keys", e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err("read proxy keys", e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err("read proxy keys", e))? {
            out.push(self.key_row(r)?);
        }
        Ok(out)
    }

    fn insert_proxy_key(&self, k: &ProxyKeyRow) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute(
                "INSERT INTO proxy_keys (id, hash, prefix, name, role, created_at, expires_at, enabled,
                     enable_context_completion, models, rpm, rpd, last_used_at, requests_total,
                     tokens_total, usage_day, requests_day, tokens_day)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                 ON CONFLICT (hash) DO NOTHING",
                params![
                    k.id,
                    &k.hash[..],
                    k.prefix,
                    k.name,
                    k.role,
                    time_text(k.created_at),
                    k.expires_at.map(time_text),
                    k.enabled,
                    k.enable_context_completion,
                    models_text(&k.models),
                    k.rpm,
                    k.rpd,
                    k.usage.last_used_at.map(time_text),
                    to_sql_count(k.usage.requests_total),
                    to_sql_count(k.usage.tokens_total),
                    k.usage.day.map(super::day_text),
                    to_sql_count(k.usage.requests_day),
                    to_sql_count(k.usage.tokens_day),
                ],
            )
            .map_err(|e| self.err("add a proxy key", e))?;
        Ok(n == 1)
    }

    fn update_proxy_key(&self, k: &ProxyKeyRow) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute(
                "UPDATE proxy_keys SET name = ?2, role = ?3, expires_at = ?4, enabled = ?5,
                     enable_context_completion = ?6, models = ?7, rpm = ?8, rpd = ?9
                 WHERE id = ?1",
                params![
                    k.id,
                    k.name,
                    k.role,
                    k.expires_at.map(time_text),
                    k.enabled,
                    k.enable_context_completion,
                    models_text(&k.models),
                    k.rpm,
                    k.rpd,
                ],
            )
            .map_err(|e| self.err("change a proxy key", e))?;
        Ok(n == 1)
    }

    fn delete_proxy_key(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute("DELETE FROM proxy_keys WHERE id = ?1", params![id])
            .map_err(|e| self.err("delete a proxy key", e))?;
        Ok(n == 1)
    }

    fn save_key_usage(&self, rows: &[(String, KeyUsageRow)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("begin key usage write", e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE proxy_keys SET last_used_at = ?2, requests_total = ?3, tokens_total = ?4,
                         usage_day = ?5, requests_day = ?6, tokens_day = ?7
                     WHERE id = ?1",
                )
                .map_err(|e| self.err("prepare key usage write", e))?;
            for (id, u) in rows {
                stmt.execute(params![
                    id,
                    u.last_used_at.map(time_text),
                    to_sql_count(u.requests_total),
                    to_sql_count(u.tokens_total),
                    u.day.map(super::day_text),
                    to_sql_count(u.requests_day),
                    to_sql_count(u.tokens_day),
                ])
                .map_err(|e| self.err("write key usage", e))?;
            }
        }
        tx.commit()
            .map_err(|e| self.err("commit key usage write", e))
    }
}

/// Whether `id` names a stored key (for tests and the importer).
impl Store {
    pub fn has_proxy_key(&self, id: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT 1 FROM proxy_keys WHERE id = ?1",
                params![id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err("read proxy keys", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, hash: u8) -> ProxyKeyRow {
        ProxyKeyRow {
            id: id.into(),
            hash: [hash; 32],
            prefix: "gk-Ab12".into(),
            name: "alice".into(),
            role: "user".into(),
            created_at: DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
                .unwrap()
                .into(),
            expires_at: None,
            enabled: true,
            enable_context_completion: true,
            models: Some(vec!["gemini-2.5-*".into()]),
            rpm: Some(10),
            rpd: None,
            usage: KeyUsageRow::default(),
        }
    }

    #[test]
    fn insert_update_usage_delete_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let s = Store::open(Some(&path)).unwrap();
        assert!(s.insert_proxy_key(&row("pk_a", 1)).unwrap());
        assert!(
            !s.insert_proxy_key(&row("pk_other", 1)).unwrap(),
            "same hash twice"
        );
        assert!(s.insert_proxy_key(&row("pk_b", 2)).unwrap());
        let mut a = row("pk_a", 1);
        a.enabled = false;
        a.models = None;
        a.expires_at = Some(
            DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
                .unwrap()
                .into(),
        );
        assert!(s.update_proxy_key(&a).unwrap());
        assert!(!s.update_proxy_key(&row("pk_none", 9)).unwrap());
        let usage = KeyUsageRow {
            last_used_at: Some(a.created_at),
            requests_total: 5,
            tokens_total: 70,
            day: NaiveDate::from_ymd_opt(2026, 11, 30),
            requests_day: 2,
            tokens_day: 20,
        };
        s.save_key_usage(&[("pk_a".into(), usage.clone())]).unwrap();
        assert!(s.delete_proxy_key("pk_b").unwrap());
        assert!(!s.delete_proxy_key("pk_b").unwrap());
        drop(s);
        let s = Store::open(Some(&path)).unwrap();
        let keys = s.proxy_keys().unwrap();
        a.usage = usage;
        assert_eq!(keys, vec![a]);
        assert!(s.has_proxy_key("pk_a").unwrap() && !s.has_proxy_key("pk_b").unwrap());
    }

    #[test]
    fn a_version_1_database_gains_the_table_and_keeps_its_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(include_str!("migrations/0001_usage.sql"))
                .unwrap();
            conn.execute_batch(
                "INSERT INTO usage_daily VALUES ('2026-11-30','g','m',3,4,5); PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let s = Store::open(Some(&path)).unwrap();
        assert_eq!(s.pragma("user_version").unwrap(), "4");
        assert_eq!(
            s.day(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap())
                .unwrap()
                .len(),
            1
        );
        assert!(s.proxy_keys().unwrap().is_empty());
    }
}
