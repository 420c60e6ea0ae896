//! Keys an administrator disabled, kept in the store's `settings` table (by the SHA-256 of the
//! key, never the key) so a restart keeps them disabled.

use super::{KeyId, Scheduler};
use crate::store::{ContextStore, StoreError};
use std::time::Instant;

fn setting_name(pool: &Scheduler, id: KeyId) -> Option<String> {
    let key = pool.get(id)?;
    let hex: String = key
        .secret()
        .digest()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(format!("upstream_key_disabled:{hex}"))
}

/// Disable the keys the store says are disabled. Blocking (a store read per key).
pub fn load(pool: &Scheduler, store: &dyn ContextStore, now: Instant) -> Result<usize, StoreError> {
    let mut n = 0;
    for id in pool.ids().collect::<Vec<_>>() {
        let Some(name) = setting_name(pool, id) else {
            continue;
        };
        if store.setting(&name)?.as_deref() == Some("1") {
            pool.set_held(id, true, now);
            n += 1;
        }
    }
    Ok(n)
}

/// Disable or enable a key and remember it. Blocking (a store write).
pub fn set(
    pool: &Scheduler,
    store: &dyn ContextStore,
    id: KeyId,
    held: bool,
    now: Instant,
) -> Result<(), StoreError> {
    if let Some(name) = setting_name(pool, id) {
        store.set_setting(&name, if held { "1" } else { "0" })?;
    }
    pool.set_held(id, held, now);
    Ok(())
}
