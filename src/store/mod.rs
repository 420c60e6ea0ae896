//! SQLite persistence (rusqlite, bundled): embedded migrations and per (Pacific day, group, model) usage counts.
//!
//! The store is a narrow API over one connection behind a mutex; every call blocks, so callers
//! run it off the async worker threads ([`UsageWriter`] owns a dedicated thread for the request
//! path's writes). Durability: WAL with `synchronous=NORMAL` — committed data survives a process
//! crash; on power loss or an OS crash the last commits (about the last second) may be lost.

pub mod backup;
mod contexts;
mod keys;
mod writer;

pub use contexts::{ContextRow, ContextStore, ContextSummary, ContextWrite, TurnRow};
pub use keys::{CredentialStore, KeyUsageRow, ProxyKeyRow};
pub use writer::UsageWriter;

use crate::sync::lock;
use chrono::NaiveDate;
use rusqlite::types::Value;
use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Embedded migrations, applied in order; `PRAGMA user_version` records the last one applied.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_usage.sql")),
    (2, include_str!("migrations/0002_proxy_keys.sql")),
    (3, include_str!("migrations/0003_contexts.sql")),
    (4, include_str!("migrations/0004_response_threads.sql")),
];

/// The schema version this binary writes. A database with a higher version is refused.
pub const SCHEMA_VERSION: i64 = 4;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

const DAY_FORMAT: &str = "%Y-%m-%d";

/// Request and token counts of one (day, group, model).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl std::ops::AddAssign for DayCounts {
    /// Saturating: counts never wrap.
    fn add_assign(&mut self, o: DayCounts) {
        self.requests = self.requests.saturating_add(o.requests);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
    }
}

/// One increment to add.
#[derive(Debug, Clone)]
pub struct UsageDelta {
    /// The Pacific day (see `crate::upstream::pacific::day_of`).
    pub day: NaiveDate,
    pub group: String,
    pub model: String,
    pub counts: DayCounts,
}

/// A store failure. Messages name the database and the operation, never a key or a request.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("database {path} is read-only; the gateway must be able to write it (check the permissions of the file and of its directory)")]
    ReadOnly { path: String },
    #[error("database {path} has schema version {found}, newer than this gateway supports ({supported}); run a newer gemini-gateway or use another database file")]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("database {path}: PRAGMA {name} is {got:?}, expected {wanted:?}")]
    Pragma {
        path: String,
        name: &'static str,
        wanted: &'static str,
        got: String,
    },
    #[error("database {path}: {op}: {source}{hint}")]
    Sqlite {
        path: String,
        op: &'static str,
        hint: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: {what} holds an invalid value {value:?}")]
    BadValue {
        path: String,
        what: &'static str,
        value: String,
    },
    #[error("invalid pragma name {0:?}")]
    InvalidPragma(String),
}

/// A short explanation for the SQLite errors operators meet (permissions, full disk, foreign file).
fn hint(e: &rusqlite::Error) -> &'static str {
    match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen) => {
            " (check that the directory exists and is writable by the gateway)"
        }
        Some(ErrorCode::ReadOnly) => " (the file or its directory is read-only)",
        Some(ErrorCode::PermissionDenied) => " (permission denied)",
        Some(ErrorCode::DiskFull) => " (the disk is full)",
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            " (another process holds a lock on the database)"
        }
        Some(ErrorCode::NotADatabase) => " (the file is not a SQLite database)",
        Some(ErrorCode::DatabaseCorrupt) => " (the database file is corrupt)",
        _ => "",
    }
}

fn to_sql_count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql_count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn day_text(day: NaiveDate) -> String {
    day.format(DAY_FORMAT).to_string()
}

/// The SQLite database: usage counts today, more tables as later issues add them.
pub struct Store {
    conn: Mutex<Connection>,
    /// The path as given, or `:memory:`; used in error messages.
    location: String,
    in_memory: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (creating) the database: a file path, or `None` for an in-memory database.
    ///
    /// Applies `journal_mode=WAL` (file databases), `synchronous=NORMAL`, `busy_timeout=5000` and
    /// `foreign_keys=ON`, then runs the embedded migrations (idempotent; recorded in
    /// `PRAGMA user_version`). A database whose schema is newer than this binary is refused and
    /// left untouched. Errors name the path and say what is wrong (missing or read-only directory,
    /// unwritable file, not a database).
    pub fn open(path: Option<&Path>) -> Result<Store, StoreError> {
        let location = path.map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let conn = match path {
            None => Connection::open_in_memory(),
            Some(p) => {
                check_location(p, &location)?;
                Connection::open(p)
            }
        }
        .map_err(|e| StoreError::Open {
            path: location.clone(),
            reason: format!("{e}{}", hint(&e)),
        })?;
        let store = Store {
            conn: Mutex::new(conn),
            location,
            in_memory: path.is_none(),
        };
        store.setup()?;
        Ok(store)
    }

    /// Pragmas, the version check and migrations.
    fn setup(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        if conn
            .is_readonly("main")
            .map_err(|e| self.err("check write access", e))?
        {
            return Err(StoreError::ReadOnly {
                path: self.location.clone(),
            });
        }
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.err("set busy_timeout", e))?;
        // Refuse a newer schema before changing anything in the file.
        let found = user_version(&conn).map_err(|e| self.err("read the schema version", e))?;
        self.check_version(found)?;
        if !self.in_memory {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(|e| self.err("set journal_mode=WAL", e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Pragma {
                    path: self.location.clone(),
                    name: "journal_mode",
                    wanted: "wal",
                    got: mode,
                });
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.err("set synchronous=NORMAL", e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| self.err("set foreign_keys=ON", e))?;
        self.migrate(&mut conn)
    }

    fn check_version(&self, found: i64) -> Result<(), StoreError> {
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: self.location.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// Apply the migrations newer than the database's version, in one write transaction (so two
    /// gateways starting on the same file do not both apply them).
    fn migrate(&self, conn: &mut Connection) -> Result<(), StoreError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("begin migration", e))?;
        let current = user_version(&tx).map_err(|e| self.err("read the schema version", e))?;
        self.check_version(current)?;
        if current == SCHEMA_VERSION {
            return Ok(()); // dropping `tx` ends the (empty) transaction
        }
        for (version, sql) in MIGRATIONS {
            if *version > current {
                tx.execute_batch(sql)
                    .map_err(|e| self.err("apply a migration", e))?;
            }
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| self.err("record the schema version", e))?;
        tx.commit()
            .map_err(|e| self.err("commit the migration", e))?;
        if current > 0 {
            tracing::info!(path = %self.location, from = current, to = SCHEMA_VERSION, "database schema migrated");
        }
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    fn err(&self, op: &'static str, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.location.clone(),
            op,
            hint: hint(&source),
            source,
        }
    }

    /// The path as given, or `:memory:`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Add deltas in one transaction (upsert: counts are added to what is stored). Blocking: run
    /// it off the async worker threads.
    pub fn add(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("begin usage write", e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO usage_daily (day, grp, model, requests, input_tokens, output_tokens)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (day, grp, model) DO UPDATE SET
                         requests = requests + excluded.requests,
                         input_tokens = input_tokens + excluded.input_tokens,
                         output_tokens = output_tokens + excluded.output_tokens",
                )
                .map_err(|e| self.err("prepare usage write", e))?;
            for d in deltas {
                stmt.execute(params![
                    day_text(d.day),
                    d.group,
                    d.model,
                    to_sql_count(d.counts.requests),
                    to_sql_count(d.counts.input_tokens),
                    to_sql_count(d.counts.output_tokens),
                ])
                .map_err(|e| self.err("write usage", e))?;
            }
        }
        tx.commit().map_err(|e| self.err("commit usage write", e))
    }

    /// Counts for one day, per (group, model), sorted by group then model.
    pub fn day(&self, day: NaiveDate) -> Result<Vec<(String, String, DayCounts)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT grp, model, requests, input_tokens, output_tokens FROM usage_daily
                 WHERE day = ?1 ORDER BY grp, model",
            )
            .map_err(|e| self.err("prepare usage read", e))?;
        let rows = stmt
            .query_map(params![day_text(day)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    counts_at(r, 2)?,
                ))
            })
            .map_err(|e| self.err("read usage", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err("read usage", e))
    }

    /// Per-day totals per (group, model) for days in `[from, to]` inclusive, sorted by day, group,
    /// model.
    pub fn range(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, DayCounts)>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let raw = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT day, grp, model, requests, input_tokens, output_tokens FROM usage_daily
                     WHERE day >= ?1 AND day <= ?2 ORDER BY day, grp, model",
                )
                .map_err(|e| self.err("prepare usage read", e))?;
            let rows = stmt
                .query_map(params![day_text(from), day_text(to)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        counts_at(r, 3)?,
                    ))
                })
                .map_err(|e| self.err("read usage", e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err("read usage", e))?
        };
        raw.into_iter()
            .map(|(day, grp, model, counts)| {
                let d = NaiveDate::parse_from_str(&day, DAY_FORMAT).map_err(|_| {
                    StoreError::BadValue {
                        path: self.location.clone(),
                        what: "usage_daily.day",
                        value: day.clone(),
                    }
                })?;
                Ok((d, grp, model, counts))
            })
            .collect()
    }

    /// Delete the days before `keep_from`; returns how many rows went.
    pub fn prune(&self, keep_from: NaiveDate) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "DELETE FROM usage_daily WHERE day < ?1",
                params![day_text(keep_from)],
            )
            .map_err(|e| self.err("prune usage", e))
    }

    /// Move everything in the write-ahead log into the database file and empty the log, as
    /// closing the last connection would (called before the process exits after a shutdown).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        if self.in_memory {
            return Ok(());
        }
        self.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err("checkpoint the write-ahead log", e))
    }

    /// Read a pragma's value as text (e.g. `journal_mode` → `wal`, `synchronous` → `1`).
    /// `name` must be a bare pragma name (letters, digits, `_`).
    pub fn pragma(&self, name: &str) -> Result<String, StoreError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::InvalidPragma(name.to_owned()));
        }
        let value: Value = self
            .conn()
            .pragma_query_value(None, name, |r| r.get(0))
            .map_err(|e| self.err("read a pragma", e))?;
        Ok(match value {
            Value::Null => "null".to_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Real(f) => f.to_string(),
            Value::Text(s) => s,
            Value::Blob(b) => format!("<{} bytes>", b.len()),
        })
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn counts_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<DayCounts> {
    Ok(DayCounts {
        requests: from_sql_count(r.get(first)?),
        input_tokens: from_sql_count(r.get(first + 1)?),
        output_tokens: from_sql_count(r.get(first + 2)?),
    })
}

/// Clear errors for the mistakes SQLite reports only as "unable to open database file".
fn check_location(path: &Path, location: &str) -> Result<(), StoreError> {
    let open_err = |reason: String| StoreError::Open {
        path: location.to_owned(),
        reason,
    };
    if path.is_dir() {
        return Err(open_err("it is a directory, not a file".into()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(open_err(format!("{} is not a directory", dir.display()))),
            Err(e) => {
                return Err(open_err(format!(
                    "directory {} is not accessible: {e}",
                    dir.display()
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn delta(day: &str, group: &str, model: &str, r: u64, i: u64, o: u64) -> UsageDelta {
        UsageDelta {
            day: d(day),
            group: group.into(),
            model: model.into(),
            counts: DayCounts {
                requests: r,
                input_tokens: i,
                output_tokens: o,
            },
        }
    }

    fn counts(r: u64, i: u64, o: u64) -> DayCounts {
        DayCounts {
            requests: r,
            input_tokens: i,
            output_tokens: o,
        }
    }

    #[test]
    fn pragmas_read_back_for_a_file_database() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(Some(&dir.path().join("gw.db"))).unwrap();
        assert_eq!(s.pragma("journal_mode").unwrap(), "wal");
        assert_eq!(s.pragma("synchronous").unwrap(), "1"); // NORMAL
        assert_eq!(s.pragma("busy_timeout").unwrap(), "5000");
        assert_eq!(s.pragma("foreign_keys").unwrap(), "1");
        assert_eq!(
            s.pragma("user_version").unwrap(),
            SCHEMA_VERSION.to_string()
        );
        assert!(matches!(
            s.pragma("journal_mode; DROP TABLE usage_daily"),
            Err(StoreError::InvalidPragma(_))
        ));
    }

    #[test]
    fn pragmas_read_back_for_memory() {
        let s = Store::open(None).unwrap();
        assert_eq!(s.location(), ":memory:");
        assert_eq!(s.pragma("journal_mode").unwrap(), "memory");
        assert_eq!(s.pragma("synchronous").unwrap(), "1");
        assert_eq!(s.pragma("busy_timeout").unwrap(), "5000");
        assert_eq!(s.pragma("foreign_keys").unwrap(), "1");
    }

    #[test]
    fn add_day_and_upsert_accumulate() {
        let s = Store::open(None).unwrap();
        s.add(&[]).unwrap();
        s.add(&[
            delta("2026-01-15", "p1", "gemini-2.5-flash", 1, 100, 10),
            delta("2026-01-15", "p1", "gemini-2.5-pro", 2, 200, 20),
            delta("2026-01-15", "p0", "gemini-2.5-flash", 3, 300, 30),
            delta("2026-01-16", "p1", "gemini-2.5-flash", 9, 9, 9),
        ])
        .unwrap();
        s.add(&[
            delta("2026-01-15", "p1", "gemini-2.5-flash", 1, 50, 5),
            delta("2026-01-15", "p1", "gemini-2.5-flash", 1, 50, 5),
        ])
        .unwrap();
        assert_eq!(
            s.day(d("2026-01-15")).unwrap(),
            vec![
                ("p0".into(), "gemini-2.5-flash".into(), counts(3, 300, 30)),
                ("p1".into(), "gemini-2.5-flash".into(), counts(3, 200, 20)),
                ("p1".into(), "gemini-2.5-pro".into(), counts(2, 200, 20)),
            ]
        );
        assert!(s.day(d("2026-01-14")).unwrap().is_empty());
        // Huge values are clamped, not wrapped into negatives.
        s.add(&[delta("2026-02-01", "g", "m", u64::MAX, 0, 0)])
            .unwrap();
        assert_eq!(
            s.day(d("2026-02-01")).unwrap()[0].2.requests,
            i64::MAX as u64
        );
    }

    #[test]
    fn counts_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        {
            let s = Store::open(Some(&path)).unwrap();
            s.add(&[delta("2026-01-15", "p1", "m", 5, 500, 50)])
                .unwrap();
        }
        let s = Store::open(Some(&path)).unwrap();
        assert_eq!(
            s.day(d("2026-01-15")).unwrap(),
            vec![("p1".into(), "m".into(), counts(5, 500, 50))]
        );
        s.add(&[delta("2026-01-15", "p1", "m", 1, 1, 1)]).unwrap();
        assert_eq!(s.day(d("2026-01-15")).unwrap()[0].2, counts(6, 501, 51));
    }

    #[test]
    fn migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let a = Store::open(Some(&path)).unwrap();
        a.add(&[delta("2026-01-15", "g", "m", 1, 2, 3)]).unwrap();
        // A second gateway on the same file while the first is still open, then a restart.
        let b = Store::open(Some(&path)).unwrap();
        drop(a);
        drop(b);
        let c = Store::open(Some(&path)).unwrap();
        assert_eq!(c.pragma("user_version").unwrap(), "4");
        assert_eq!(c.day(d("2026-01-15")).unwrap()[0].2, counts(1, 2, 3));
    }

    #[test]
    fn an_old_unversioned_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE other (x INTEGER); INSERT INTO other VALUES (1);")
                .unwrap();
        }
        let s = Store::open(Some(&path)).unwrap();
        assert_eq!(s.pragma("user_version").unwrap(), "4");
        s.add(&[delta("2026-01-15", "g", "m", 1, 0, 0)]).unwrap();
        let n: i64 = s
            .conn()
            .query_row("SELECT x FROM other", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        drop(Store::open(Some(&path)).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let e = Store::open(Some(&path)).unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::SchemaTooNew {
                    found: 99,
                    supported: SCHEMA_VERSION,
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("gw.db") && msg.contains("99") && msg.contains("newer"),
            "{msg}"
        );
        let conn = Connection::open(&path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 99);
    }

    #[test]
    fn range_and_prune() {
        let s = Store::open(None).unwrap();
        for (day, n) in [
            ("2026-01-10", 1),
            ("2026-01-11", 2),
            ("2026-01-12", 3),
            ("2026-01-13", 4),
        ] {
            s.add(&[
                delta(day, "g", "m", n, 0, 0),
                delta(day, "g", "a", n * 10, 0, 0),
            ])
            .unwrap();
        }
        let r = s.range(d("2026-01-11"), d("2026-01-12")).unwrap();
        assert_eq!(
            r,
            vec![
                (d("2026-01-11"), "g".into(), "a".into(), counts(20, 0, 0)),
                (d("2026-01-11"), "g".into(), "m".into(), counts(2, 0, 0)),
                (d("2026-01-12"), "g".into(), "a".into(), counts(30, 0, 0)),
                (d("2026-01-12"), "g".into(), "m".into(), counts(3, 0, 0)),
            ]
        );
        assert!(s
            .range(d("2026-01-12"), d("2026-01-11"))
            .unwrap()
            .is_empty());
        assert_eq!(s.prune(d("2026-01-12")).unwrap(), 4);
        assert_eq!(s.prune(d("2026-01-12")).unwrap(), 0);
        let days: Vec<NaiveDate> = s
            .range(d("2000-01-01"), d("2100-01-01"))
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(
            days,
            vec![
                d("2026-01-12"),
                d("2026-01-12"),
                d("2026-01-13"),
                d("2026-01-13")
            ]
        );
    }

    #[test]
    fn clear_errors_for_bad_locations() {
        let dir = tempfile::tempdir().unwrap();
        // Missing directory.
        let p = dir.path().join("missing").join("gw.db");
        let e = Store::open(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("not accessible"), "{e}");
        // Parent is a file.
        let f = dir.path().join("file");
        std::fs::write(&f, "x").unwrap();
        let e = Store::open(Some(&f.join("gw.db"))).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        // The path is a directory.
        let e = Store::open(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        // Not a SQLite file.
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        let e = Store::open(Some(&junk)).unwrap_err().to_string();
        assert!(
            e.contains("junk.db") && e.contains("not a SQLite database"),
            "{e}"
        );
    }

    /// Whether permission bits stop this process (they do not for root).
    fn permissions_apply(dir: &Path) -> bool {
        let probe = dir.join("probe");
        let denied = std::fs::write(&probe, "x").is_err();
        let _ = std::fs::remove_file(&probe);
        denied
    }

    #[cfg(unix)]
    #[test]
    fn read_only_directory_or_file_gives_a_clear_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        // A database file that exists in a writable directory but is itself read-only.
        let file = dir.path().join("ro.db");
        drop(Store::open(Some(&file)).unwrap());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if !permissions_apply(&ro) {
            eprintln!("running as root: permission bits do not apply; read-only checks skipped");
            std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
            return;
        }
        let e = Store::open(Some(&ro.join("gw.db")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gw.db") && e.contains("writable"), "{e}");
        let e = Store::open(Some(&file)).unwrap_err().to_string();
        assert!(e.contains("ro.db") && e.contains("read-only"), "{e}");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<UsageWriter>();
    }

    #[test]
    fn concurrent_adds_from_threads_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(Some(&dir.path().join("gw.db"))).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        s.add(&[delta("2026-01-15", &format!("g{}", t % 2), "m", 1, 2, 3)])
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let day = s.day(d("2026-01-15")).unwrap();
        assert_eq!(day.len(), 2);
        for (_, _, c) in day {
            assert_eq!(c, counts(400, 800, 1200));
        }
    }
}
