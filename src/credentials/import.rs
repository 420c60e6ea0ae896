//! `gemini-gateway import-hagemi-keys FILE.db`: copy the proxy keys of a Hagemi database (its
//! v1.x `proxy_keys` table, or the later `api_keys`) into the gateway's store. Hagemi kept keys
//! in plain text; here only their SHA-256 and a display prefix are written, so the same keys keep
//! working and the new store holds no key.

use super::token;
use crate::secret::digest;
use crate::store::{CredentialStore, KeyUsageRow, ProxyKeyRow};
use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub added: usize,
    /// Keys the store already held (an import run twice adds nothing).
    pub present: usize,
    /// Rows that could not be read, by row number, with why (never the key).
    pub skipped: Vec<String>,
}

/// Hagemi's two table layouts: (table, key column).
const LAYOUTS: &[(&str, &str)] = &[("proxy_keys", "key"), ("api_keys", "key_string")];

/// A Hagemi time: RFC 3339, or SQLite's `YYYY-MM-DD HH:MM:SS[.fff]` (UTC).
fn time(v: &Value) -> Result<Option<DateTime<Utc>>, String> {
    let s = match v {
        Value::Null => return Ok(None),
        Value::Text(s) if s.trim().is_empty() => return Ok(None),
        Value::Text(s) => s.trim(),
        Value::Integer(n) => {
            return DateTime::from_timestamp(*n, 0)
                .map(Some)
                .ok_or_else(|| format!("time {n} is out of range"))
        }
        Value::Real(f) => {
            return DateTime::from_timestamp(*f as i64, 0)
                .map(Some)
                .ok_or_else(|| format!("time {f} is out of range"))
        }
        Value::Blob(_) => return Err("a time is stored as a blob".into()),
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(format!("{s:?} is not a time"))
}

/// A Hagemi boolean (integer, or text such as `true`), with its column default.
fn flag(v: &Value, default: bool) -> bool {
    match v {
        Value::Integer(n) => *n != 0,
        Value::Text(t) => matches!(
            t.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "t" | "yes"
        ),
        Value::Real(f) => *f != 0.0,
        _ => default,
    }
}

/// Import every key of the Hagemi database at `source` into `store`.
pub fn import_hagemi(
    source: &Path,
    store: &dyn CredentialStore,
    now: DateTime<Utc>,
) -> Result<Imported, String> {
    let conn = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {}: {e}", source.display()))?;
    let has = |t: &str| -> Result<bool, String> {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [t],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(|e| {
            format!(
                "{} is not a readable SQLite database: {e}",
                source.display()
            )
        })
    };
    let mut layout = None;
    for (table, column) in LAYOUTS {
        if has(table)? {
            layout = Some((*table, *column));
            break;
        }
    }
    let Some((table, column)) = layout else {
        return Err(format!(
            "{} has neither a proxy_keys nor an api_keys table: is it a Hagemi database?",
            source.display()
        ));
    };
    let sql = format!(
        "SELECT {column}, description, created_at, is_active, expires_at, enable_context_completion FROM {table}"
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(|e| format!("cannot read {table}: {e}"))?;
    let rows = stmt
        .query_map([], |r| {
            (0..6)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<Value>>>()
        })
        .map_err(|e| format!("cannot read {table}: {e}"))?;
    let mut out = Imported::default();
    for (n, row) in rows.enumerate() {
        let n = n + 1;
        let row = row.map_err(|e| format!("cannot read {table}: {e}"))?;
        let key = match &row[0] {
            Value::Text(k) if !k.trim().is_empty() => k.trim().to_owned(),
            _ => {
                out.skipped.push(format!("row {n}: no key"));
                continue;
            }
        };
        let (created_at, expires_at) = match (time(&row[2]), time(&row[4])) {
            (Ok(c), Ok(e)) => (c.unwrap_or(now), e),
            (Err(e), _) | (_, Err(e)) => {
                out.skipped.push(format!("row {n}: {e}"));
                continue;
            }
        };
        let name = match &row[1] {
            Value::Text(d) if !d.trim().is_empty() => d.trim().chars().take(200).collect(),
            _ => "imported from Hagemi".to_string(),
        };
        let id = token::new_id().map_err(|e| format!("the OS random generator failed: {e}"))?;
        let record = ProxyKeyRow {
            id,
            hash: digest(key.as_bytes()),
            prefix: token::display_prefix(&key),
            name,
            role: "user".into(),
            created_at,
            expires_at,
            enabled: flag(&row[3], true),
            enable_context_completion: flag(&row[5], true),
            models: None,
            rpm: None,
            rpd: None,
            usage: KeyUsageRow::default(),
        };
        if store.insert_proxy_key(&record).map_err(|e| e.to_string())? {
            out.added += 1;
        } else {
            out.present += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_v1_proxy_keys_table_is_imported_hashed_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("hagemi.db");
        {
            let c = Connection::open(&src).unwrap();
            c.execute_batch(
                "CREATE TABLE proxy_keys (key TEXT PRIMARY KEY, description TEXT,
                   created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, is_active BOOLEAN DEFAULT TRUE,
                   expires_at DATETIME NULL, enable_context_completion BOOLEAN DEFAULT TRUE);
                 INSERT INTO proxy_keys VALUES ('AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd', 'team a', '2025-03-01 10:00:00', 1, '2027-01-01 00:00:00', 0);
                 INSERT INTO proxy_keys (key, description, is_active) VALUES ('plainkeytwo', NULL, 0);
                 INSERT INTO proxy_keys VALUES ('badtime', 'x', '2025-03-01', 1, 'next week', 1);",
            )
            .unwrap();
        }
        let db = dir.path().join("gw.db");
        let store = Store::open(Some(&db)).unwrap();
        let now = Utc::now();
        let r = import_hagemi(&src, &store, now).unwrap();
        assert_eq!((r.added, r.present), (2, 0));
        assert_eq!(r.skipped.len(), 1);
        assert!(r.skipped[0].starts_with("row 3:") && !r.skipped[0].contains("badtime"));
        let keys = store.proxy_keys().unwrap();
        let a = keys.iter().find(|k| k.name == "team a").unwrap();
        assert_eq!(a.hash, digest(b"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd"));
        assert_eq!(a.prefix, "AbCd");
        assert_eq!(
            a.expires_at.unwrap().to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        assert!(a.enabled && !a.enable_context_completion);
        let b = keys
            .iter()
            .find(|k| k.name == "imported from Hagemi")
            .unwrap();
        assert!(!b.enabled);
        // Run twice: nothing new.
        let again = import_hagemi(&src, &store, now).unwrap();
        assert_eq!((again.added, again.present), (0, 2));
        drop(store);
        let text = String::from_utf8_lossy(&std::fs::read(&db).unwrap()).to_string()
            + &String::from_utf8_lossy(
                &std::fs::read(dir.path().join("gw.db-wal")).unwrap_or_default(),
            );
        assert!(
            !text.contains("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd")
                && !text.contains("plainkeytwo")
        );
    }

    #[test]
    fn the_later_api_keys_layout_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("head.db");
        Connection::open(&src)
            .unwrap()
            .execute_batch(
                "CREATE TABLE api_keys (id INTEGER PRIMARY KEY, key_string TEXT UNIQUE, description TEXT,
                   created_at DATETIME, expires_at DATETIME, is_active BOOLEAN, enable_context_completion BOOLEAN, user_id TEXT);
                 INSERT INTO api_keys VALUES (1, 'headkey0001', 'h', '2025-05-05T05:05:05.123456', NULL, 1, 1, 'u');",
            )
            .unwrap();
        let store = Store::open(None).unwrap();
        let r = import_hagemi(&src, &store, Utc::now()).unwrap();
        assert_eq!(r.added, 1);
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        assert!(import_hagemi(&other, &store, Utc::now())
            .unwrap_err()
            .contains("Hagemi"));
        assert!(import_hagemi(&dir.path().join("missing.db"), &store, Utc::now()).is_err());
    }
}
