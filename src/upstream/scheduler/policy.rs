//! The fault policy: how a classified upstream failure changes a key's state — quota faults its
//! whole group for the model, server trouble the key for the model, an invalid key every model.

use super::queue::{Full, ModelState, Slot};
use super::{KeyId, Scheduler};
use crate::sync::{lock, read};
use crate::upstream::classify::Fault;
use crate::upstream::limits::limit_kind;
use crate::upstream::pacific;
use chrono::{DateTime, Utc};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The reason an administrator-disabled key shows.
pub const HELD_REASON: &str = "disabled by an administrator";

impl Scheduler {
    /// Record a successful attempt.
    pub fn report_success(&self, id: KeyId) {
        if let Some(k) = self.keys.get(id.index()) {
            k.successes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Apply a classified failure. Quota faults apply to the key's whole group (one project, one
    /// quota) for this model; server trouble to the key for this model; an invalid key to all models.
    pub fn report_fault(
        &self,
        id: KeyId,
        model: &str,
        fault: &Fault,
        now: Instant,
        wall: DateTime<Utc>,
    ) {
        let idx = id.index();
        let Some(key) = self.keys.get(idx) else {
            return;
        };
        if matches!(fault, Fault::Client { .. }) {
            return;
        }
        key.failures.fetch_add(1, Ordering::Relaxed);
        {
            let what = match fault {
                Fault::KeyInvalid { status, reason } => format!("{status} {reason}"),
                Fault::ServerError { status } => format!("{status} from Google"),
                f => f.kind().to_string(),
            };
            let what = if model.is_empty() {
                what
            } else {
                format!("{what} ({model})")
            };
            *lock(&key.last_error) = Some((SystemTime::now(), what));
        }
        if let Fault::KeyInvalid { reason, .. } = fault {
            tracing::warn!(key = %key.fingerprint(), reason = %reason, "upstream key disabled: rejected by Gemini");
            self.take_out(idx, reason.clone());
            return;
        }
        // The quota Google's 429 named (its value, when stated, is learned for the group).
        let limit = match fault {
            Fault::RateLimited {
                quota: Some(hit), ..
            }
            | Fault::QuotaDay { quota: Some(hit) } => {
                self.limits.learn(self.group_name(key.group), model, hit);
                limit_kind(&hit.quota_id).map(|kind| Full {
                    kind,
                    by_google: true,
                })
            }
            _ => None,
        };
        let m = self.model(model, now, wall);
        let mut st = lock(&m);
        let group_members: Vec<usize> = self.groups[key.group]
            .1
            .iter()
            .map(|k| *k as usize)
            .collect();
        match fault {
            Fault::RateLimited { retry_after, .. } => {
                let until = now + *retry_after;
                tracing::info!(key = %key.fingerprint(), group = %self.group_name(key.group), model, cooldown_s = retry_after.as_secs(), "rate-limited: group cooling down");
                for k in group_members {
                    self.set_slot(
                        &mut st,
                        k,
                        Slot::Waiting {
                            until,
                            reason: "rate_limited",
                            limit,
                        },
                    );
                }
            }
            Fault::QuotaDay { .. } => {
                let until_wall = pacific::next_midnight(wall);
                let until = now
                    + (until_wall - wall)
                        .to_std()
                        .unwrap_or(Duration::from_secs(86_400));
                tracing::warn!(key = %key.fingerprint(), group = %self.group_name(key.group), model, until = %until_wall, "daily quota exhausted: group parked until Pacific midnight");
                for k in group_members {
                    self.set_slot(
                        &mut st,
                        k,
                        Slot::Parked {
                            until,
                            until_wall,
                            limit,
                        },
                    );
                }
            }
            Fault::ServerError { .. } | Fault::Connect { .. } => {
                let until = now + self.cfg.server_error_cooldown;
                tracing::info!(key = %key.fingerprint(), model, kind = fault.kind(), "upstream failure: key cooling down");
                self.set_slot(
                    &mut st,
                    idx,
                    Slot::Waiting {
                        until,
                        reason: fault.kind(),
                        limit: None,
                    },
                );
            }
            Fault::Timeout => {
                let until = now + self.cfg.timeout_cooldown;
                tracing::info!(key = %key.fingerprint(), model, "upstream timeout: key cooling down");
                self.set_slot(
                    &mut st,
                    idx,
                    Slot::Waiting {
                        until,
                        reason: "timeout",
                        limit: None,
                    },
                );
            }
            Fault::KeyInvalid { .. } | Fault::Client { .. } => {}
        }
    }

    /// Mark key `idx` invalid for `reason` and take it out of every model's queues.
    fn take_out(&self, idx: usize, reason: String) {
        if let Some(key) = self.keys.get(idx) {
            *lock(&key.invalid) = Some((SystemTime::now(), reason));
        }
        let models: Vec<Arc<Mutex<ModelState>>> = read(&self.models).values().cloned().collect();
        for m in models {
            let mut st = lock(&m);
            st.keys[idx].gen = st.keys[idx].gen.wrapping_add(1);
            st.keys[idx].slot = Slot::Out;
        }
    }

    /// Disable a key by an administrator's decision (`true`) or enable it again (`false`): held keys
    /// are out of every queue, reported invalid with that reason, and not brought back by a check.
    pub fn set_held(&self, id: KeyId, held: bool, now: Instant) {
        let idx = id.index();
        let Some(key) = self.keys.get(idx) else {
            return;
        };
        if key.held.swap(held, Ordering::Relaxed) == held {
            return;
        }
        if held {
            tracing::warn!(key = %key.fingerprint(), "upstream key disabled by an administrator");
            self.take_out(idx, HELD_REASON.to_string());
        } else {
            tracing::info!(key = %key.fingerprint(), "upstream key enabled by an administrator");
            self.restore(id, now);
        }
    }

    /// Mark a disabled key usable again (re-validation).
    pub fn restore(&self, id: KeyId, now: Instant) {
        let idx = id.index();
        let Some(key) = self.keys.get(idx) else {
            return;
        };
        {
            let mut g = lock(&key.invalid);
            if key.held.load(Ordering::Relaxed) || g.take().is_none() {
                return;
            }
        }
        tracing::info!(key = %key.fingerprint(), "upstream key restored");
        let models: Vec<(String, Arc<Mutex<ModelState>>)> = read(&self.models)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let sec = self.sec(now);
        for (model, m) in models {
            {
                let mut st = lock(&m);
                st.keys[idx].slot = Slot::Ready;
                self.push_ready(&mut st, &model, idx, sec);
            }
        }
    }
}
