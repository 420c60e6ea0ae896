//! The one lock-poisoning policy: a lock whose holder panicked is recovered and used as is.
//!
//! Everything the gateway guards with a lock is counters, caches and scheduling state that stay
//! usable after an interrupted update (at worst a count is off by one); failing every later request
//! (closed) or skipping the check (open) would both be worse. So every lock is taken through here.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

pub fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
