//! Graceful shutdown: counts requests in flight, starts the grace period on SIGTERM, and tells
//! every open request when it is over (streams then end with the surface's terminal error event).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Shared by all requests and the shutdown service.
pub struct Drain {
    inflight: AtomicUsize,
    idle: Notify,
    /// When the grace period ends; `None` until shutdown starts.
    deadline: watch::Sender<Option<Instant>>,
    /// Exit the process once drained (the binary), instead of waiting for Pingora's fixed sleep.
    exit_when_drained: AtomicBool,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            inflight: AtomicUsize::new(0),
            idle: Notify::new(),
            deadline: watch::channel(None).0,
            exit_when_drained: AtomicBool::new(false),
        }
    }
}

/// Held by each request while it runs.
pub struct InFlight(Arc<Drain>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InFlight")
    }
}

impl Drain {
    /// Count a request as in flight until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// Start the grace period: open requests have `grace` to finish.
    pub fn begin(&self, grace: Duration) {
        let end = Instant::now() + grace;
        self.deadline.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(end);
                true
            } else {
                false
            }
        });
    }

    pub fn started(&self) -> bool {
        self.deadline.borrow().is_some()
    }

    /// Resolves when the grace period is over; never, if shutdown has not started.
    pub async fn expired(&self) {
        let mut rx = self.deadline.subscribe();
        let end = match rx.wait_for(Option::is_some).await {
            Ok(d) => *d,
            Err(_) => None,
        };
        match end {
            Some(end) => tokio::time::sleep_until(end).await,
            None => std::future::pending().await,
        }
    }

    /// Wait until no request is in flight, or `limit` passes. True if drained.
    pub async fn drained(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            if self.inflight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, idle).await.is_err() {
                return self.inflight() == 0;
            }
        }
    }

    /// Ask the shutdown service to end the process once drained (set by the binary).
    pub fn exit_when_drained(&self) {
        self.exit_when_drained.store(true, Ordering::Release);
    }

    pub fn exits_when_drained(&self) -> bool {
        self.exit_when_drained.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grace_period_and_draining() {
        let d = Arc::new(Drain::default());
        let g = d.enter();
        assert_eq!(d.inflight(), 1);
        // no shutdown yet: never expires
        assert!(tokio::time::timeout(Duration::from_millis(20), d.expired())
            .await
            .is_err());
        d.begin(Duration::from_millis(30));
        assert!(d.started());
        tokio::time::timeout(Duration::from_millis(500), d.expired())
            .await
            .unwrap();
        assert!(!d.drained(Duration::from_millis(10)).await);
        let d2 = d.clone();
        let waiter = tokio::spawn(async move { d2.drained(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(g);
        assert!(waiter.await.unwrap());
        assert_eq!(d.inflight(), 0);
    }
}
