//! Batched usage writes: requests add to an in-memory map; one thread flushes it to the store.

use super::{DayCounts, Store, UsageDelta};
use crate::sync::lock;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shortest flush interval (a zero interval would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// How often a waiting `flush` re-checks that the writer thread is still alive.
const FLUSH_POLL: Duration = Duration::from_millis(100);

type Key = (NaiveDate, String, String);

#[derive(Default)]
struct State {
    pending: HashMap<Key, DayCounts>,
    /// Flush requests made so far (a generation counter).
    requested: u64,
    /// The highest request generation whose deltas have been written (or attempted).
    completed: u64,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread (flush request, shutdown).
    wake: Condvar,
    /// Wakes `flush` callers when a write completes.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Batches deltas in memory and flushes them to the store from a dedicated thread every
/// `interval` (and on [`flush`](UsageWriter::flush) / drop), so no request ever waits on SQLite.
///
/// Deltas for the same (day, group, model) are coalesced. If a write fails, the batch is kept
/// and retried at the next flush (a warning is logged); the counts are lost only if the process
/// ends while the database keeps failing.
pub struct UsageWriter {
    shared: Arc<Shared>,
    store: Arc<Store>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for UsageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageWriter")
            .field("store", &self.store.location())
            .field("pending", &self.pending())
            .finish()
    }
}

impl UsageWriter {
    /// Start the writer: spawns one thread named `usage-writer` that flushes every `interval`
    /// (at least 10 ms).
    pub fn start(store: Arc<Store>, interval: Duration) -> UsageWriter {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let interval = interval.max(MIN_INTERVAL);
        let thread = {
            let shared = shared.clone();
            let store = store.clone();
            std::thread::Builder::new()
                .name("usage-writer".into())
                .spawn(move || run(&shared, &store, interval))
        };
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // Without the thread, usage is written on `flush` and on drop only.
                tracing::error!(error = %e, "cannot start the usage-writer thread; usage is written at shutdown only");
                None
            }
        };
        UsageWriter {
            shared,
            store,
            thread,
        }
    }

    /// Add a delta to the pending batch. Never blocks on SQLite: one short mutex, a map merge.
    pub fn record(&self, delta: UsageDelta) {
        let mut st = self.shared.lock();
        *st.pending
            .entry((delta.day, delta.group, delta.model))
            .or_default() += delta.counts;
    }

    /// Block until every delta recorded before this call has been written (or its write has
    /// failed and been queued for retry). Used at shutdown and in tests.
    pub fn flush(&self) {
        if !self.thread_alive() {
            write_pending(&self.shared, &self.store);
            return;
        }
        let mut st = self.shared.lock();
        st.requested += 1;
        let target = st.requested;
        self.shared.wake.notify_all();
        while st.completed < target {
            st = self
                .shared
                .done
                .wait_timeout(st, FLUSH_POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if st.completed < target && !self.thread_alive() {
                drop(st);
                write_pending(&self.shared, &self.store);
                return;
            }
        }
    }

    /// The number of coalesced (day, group, model) entries waiting to be written (not counting a
    /// batch the writer thread is writing right now).
    pub fn pending(&self) -> usize {
        self.shared.lock().pending.len()
    }

    fn thread_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for UsageWriter {
    /// Flush what is pending and join the thread.
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("usage-writer thread panicked");
            }
        }
        // Anything the thread could not write (it died, or its last write failed): one more try.
        if self.pending() > 0 {
            write_pending(&self.shared, &self.store);
            let left = self.pending();
            if left > 0 {
                tracing::error!(
                    entries = left,
                    "usage counts could not be written at shutdown and are lost"
                );
            }
        }
    }
}

/// The writer thread: wait for the interval, a flush request or shutdown; write; repeat.
fn run(shared: &Shared, store: &Store, interval: Duration) {
    let mut next = Instant::now() + interval;
    loop {
        let (batch, target, shutdown) = {
            let mut st = shared.lock();
            loop {
                if st.shutdown || st.requested > st.completed {
                    break;
                }
                let now = Instant::now();
                if now >= next {
                    break;
                }
                st = shared
                    .wake
                    .wait_timeout(st, next - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            (std::mem::take(&mut st.pending), st.requested, st.shutdown)
        };
        write_batch(shared, store, batch);
        next = Instant::now() + interval;
        {
            let mut st = shared.lock();
            st.completed = st.completed.max(target);
        }
        shared.done.notify_all();
        if shutdown {
            return;
        }
    }
}

/// Write what is pending now, on the calling thread.
fn write_pending(shared: &Shared, store: &Store) {
    let batch = std::mem::take(&mut shared.lock().pending);
    write_batch(shared, store, batch);
}

/// Write one batch; on failure merge it back into the pending map for the next attempt.
fn write_batch(shared: &Shared, store: &Store, batch: HashMap<Key, DayCounts>) {
    if batch.is_empty() {
        return;
    }
    let deltas: Vec<UsageDelta> = batch
        .into_iter()
        .map(|((day, group, model), counts)| UsageDelta {
            day,
            group,
            model,
            counts,
        })
        .collect();
    if let Err(e) = store.add(&deltas) {
        tracing::warn!(error = %e, entries = deltas.len(), "usage write failed; will retry");
        let mut st = shared.lock();
        for d in deltas {
            *st.pending.entry((d.day, d.group, d.model)).or_default() += d.counts;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn delta(group: &str, model: &str, r: u64, i: u64, o: u64) -> UsageDelta {
        UsageDelta {
            day: d("2026-01-15"),
            group: group.into(),
            model: model.into(),
            counts: DayCounts {
                requests: r,
                input_tokens: i,
                output_tokens: o,
            },
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn coalesces_and_flushes_on_drop() {
        let store = Arc::new(Store::open(None).unwrap());
        let w = UsageWriter::start(store.clone(), HOUR);
        w.record(delta("g", "m", 1, 10, 100));
        w.record(delta("g", "m", 1, 20, 200));
        w.record(delta("g", "m", 1, 30, 300));
        w.record(delta("g", "other", 1, 1, 1));
        assert_eq!(w.pending(), 2);
        assert!(store.day(d("2026-01-15")).unwrap().is_empty());
        drop(w);
        let day = store.day(d("2026-01-15")).unwrap();
        assert_eq!(
            day,
            vec![
                (
                    "g".into(),
                    "m".into(),
                    DayCounts {
                        requests: 3,
                        input_tokens: 60,
                        output_tokens: 600
                    }
                ),
                (
                    "g".into(),
                    "other".into(),
                    DayCounts {
                        requests: 1,
                        input_tokens: 1,
                        output_tokens: 1
                    }
                ),
            ]
        );
    }

    #[test]
    fn flush_writes_and_returns() {
        let store = Arc::new(Store::open(None).unwrap());
        let w = UsageWriter::start(store.clone(), HOUR);
        w.flush(); // nothing pending: returns at once
        w.record(delta("g", "m", 2, 0, 0));
        w.flush();
        assert_eq!(w.pending(), 0);
        assert_eq!(store.day(d("2026-01-15")).unwrap()[0].2.requests, 2);
        w.record(delta("g", "m", 3, 0, 0));
        w.flush();
        assert_eq!(store.day(d("2026-01-15")).unwrap()[0].2.requests, 5);
    }

    #[test]
    fn flushes_on_the_interval() {
        let store = Arc::new(Store::open(None).unwrap());
        let w = UsageWriter::start(store.clone(), Duration::from_millis(20));
        w.record(delta("g", "m", 1, 0, 0));
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.day(d("2026-01-15")).unwrap().is_empty() {
            assert!(Instant::now() < deadline, "not flushed by the interval");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(w.pending(), 0);
    }

    #[test]
    fn the_thread_is_named() {
        let store = Arc::new(Store::open(None).unwrap());
        let w = UsageWriter::start(store, HOUR);
        let name = w
            .thread
            .as_ref()
            .and_then(|t| t.thread().name().map(str::to_owned));
        assert_eq!(name.as_deref(), Some("usage-writer"));
    }

    #[test]
    fn a_failed_write_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let store = Arc::new(Store::open(Some(&path)).unwrap());
        let w = UsageWriter::start(store.clone(), HOUR);
        // Another connection holds the write lock: the write times out (busy_timeout) and fails.
        let other = rusqlite::Connection::open(&path).unwrap();
        other.busy_timeout(Duration::from_millis(1)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        {
            // Shorten this store's wait so the test is quick.
            store
                .conn()
                .busy_timeout(Duration::from_millis(10))
                .unwrap();
        }
        w.record(delta("g", "m", 1, 0, 0));
        w.flush();
        assert_eq!(w.pending(), 1, "kept for retry");
        other.execute_batch("COMMIT").unwrap();
        w.record(delta("g", "m", 1, 0, 0));
        w.flush();
        assert_eq!(w.pending(), 0);
        assert_eq!(store.day(d("2026-01-15")).unwrap()[0].2.requests, 2);
    }

    #[test]
    fn eight_threads_recording_concurrently_give_exact_totals() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(Some(&dir.path().join("gw.db"))).unwrap());
        // A short interval so flushes interleave with the recording.
        let w = Arc::new(UsageWriter::start(store.clone(), Duration::from_millis(10)));
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        let model = if i % 2 == 0 { "even" } else { "odd" };
                        w.record(delta(&format!("g{}", t % 4), model, 1, t + 1, 2));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        w.flush();
        let day = store.day(d("2026-01-15")).unwrap();
        assert_eq!(day.len(), 8); // 4 groups × 2 models
        let total = day.iter().fold(DayCounts::default(), |mut acc, (_, _, c)| {
            acc += *c;
            acc
        });
        assert_eq!(total.requests, 8000);
        assert_eq!(total.input_tokens, (1..=8).map(|t| t * 1000).sum::<u64>());
        assert_eq!(total.output_tokens, 16_000);
        for (g, _, c) in &day {
            // Two threads per group, 500 records each per model.
            assert_eq!(c.requests, 1000, "{g}");
        }
    }
}
