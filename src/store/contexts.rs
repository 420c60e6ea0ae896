//! The context seam of the store: conversations (Gemini `contents` as JSON text, a token
//! estimate per turn) and runtime settings, behind [`ContextStore`], implemented for SQLite.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// One stored conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRow {
    /// `ctx_` + 16 hex digits of SHA-256(owner, conversation): stable, not guessable from outside.
    pub id: String,
    /// The credential's id (`pk_…` or a fingerprint).
    pub owner: String,
    /// The conversation's name (`default`, or the client's `x-gateway-conversation`).
    pub conversation: String,
    /// JSON array of Gemini contents.
    pub contents: String,
    /// JSON array of per-turn token estimates.
    pub tokens: String,
    /// Unix seconds.
    pub last_used: i64,
}

/// Where conversations persist. Every call blocks: run it off the async worker threads.
pub trait ContextStore: Send + Sync {
    fn context(&self, id: &str) -> Result<Option<ContextRow>, StoreError>;
    /// Insert or replace these conversations and delete these ids, in one transaction.
    fn write_contexts(&self, save: &[ContextRow], delete: &[String]) -> Result<(), StoreError>;
    /// Every conversation (of one owner), without its contents' text parsed.
    fn contexts(&self, owner: Option<&str>) -> Result<Vec<ContextRow>, StoreError>;
    /// Delete conversations last used before `before` (Unix seconds); how many.
    fn expire_contexts(&self, before: i64) -> Result<usize, StoreError>;
    fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContextRow> {
    Ok(ContextRow {
        id: r.get(0)?,
        owner: r.get(1)?,
        conversation: r.get(2)?,
        contents: r.get(3)?,
        tokens: r.get(4)?,
        last_used: r.get(5)?,
    })
}

const COLUMNS: &str = "id, owner, conversation, contents, tokens, last_used";

impl ContextStore for Store {
    fn context(&self, id: &str) -> Result<Option<ContextRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM contexts WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
            .map_err(|e| self.err("read a conversation", e))
    }

    fn write_contexts(&self, save: &[ContextRow], delete: &[String]) -> Result<(), StoreError> {
        if save.is_empty() && delete.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("begin a conversation write", e))?;
        {
            let mut put = tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO contexts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ))
                .map_err(|e| self.err("prepare a conversation write", e))?;
            for c in save {
                put.execute(params![
                    c.id,
                    c.owner,
                    c.conversation,
                    c.contents,
                    c.tokens,
                    c.last_used
                ])
                .map_err(|e| self.err("write a conversation", e))?;
            }
            let mut del = tx
                .prepare_cached("DELETE FROM contexts WHERE id = ?1")
                .map_err(|e| self.err("prepare a conversation delete", e))?;
            for id in delete {
                del.execute(params![id])
                    .map_err(|e| self.err("delete a conversation", e))?;
            }
        }
        tx.commit()
            .map_err(|e| self.err("commit a conversation write", e))
    }

    fn contexts(&self, owner: Option<&str>) -> Result<Vec<ContextRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM contexts WHERE ?1 IS NULL OR owner = ?1 ORDER BY last_used DESC, id"
            ))
            .map_err(|e| self.err("list conversations", e))?;
        let rows = stmt
            .query_map(params![owner], row)
            .map_err(|e| self.err("list conversations", e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err("list conversations", e))
    }

    fn expire_contexts(&self, before: i64) -> Result<usize, StoreError> {
        self.conn()
            .execute("DELETE FROM contexts WHERE last_used < ?1", params![before])
            .map_err(|e| self.err("remove expired conversations", e))
    }

    fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("read a setting", e))
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err("write a setting", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, owner: &str, used: i64) -> ContextRow {
        ContextRow {
            id: id.into(),
            owner: owner.into(),
            conversation: "default".into(),
            contents: r#"[{"role":"user","parts":[{"text":"hi"}]}]"#.into(),
            tokens: "[1]".into(),
            last_used: used,
        }
    }

    #[test]
    fn write_read_list_expire_and_settings_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let s = Store::open(Some(&path)).unwrap();
        s.write_contexts(&[c("ctx_a", "alice", 100), c("ctx_b", "bob", 200)], &[])
            .unwrap();
        let mut b = c("ctx_b", "bob", 300);
        b.contents = "[]".into();
        s.write_contexts(&[b.clone()], &[]).unwrap();
        s.set_setting("context_mode", "always").unwrap();
        drop(s);
        let s = Store::open(Some(&path)).unwrap();
        assert_eq!(s.context("ctx_b").unwrap(), Some(b));
        assert_eq!(s.contexts(Some("alice")).unwrap().len(), 1);
        assert_eq!(s.contexts(None).unwrap().len(), 2);
        assert_eq!(s.expire_contexts(150).unwrap(), 1);
        assert!(s.context("ctx_a").unwrap().is_none());
        s.write_contexts(&[], &["ctx_b".into()]).unwrap();
        assert!(s.contexts(None).unwrap().is_empty());
        assert_eq!(
            s.setting("context_mode").unwrap().as_deref(),
            Some("always")
        );
        assert_eq!(s.setting("nope").unwrap(), None);
    }
}
