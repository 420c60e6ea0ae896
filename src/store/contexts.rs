//! The context seam of the store: conversations (Gemini `contents` as JSON text, a token
//! estimate per turn) and runtime settings, behind [`ContextStore`], implemented for SQLite.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// One stored conversation, without its turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRow {
    /// `ctx_` + 16 hex digits of SHA-256(owner, conversation) (a named conversation), or 24 hex
    /// digits, time first (a tree of stored responses, `context::thread`).
    pub id: String,
    /// The credential's id (`pk_…` or a fingerprint).
    pub owner: String,
    /// The conversation's name (`default`, or the client's `x-gateway-conversation`).
    pub conversation: String,
    /// Unix seconds.
    pub last_used: i64,
}

/// One stored turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRow {
    pub seq: u64,
    /// A Gemini `content` as JSON text.
    pub content: String,
    pub tokens: u64,
    /// A stored response's id, on the model turn that answered it.
    pub response: Option<String>,
    /// The turn this one follows when it is not the one before it (stored responses; 0: none).
    pub follows: Option<u64>,
}

/// A conversation as listed: its row, how many turns, their tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSummary {
    pub row: ContextRow,
    pub turns: u64,
    pub tokens: u64,
}

/// One conversation's change: its row, the turns kept (`seq` from `first` to `last`; with `trim`
/// every other stored turn is removed — without it none can be there), and the turns to add.
#[derive(Debug, Clone)]
pub struct ContextWrite {
    pub row: ContextRow,
    pub first: u64,
    pub last: u64,
    pub trim: bool,
    pub append: Vec<TurnRow>,
}

/// Where conversations persist. Every call blocks: run it off the async worker threads.
pub trait ContextStore: Send + Sync {
    /// A conversation and its turns in order.
    fn context(&self, id: &str) -> Result<Option<(ContextRow, Vec<TurnRow>)>, StoreError>;
    /// Apply these changes and delete these ids, in one transaction.
    fn write_contexts(&self, save: &[ContextWrite], delete: &[String]) -> Result<(), StoreError>;
    /// Every conversation (of one owner), most recently used first.
    fn contexts(&self, owner: Option<&str>) -> Result<Vec<ContextSummary>, StoreError>;
    /// Delete conversations last used before `before` (Unix seconds); how many.
    fn expire_contexts(&self, before: i64) -> Result<usize, StoreError>;
    fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl ContextStore for Store {
    fn context(&self, id: &str) -> Result<Option<(ContextRow, Vec<TurnRow>)>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, owner, conversation, last_used FROM contexts WHERE id = ?1",
                params![id],
                |r| {
                    Ok(ContextRow {
                        id: r.get(0)?,
                        owner: r.get(1)?,
                        conversation: r.get(2)?,
                        last_used: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("read a conversation", e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, content, tokens, response, follows FROM context_turns WHERE context_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err("read a conversation", e))?;
        let turns = stmt
            .query_map(params![id], |r| {
                Ok(TurnRow {
                    seq: to_u64(r.get(0)?),
                    content: r.get(1)?,
                    tokens: to_u64(r.get(2)?),
                    response: r.get(3)?,
                    follows: r.get::<_, Option<i64>>(4)?.map(to_u64),
                })
            })
            .map_err(|e| self.err("read a conversation", e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err("read a conversation", e))?;
        Ok(Some((row, turns)))
    }

    fn write_contexts(&self, save: &[ContextWrite], delete: &[String]) -> Result<(), StoreError> {
        if save.is_empty() && delete.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("begin a conversation write", e))?;
        {
            let err = |e| self.err("write a conversation", e);
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO contexts (id, owner, conversation, last_used) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET last_used = excluded.last_used",
                )
                .map_err(err)?;
            // Two range deletes on the primary key: `seq < ? OR seq > ?` would visit (and read the
            // overflow pages of) every turn of the conversation.
            let mut trim_old = tx
                .prepare_cached("DELETE FROM context_turns WHERE context_id = ?1 AND seq < ?2")
                .map_err(err)?;
            let mut trim_new = tx
                .prepare_cached("DELETE FROM context_turns WHERE context_id = ?1 AND seq > ?2")
                .map_err(err)?;
            let mut add = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO context_turns (context_id, seq, content, tokens, response, follows)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            for w in save {
                let r = &w.row;
                put.execute(params![r.id, r.owner, r.conversation, r.last_used])
                    .map_err(err)?;
                if w.trim {
                    trim_old
                        .execute(params![r.id, to_i64(w.first)])
                        .map_err(err)?;
                    trim_new
                        .execute(params![r.id, to_i64(w.last)])
                        .map_err(err)?;
                }
                for t in &w.append {
                    add.execute(params![
                        r.id,
                        to_i64(t.seq),
                        t.content,
                        to_i64(t.tokens),
                        t.response,
                        t.follows.map(to_i64)
                    ])
                    .map_err(err)?;
                }
            }
            let mut del = tx
                .prepare_cached("DELETE FROM contexts WHERE id = ?1")
                .map_err(err)?;
            for id in delete {
                del.execute(params![id]).map_err(err)?;
            }
        }
        tx.commit()
            .map_err(|e| self.err("commit a conversation write", e))
    }

    fn contexts(&self, owner: Option<&str>) -> Result<Vec<ContextSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT c.id, c.owner, c.conversation, c.last_used, count(t.seq), coalesce(sum(t.tokens), 0)
                 FROM contexts c LEFT JOIN context_turns t ON t.context_id = c.id
                 WHERE ?1 IS NULL OR c.owner = ?1
                 GROUP BY c.id ORDER BY c.last_used DESC, c.id",
            )
            .map_err(|e| self.err("list conversations", e))?;
        let rows = stmt
            .query_map(params![owner], |r| {
                Ok(ContextSummary {
                    row: ContextRow {
                        id: r.get(0)?,
                        owner: r.get(1)?,
                        conversation: r.get(2)?,
                        last_used: r.get(3)?,
                    },
                    turns: to_u64(r.get(4)?),
                    tokens: to_u64(r.get(5)?),
                })
            })
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

    fn w(id: &str, owner: &str, used: i64, first: u64, last: u64, add: &[u64]) -> ContextWrite {
        ContextWrite {
            row: ContextRow {
                id: id.into(),
                owner: owner.into(),
                conversation: "default".into(),
                last_used: used,
            },
            first,
            last,
            trim: true,
            append: add
                .iter()
                .map(|&seq| TurnRow {
                    seq,
                    content: format!(r#"{{"role":"user","parts":[{{"text":"{seq}"}}]}}"#),
                    tokens: 1,
                    response: None,
                    follows: None,
                })
                .collect(),
        }
    }

    #[test]
    fn turns_append_trim_expire_and_settings_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let s = Store::open(Some(&path)).unwrap();
        s.write_contexts(
            &[
                w("ctx_a", "alice", 100, 1, 2, &[1, 2]),
                w("ctx_b", "bob", 200, 1, 1, &[1]),
            ],
            &[],
        )
        .unwrap();
        // Append 3 and 4 (4 a stored response's reply following turn 2), drop 1.
        let mut write = w("ctx_a", "alice", 300, 2, 4, &[3, 4]);
        write.append[0].follows = Some(2);
        write.append[1].response = Some("resp_x".into());
        s.write_contexts(&[write], &[]).unwrap();
        s.set_setting("context_mode", "always").unwrap();
        drop(s);
        let s = Store::open(Some(&path)).unwrap();
        let (row, turns) = s.context("ctx_a").unwrap().unwrap();
        assert_eq!(row.last_used, 300);
        assert_eq!(
            turns.iter().map(|t| t.seq).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        let links: Vec<_> = turns
            .iter()
            .map(|t| (t.follows, t.response.as_deref()))
            .collect();
        assert_eq!(
            links,
            [(None, None), (Some(2), None), (None, Some("resp_x"))]
        );
        let all = s.contexts(None).unwrap();
        assert_eq!(
            (all[0].row.id.as_str(), all[0].turns, all[0].tokens),
            ("ctx_a", 3, 3)
        );
        assert_eq!(s.contexts(Some("bob")).unwrap().len(), 1);
        assert_eq!(s.expire_contexts(250).unwrap(), 1);
        assert!(s.context("ctx_b").unwrap().is_none());
        s.write_contexts(&[], &["ctx_a".into()]).unwrap();
        assert!(s.contexts(None).unwrap().is_empty());
        let n: i64 = s
            .conn()
            .query_row("SELECT count(*) FROM context_turns", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "turns go with their conversation");
        assert_eq!(
            s.setting("context_mode").unwrap().as_deref(),
            Some("always")
        );
        assert_eq!(s.setting("nope").unwrap(), None);
    }
}
