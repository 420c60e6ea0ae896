//! Conversation context: each credential's conversations in memory (all of them with a memory
//! store; a least-recently-used cache of the file with one), written through to SQLite by a
//! thread of its own so the request path never waits on the database, and the runtime settings
//! (TTL, mode) kept in the store's `settings` table.

mod cache;
pub mod history;
pub mod thread;
mod writer;

use crate::config::{ContextConfig, ContextMode};
use crate::store::{
    ContextRow, ContextStore, ContextSummary, ContextWrite, Store, StoreError, TurnRow,
};
use cache::Cache;
use history::Turn;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use writer::{Job, Writer};

/// One conversation.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    /// The credential's id.
    pub owner: String,
    /// `default` or the client's `x-gateway-conversation`.
    pub name: String,
    pub turns: Vec<Turn>,
    /// Unix seconds.
    pub last_used: i64,
}

impl Conversation {
    pub fn tokens(&self) -> u64 {
        self.turns.iter().map(|t| t.tokens).sum()
    }

    /// The store's change for this conversation: its row, the turns it keeps, and `added`.
    fn write(&self, added: &[Turn]) -> ContextWrite {
        ContextWrite {
            row: ContextRow {
                id: self.id.clone(),
                owner: self.owner.clone(),
                conversation: self.name.clone(),
                last_used: self.last_used,
            },
            first: self.turns.first().map_or(1, |t| t.seq),
            last: self.turns.last().map_or(0, |t| t.seq),
            trim: true,
            append: added
                .iter()
                .map(|t| TurnRow {
                    seq: t.seq,
                    content: String::from_utf8_lossy(t.raw()).into_owned(),
                    tokens: t.tokens,
                    response: t.response.as_deref().map(str::to_owned),
                    follows: t.follows,
                })
                .collect(),
        }
    }

    fn from_rows(r: ContextRow, turns: Vec<TurnRow>) -> Conversation {
        Conversation {
            id: r.id,
            owner: r.owner,
            name: r.conversation,
            turns: turns
                .into_iter()
                .map(|t| {
                    let mut turn = Turn::from_raw(bytes::Bytes::from(t.content), Some(t.tokens));
                    turn.seq = t.seq;
                    turn.response = t.response.map(String::into_boxed_str);
                    turn.follows = t.follows;
                    turn
                })
                .collect(),
            last_used: r.last_used,
        }
    }

    pub fn summary(&self) -> ContextSummary {
        ContextSummary {
            row: ContextRow {
                id: self.id.clone(),
                owner: self.owner.clone(),
                conversation: self.name.clone(),
                last_used: self.last_used,
            },
            turns: self.turns.len() as u64,
            tokens: self.tokens(),
        }
    }
}

/// The history window of `model`: its input limit (or `context.default_max_tokens` when unknown)
/// less `context.safety_margin`.
pub fn window(state: &crate::state::AppState, model: &str) -> u64 {
    let c = state.contexts.config();
    state
        .pool
        .limits
        .table()
        .lookup(model)
        .and_then(|l| l.input_token_limit)
        .unwrap_or(c.default_max_tokens)
        .saturating_sub(c.safety_margin)
}

/// The id of a credential's named conversation: stable, and telling nothing of either part.
pub fn conversation_id(owner: &str, name: &str) -> String {
    let d = crate::secret::digest(format!("{owner}\u{0}{name}").as_bytes());
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("ctx_{hex}")
}

/// What a committer knows of the conversation it commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its id was made for it just now: nothing can be stored under it.
    Fresh,
    /// The caller read it during this request.
    Read,
    /// Nothing in particular (a conversation not found, or replaced whole).
    Any,
}

/// The conversations, and the settings that govern them.
pub struct Contexts {
    config: ContextConfig,
    cache: Mutex<Cache>,
    /// The store of the settings (memory or file).
    store: Arc<Store>,
    /// Set when conversations persist (a file store).
    writer: Option<Writer>,
    ttl_secs: AtomicU64,
    mode: AtomicU8,
}

const MODES: [ContextMode; 3] = [ContextMode::Auto, ContextMode::Always, ContextMode::Off];

impl Contexts {
    /// Conversations over `store`; they persist when `persistent` (a file). Settings stored by an
    /// earlier run win over the configured ones.
    pub fn new(
        config: ContextConfig,
        store: Arc<Store>,
        persistent: bool,
    ) -> Result<Contexts, StoreError> {
        let ttl = match store.setting("context_ttl_seconds")? {
            Some(v) => v.parse().unwrap_or(config.ttl.as_secs()),
            None => config.ttl.as_secs(),
        };
        let mode = match store.setting("context_mode")? {
            Some(v) => ContextMode::parse(&v).unwrap_or(config.mode),
            None => config.mode,
        };
        let c = Contexts {
            writer: persistent.then(|| Writer::start(store.clone())),
            config,
            cache: Mutex::default(),
            store,
            ttl_secs: AtomicU64::new(ttl),
            mode: AtomicU8::new(0),
        };
        c.mode.store(mode_index(mode), Ordering::Relaxed);
        Ok(c)
    }

    pub fn config(&self) -> &ContextConfig {
        &self.config
    }

    pub fn mode(&self) -> ContextMode {
        MODES[usize::from(self.mode.load(Ordering::Relaxed)).min(2)]
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs.load(Ordering::Relaxed)
    }

    /// Change the mode and/or TTL, now and for later runs. Blocking (a store write).
    pub fn set(&self, mode: Option<ContextMode>, ttl_secs: Option<u64>) -> Result<(), StoreError> {
        if let Some(m) = mode {
            self.store.set_setting("context_mode", m.as_str())?;
            self.mode.store(mode_index(m), Ordering::Relaxed);
        }
        if let Some(t) = ttl_secs {
            self.store
                .set_setting("context_ttl_seconds", &t.to_string())?;
            self.ttl_secs.store(t, Ordering::Relaxed);
        }
        Ok(())
    }

    fn expired(&self, c: &Conversation, now: i64) -> bool {
        c.last_used + i64::try_from(self.ttl_secs()).unwrap_or(i64::MAX) < now
    }

    /// The conversation from the cache only (no store read; never blocks on the database).
    pub fn cached(&self, id: &str, now: i64) -> Option<Arc<Conversation>> {
        let c = crate::sync::lock(&self.cache).touch(id)?.0.clone();
        (!self.expired(&c, now)).then_some(c)
    }

    /// The conversation, from the cache or (a file store) the database. Blocking on a miss: call
    /// it off the async threads when `persistent`.
    pub fn get(&self, id: &str, now: i64) -> Result<Option<Arc<Conversation>>, StoreError> {
        if let Some(c) = self.cached(id, now) {
            return Ok(Some(c));
        }
        if self.writer.is_none() {
            return Ok(None);
        }
        let Some((row, turns)) = self.store.context(id)? else {
            return Ok(None);
        };
        let c = Arc::new(Conversation::from_rows(row, turns));
        if self.expired(&c, now) {
            return Ok(None);
        }
        self.insert(c.clone());
        Ok(Some(c))
    }

    /// The conversation for a request: the cache first, then (a file store) the database, read
    /// off the async threads.
    pub async fn load(
        self: &Arc<Self>,
        id: &str,
        now: i64,
    ) -> Result<Option<Arc<Conversation>>, StoreError> {
        if let Some(c) = self.cached(id, now) {
            return Ok(Some(c));
        }
        if !self.persistent() {
            return Ok(None);
        }
        let (c, key) = (self.clone(), id.to_owned());
        tokio::task::spawn_blocking(move || c.get(&key, now))
            .await
            .unwrap_or(Ok(None))
    }

    /// Whether a read may touch the database (callers then read off the async threads).
    pub fn persistent(&self) -> bool {
        self.writer.is_some()
    }

    fn insert(&self, c: Arc<Conversation>) {
        let mut cache = crate::sync::lock(&self.cache);
        cache.put(c);
        cache.evict(self.config.max_records);
    }

    /// Change a conversation's turns in place (`change` appends, or clears and refills, or drops
    /// from the front), atomically with respect to other commits of it, so concurrent answers are
    /// appended whole in the order they finish. New turns (`seq` 0) are numbered here. The cache
    /// changes at once; the store shortly after, on the writer thread, with only the new turns
    /// (and the removal of dropped ones, when any were dropped).
    ///
    /// `origin` says what the caller knows: with [`Origin::Read`] a conversation that left the
    /// cache since it was read is read again (blocking, and rare), so its turns are appended to,
    /// not numbered over.
    pub fn commit(
        &self,
        id: &str,
        owner: &str,
        name: &str,
        now: i64,
        origin: Origin,
        change: impl FnOnce(&mut Vec<Turn>),
    ) {
        let fresh = || {
            Arc::new(Conversation {
                id: id.to_owned(),
                owner: owner.to_owned(),
                name: name.to_owned(),
                turns: Vec::new(),
                last_used: now,
            })
        };
        let cached = crate::sync::lock(&self.cache).map.contains_key(id);
        let reread = match (&self.writer, origin) {
            (Some(w), Origin::Read) if !cached => {
                w.flush();
                match self.store.context(id) {
                    Ok(found) => found.map(|(r, t)| Arc::new(Conversation::from_rows(r, t))),
                    Err(e) => {
                        tracing::error!(error = %e, "could not read a conversation to append to");
                        None
                    }
                }
            }
            _ => None,
        };
        let mut cache = crate::sync::lock(&self.cache);
        let mut created = false;
        let entry = cache.touch_or(id, || {
            created = true;
            reread.unwrap_or_else(fresh)
        });
        let mut reset = false;
        if self.expired(&entry.0, now) {
            entry.0 = fresh();
            reset = true;
        }
        // The cache is usually the only holder (requests let go of it after routing): no copy.
        let conv = Arc::make_mut(&mut entry.0);
        let before = conv.turns.len();
        let next = conv.turns.last().map_or(0, |t| t.seq) + 1;
        change(&mut conv.turns);
        let kept = conv.turns.iter().filter(|t| t.seq != 0).count();
        // Rows of this id may be stored that the cache does not hold (it was not cached, or it
        // expired), or turns were dropped: the write removes what it does not keep.
        let trim = kept < before || reset || (created && origin != Origin::Fresh);
        let mut added = Vec::new();
        for (seq, t) in (next..).zip(conv.turns.iter_mut().filter(|t| t.seq == 0)) {
            t.seq = seq;
            added.push(t.clone());
        }
        conv.last_used = now;
        if let Some(w) = &self.writer {
            let mut write = conv.write(&added);
            write.trim = trim;
            w.send(Job::Save(write));
        }
        cache.evict(self.config.max_records);
    }

    /// Every conversation (of one owner), most recently used first. Blocking with a file store.
    pub fn list(&self, owner: Option<&str>, now: i64) -> Result<Vec<ContextSummary>, StoreError> {
        let ttl = i64::try_from(self.ttl_secs()).unwrap_or(i64::MAX);
        let mut out: Vec<ContextSummary> = match &self.writer {
            Some(w) => {
                w.flush();
                self.store.contexts(owner)?
            }
            None => crate::sync::lock(&self.cache)
                .map
                .values()
                .filter(|(c, _)| owner.is_none_or(|o| c.owner == o))
                .map(|(c, _)| c.summary())
                .collect(),
        };
        out.retain(|c| c.row.last_used.saturating_add(ttl) >= now);
        out.sort_by(|a, b| {
            b.row
                .last_used
                .cmp(&a.row.last_used)
                .then(a.row.id.cmp(&b.row.id))
        });
        Ok(out)
    }

    /// Forget a conversation.
    pub fn delete(&self, id: &str) {
        crate::sync::lock(&self.cache).remove(id);
        if let Some(w) = &self.writer {
            w.send(Job::Delete(id.to_owned()));
        }
    }

    /// Remove the conversations not used within the TTL. Blocking with a file store.
    pub fn cleanup(&self, now: i64) -> Result<usize, StoreError> {
        let ttl = i64::try_from(self.ttl_secs()).unwrap_or(i64::MAX);
        let mut n = {
            let mut cache = crate::sync::lock(&self.cache);
            let gone: Vec<String> = cache
                .map
                .iter()
                .filter(|(_, (c, _))| c.last_used.saturating_add(ttl) < now)
                .map(|(id, _)| id.clone())
                .collect();
            gone.iter().filter(|id| cache.remove(id)).count()
        };
        if let Some(w) = &self.writer {
            w.flush();
            n = self.store.expire_contexts(now.saturating_sub(ttl))?.max(n);
        }
        Ok(n)
    }

    /// Wait until every commit so far is in the store (tests, shutdown). Blocking.
    pub fn flush(&self) {
        if let Some(w) = &self.writer {
            w.flush();
        }
    }
}

fn mode_index(m: ContextMode) -> u8 {
    match m {
        ContextMode::Auto => 0,
        ContextMode::Always => 1,
        ContextMode::Off => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(role: &str, t: &str) -> Turn {
        Turn::new(json!({"role": role, "parts": [{"text": t}]}))
    }

    fn contexts(max: usize, path: Option<&std::path::Path>) -> Contexts {
        let cfg = ContextConfig {
            max_records: max,
            ..ContextConfig::default()
        };
        Contexts::new(cfg, Arc::new(Store::open(path).unwrap()), path.is_some()).unwrap()
    }

    #[test]
    fn commit_appends_and_evicts_the_least_recently_used() {
        let c = contexts(2, None);
        for (i, owner) in ["a", "b", "c"].iter().enumerate() {
            let id = conversation_id(owner, "default");
            c.commit(&id, owner, "default", 100 + i as i64, Origin::Any, |t| {
                t.push(turn("user", "hi"))
            });
        }
        assert!(
            c.get(&conversation_id("a", "default"), 200)
                .unwrap()
                .is_none(),
            "evicted"
        );
        assert!(c
            .get(&conversation_id("c", "default"), 200)
            .unwrap()
            .is_some());
        let id = conversation_id("c", "default");
        c.commit(&id, "c", "default", 200, Origin::Any, |t| {
            t.push(turn("model", "yo"))
        });
        assert_eq!(c.get(&id, 200).unwrap().unwrap().turns.len(), 2);
    }

    #[test]
    fn the_least_recently_used_goes_first_and_the_order_stays_whole() {
        let c = contexts(3, None);
        let id = |n: &str| conversation_id(n, "default");
        let add = |n: &str, now: i64| {
            c.commit(&id(n), n, "default", now, Origin::Any, |t| {
                t.push(turn("user", n))
            })
        };
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            add(n, 100 + i as i64);
        }
        assert!(c.cached(&id("a"), 110).is_some(), "a is used again");
        add("d", 111);
        assert!(
            c.cached(&id("b"), 112).is_none(),
            "b was the least recently used"
        );
        for n in ["a", "c", "d"] {
            assert!(c.cached(&id(n), 112).is_some(), "{n}");
        }
        c.delete(&id("c"));
        add("a", 10_000);
        // Everything but a is past the TTL (7 days) at this time.
        assert_eq!(c.cleanup(10_000 + 7 * 24 * 3600).unwrap(), 1);
        let cache = crate::sync::lock(&c.cache);
        assert_eq!(cache.map.len(), 1);
        assert_eq!(cache.order.len(), cache.map.len());
        for (tick, key) in &cache.order {
            assert_eq!(cache.map[key].1, *tick);
        }
    }

    #[test]
    fn ttl_and_settings_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let id = conversation_id("alice", "default");
        {
            let c = contexts(10, Some(&path));
            c.commit(&id, "alice", "default", 1000, Origin::Any, |t| {
                t.push(turn("user", "remember me"))
            });
            c.set(Some(ContextMode::Always), Some(120)).unwrap();
            c.flush();
        }
        let c = contexts(10, Some(&path));
        assert_eq!((c.mode(), c.ttl_secs()), (ContextMode::Always, 120));
        let got = c.get(&id, 1100).unwrap().unwrap();
        assert_eq!(got.turns[0].content()["parts"][0]["text"], "remember me");
        assert!(c.get(&id, 1121).unwrap().is_none(), "past the TTL");
        assert_eq!(c.cleanup(1121).unwrap(), 1);
        assert!(c.list(None, 1121).unwrap().is_empty());
        // Saving writes only the new turns; reloading gives them all, in order.
        for t in ["a", "b", "c"] {
            c.commit(&id, "alice", "default", 2000, Origin::Any, |v| {
                v.push(turn("user", t))
            });
        }
        c.flush();
        drop(c);
        let c = contexts(10, Some(&path));
        let got = c.get(&id, 2000).unwrap().unwrap();
        let texts: Vec<String> = got
            .turns
            .iter()
            .map(|t| {
                t.content()["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(texts, vec!["a", "b", "c"]);
        assert_eq!(
            got.turns.iter().map(|t| t.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn a_conversation_read_then_evicted_is_appended_to_not_numbered_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let c = contexts(1, Some(&path));
        let (a, b) = (conversation_id("o", "a"), conversation_id("o", "b"));
        c.commit(&a, "o", "a", 100, Origin::Fresh, |t| {
            t.extend([turn("user", "1"), turn("model", "2")])
        });
        // Read by a request, then pushed out of the cache before its answer is saved.
        assert!(c.get(&a, 100).unwrap().is_some());
        c.commit(&b, "o", "b", 101, Origin::Fresh, |t| {
            t.push(turn("user", "x"))
        });
        assert!(c.cached(&a, 102).is_none(), "evicted");
        c.commit(&a, "o", "a", 102, Origin::Read, |t| {
            t.push(turn("user", "3"))
        });
        c.flush();
        drop(c);
        let c = contexts(10, Some(&path));
        let got = c.get(&a, 103).unwrap().unwrap();
        let texts: Vec<_> = got
            .turns
            .iter()
            .map(|t| t.content()["parts"][0]["text"].clone())
            .collect();
        assert_eq!(texts, ["1", "2", "3"]);
        assert_eq!(
            got.turns.iter().map(|t| t.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn ids_are_per_owner_and_name() {
        assert_ne!(conversation_id("a", "x"), conversation_id("b", "x"));
        assert_ne!(conversation_id("a", "x"), conversation_id("a", "y"));
        assert_eq!(conversation_id("a", "x").len(), 20);
    }
}
