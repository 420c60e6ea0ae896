//! The context store's writer thread (`gg-context`): commits reach SQLite in the order they were
//! made, gathered a few milliseconds at a time into one transaction, off the request path.

use crate::store::{ContextStore, ContextWrite, Store};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

pub(super) enum Job {
    /// One commit's change: the conversation's row, the turns it keeps, the turns it added.
    Save(ContextWrite),
    Delete(String),
    Flush(mpsc::Sender<()>),
}

/// How long the writer gathers commits into one transaction after the first: under load many
/// answers share one write (and one wake-up of the writer); an idle gateway writes each answer
/// 5 ms after it.
const GATHER: Duration = Duration::from_millis(5);

/// Writes conversations to the store on its own thread, in the order they were committed.
pub(super) struct Writer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(store: Arc<Store>) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("gg-context".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut save: Vec<ContextWrite> = Vec::new();
                    let mut delete: Vec<String> = Vec::new();
                    let mut flushed: Vec<mpsc::Sender<()>> = Vec::new();
                    let mut take = |job: Job| match job {
                        Job::Save(w) => {
                            delete.retain(|d| *d != w.row.id);
                            save.push(w);
                        }
                        Job::Delete(id) => {
                            save.retain(|s| s.row.id != id);
                            delete.push(id);
                        }
                        Job::Flush(done) => flushed.push(done),
                    };
                    // Let what else comes within GATHER gather (one transaction for all of it,
                    // not one per answer), asleep: a sleeping thread is not woken by every send,
                    // as one waiting on the channel would be. A flush waits that much longer.
                    if !matches!(first, Job::Flush(_)) {
                        std::thread::sleep(GATHER);
                    }
                    take(first);
                    while let Ok(more) = rx.try_recv() {
                        take(more);
                    }
                    if let Err(e) = store.write_contexts(&save, &delete) {
                        tracing::error!(error = %e, conversations = save.len(), "could not save conversations");
                    }
                    for f in flushed {
                        let _ = f.send(());
                    }
                }
            })
            .ok();
        Writer {
            tx: Some(tx),
            thread,
        }
    }

    pub(super) fn send(&self, job: Job) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// Wait until everything sent so far is written. Blocking.
    pub(super) fn flush(&self) {
        let (done, wait) = mpsc::channel();
        self.send(Job::Flush(done));
        let _ = wait.recv_timeout(std::time::Duration::from_secs(10));
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
