//! The conversations held in memory, least recently used dropped first.

use super::Conversation;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The conversations in memory, with their order of last use (so dropping the least recently
/// used is a lookup, not a scan: every stored response starts a conversation).
#[derive(Default)]
pub(super) struct Cache {
    pub(super) map: HashMap<String, (Arc<Conversation>, u64)>,
    /// Last use (a tick) → id, oldest first.
    pub(super) order: BTreeMap<u64, String>,
    tick: u64,
}

impl Cache {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The entry of `id`, marked as used now.
    pub(super) fn touch(&mut self, id: &str) -> Option<&mut (Arc<Conversation>, u64)> {
        let tick = self.next_tick();
        let entry = self.map.get_mut(id)?;
        if let Some(key) = self.order.remove(&entry.1) {
            self.order.insert(tick, key);
        }
        entry.1 = tick;
        Some(entry)
    }

    /// The entry of `id`, marked as used now; `fresh()` when there is none.
    pub(super) fn touch_or(
        &mut self,
        id: &str,
        fresh: impl FnOnce() -> Arc<Conversation>,
    ) -> &mut (Arc<Conversation>, u64) {
        let tick = self.next_tick();
        // Ticks start at 1: 0 marks an entry made here.
        let entry = self
            .map
            .entry(id.to_owned())
            .or_insert_with(|| (fresh(), 0));
        if entry.1 != 0 {
            self.order.remove(&entry.1);
        }
        self.order.insert(tick, id.to_owned());
        entry.1 = tick;
        entry
    }

    pub(super) fn put(&mut self, c: Arc<Conversation>) {
        let tick = self.next_tick();
        let id = c.id.clone();
        if let Some((_, old)) = self.map.insert(id.clone(), (c, tick)) {
            self.order.remove(&old);
        }
        self.order.insert(tick, id);
    }

    pub(super) fn remove(&mut self, id: &str) -> bool {
        match self.map.remove(id) {
            Some((_, tick)) => {
                self.order.remove(&tick);
                true
            }
            None => false,
        }
    }

    /// Drop the least recently used beyond `max`.
    pub(super) fn evict(&mut self, max: usize) {
        while self.map.len() > max {
            let Some((_, id)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&id);
        }
    }
}
