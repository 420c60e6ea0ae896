//! Key health over time: a concurrent startup check of every key, and periodic re-validation of
//! disabled keys. A key is only ever disabled by Google's own answer, never by a timeout or a
//! network error.

use crate::state::AppState;
use crate::upstream::{Fault, KeyId};
use std::sync::Arc;

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Valid,
    Invalid(Fault),
    /// Timeout, network error, 429, 5xx: says nothing about the key.
    Unknown(String),
}

/// `GET models?pageSize=1` with the key.
pub async fn check_key(state: &AppState, idx: KeyId) -> Check {
    let Some(key) = state.pool.get(idx) else {
        return Check::Unknown("no such key".into());
    };
    let timeout = state.config.key_health.check_timeout;
    let call = state.upstream.get(
        &crate::model::Resource::ListModels,
        Some("pageSize=1"),
        key.header_value(),
        1024 * 1024,
    );
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Check::Unknown("timeout".into()),
        Ok(Err(e)) => Check::Unknown(e.etype().as_str().to_string()),
        Ok(Ok((200, _))) => Check::Valid,
        Ok(Ok((status, body))) => match state.retry.classify(status, &body) {
            Some(f @ Fault::KeyInvalid { .. }) => Check::Invalid(f),
            _ => Check::Unknown(format!("status {status}")),
        },
    }
}

/// What a round of checks found.
#[derive(Debug, Default)]
pub struct Checked {
    pub valid: usize,
    pub invalid: usize,
    /// Keys the check could say nothing about (timeout, network, 429, 5xx).
    pub inconclusive: Vec<KeyId>,
}

/// Check `keys` concurrently (bounded); disable the invalid ones, restore the valid ones.
pub async fn check_all(state: &Arc<AppState>, keys: Vec<KeyId>) -> Checked {
    let sem = Arc::new(tokio::sync::Semaphore::new(
        state.config.key_health.concurrency,
    ));
    let mut set = tokio::task::JoinSet::new();
    for idx in keys {
        let state = state.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (idx, check_key(&state, idx).await)
        });
    }
    let mut out = Checked::default();
    while let Some(r) = set.join_next().await {
        let Ok((idx, check)) = r else { continue };
        let now = state.clock.now();
        match check {
            Check::Valid => {
                out.valid += 1;
                state.pool.restore(idx, now);
            }
            Check::Invalid(f) => {
                out.invalid += 1;
                state
                    .pool
                    .report_fault(idx, "", &f, now, state.clock.now_utc());
            }
            Check::Unknown(why) => {
                out.inconclusive.push(idx);
                if let Some(k) = state.pool.get(idx) {
                    tracing::debug!(key = %k.fingerprint(), why = %why, "key check inconclusive; key kept");
                }
            }
        }
    }
    out
}

/// Keys currently disabled.
pub fn disabled(state: &AppState) -> Vec<KeyId> {
    state
        .pool
        .entries()
        .filter(|(_, k)| k.invalid().is_some())
        .map(|(i, _)| i)
        .collect()
}
